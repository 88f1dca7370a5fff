#!/usr/bin/env bash
# Where a Redmine start goes: boots Rails from our Redmine image twice, the same
# files and the same command both times, and prints a table; asserts nothing.
#   in a container: the image's root file system through the engine's storage
#         driver (the way every start of the stack reads it)
#   from a host directory: the same image exported to a plain directory on the
#         host and run with chroot, which takes the storage driver out
#   from a host directory, in a container: that directory bind-mounted into a
#         container of the image and run with chroot there: the container (its
#         namespaces, cgroups, seccomp) without the storage driver
# The command is what a start pays before Puma listens, 'require config/environment'
# (gems, Rails, Redmine's initializers, eager loading, asset manifest), and, on its
# own, the 'require "rails/all"' part of it. No database is needed for either.
# Needs root (chroot) and stackctl/redmine:debian ('stackctl up redmine --profile debian').
# Usage: bench/redmine-boot.sh [RUNS]   (default 3; prints every run)
set -euo pipefail
runs=${1:-3}
image=stackctl/redmine:debian
[ "$(id -u)" -eq 0 ] || { echo "bench/redmine-boot.sh: needs root for chroot" >&2; exit 1; }
docker image inspect "$image" >/dev/null 2>&1 || { echo "bench/redmine-boot.sh: $image is not built: stackctl up redmine --profile debian" >&2; exit 1; }
work=$(mktemp -d)
trap 'umount "$work/root/proc" "$work/root/dev" 2>/dev/null || true; rm -rf "$work"' EXIT

# t.sh RUBY_CODE, run as redmine in /usr/src/redmine: no compiled assets, a database.yml
# Rails can load (it never connects here), then the wall time of one ruby process running the code.
cat >"$work/t.sh" <<'EOF2'
set -eu
cd /usr/src/redmine
# a recreated container starts with no compiled assets: so does every run
rm -rf public/assets/*
printf 'production:\n  adapter: postgresql\n  host: 127.0.0.1\n  database: bench\n  username: bench\n' >config/database.yml
export RAILS_ENV=production SECRET_KEY_BASE=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
s=$EPOCHREALTIME
ruby -e "$1" >/dev/null 2>&1 || { echo "ruby failed: $1" >&2; exit 1; }
e=$EPOCHREALTIME
echo "$e $s" | awk '{printf "%.2f\n", $1-$2}'
EOF2
rails_all='require "./config/boot"; require "rails/all"'
environment='require "./config/environment"'

in_container() {
	docker run --rm -u redmine -v "$work/t.sh:/t.sh:ro" --entrypoint bash "$image" /t.sh "$1"
}

cid=$(docker create "$image")
mkdir "$work/root"
docker export "$cid" | tar -x -C "$work/root"
docker rm "$cid" >/dev/null
cp "$work/t.sh" "$work/root/t.sh"
mount -t proc proc "$work/root/proc"
mount --bind /dev "$work/root/dev"
from_host() {
	chroot --userspec=redmine:redmine "$work/root" env -i PATH=/usr/bin:/bin HOME=/home/redmine bash /t.sh "$1"
}

in_container_bind() {
	docker run --rm -v "$work/root:/r" --entrypoint chroot "$image" --userspec=redmine:redmine /r \
		env -i PATH=/usr/bin:/bin HOME=/home/redmine bash /t.sh "$1"
}

printf '%-64s %s\n' "measure (seconds, one per run)" "$(docker info -f 'storage driver: {{.Driver}}')"
for what in rails_all environment; do
	code=${!what}
	a=() b=() c=()
	for _ in $(seq "$runs"); do
		a+=("$(in_container "$code")")
		b+=("$(from_host "$code")")
		c+=("$(in_container_bind "$code")")
	done
	printf '%-64s %s\n' "$what: in a container" "${a[*]}"
	printf '%-64s %s\n' "$what: same files from a host directory" "${b[*]}"
	printf '%-64s %s\n' "$what: same files from a host directory, in a container" "${c[*]}"
done
