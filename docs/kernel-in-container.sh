#!/usr/bin/env bash
# Re-runs, in order, every command docs/kernel-in-container.md shows, and prints each
# command before its output. Builds the kernel with 'stackctl kernel build' (minutes the
# first time, seconds once the engine has the layers), boots it under qemu, and shows
# what a container can and cannot do with it. Needs Docker, Go and qemu-system-x86_64
# (scripts/bootstrap installs it). Run from the project root.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/stackctl-kernel.XXXXXX)
trap 'rm -rf "$out"' EXIT
# run CMD: print the command exactly as it runs, then run it.
run() { printf '\n$ %s\n' "$1"; eval "$1"; }
go build -o "$out/stackctl" ./cmd/stackctl
export PATH="$out:$PATH"

echo "## 1. Build the kernel in a container"
run 'stackctl kernel build --profile debian --out "$out" 2>&1 | grep -E "^(kernel|Step|Successfully)"'
run 'ls -l "$out/bzImage" | cut -d" " -f5-'
run 'file -b "$out/bzImage" | cut -c1-100'
run 'docker run --rm stackctl/kernel:debian grep -E "CONFIG_(LOCALVERSION|MODULES|SERIAL_8250_CONSOLE|BLK_DEV_INITRD|INITRAMFS_SOURCE)[ =]" /out/.config'
run 'docker run --rm stackctl/kernel:debian grep -c "=y" /out/.config'

echo "## 2. Boot it, in a machine"
run 'qemu-system-x86_64 -kernel "$out/bzImage" -m 128 -nographic -no-reboot -append "console=ttyS0 panic=-1" | tr -d "\r" | grep -aoE "(Linux version|Run /init|stackctl:|reboot:).*"'

echo "## 3. What the container ran on"
run 'uname -r'
run 'docker run --rm stackctl/kernel:debian uname -r'
run 'docker run --rm stackctl/kernel:debian grep -E "^Cap(Eff|Bnd)" /proc/self/status'
run 'docker run --rm stackctl/kernel:debian sh -c "ls /lib/modules 2>&1; test -w /proc/sys/kernel/modprobe && echo writable || echo /proc/sys is read-only"'
