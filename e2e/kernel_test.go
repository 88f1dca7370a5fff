package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// kernelMarker is what stacks/kernel/init.c prints once the kernel has booted.
const kernelMarker = "stackctl: hello from Linux "

// TestKernelBuiltInContainer builds a Linux kernel inside a container with
// 'stackctl kernel build', then boots it under qemu with no display and reads
// the init's marker line from the serial console. It takes minutes: it runs in
// CI (STACKCTL_E2E=1) and locally with STACKCTL_KERNEL=1.
func TestKernelBuiltInContainer(t *testing.T) {
	if os.Getenv("STACKCTL_E2E") != "1" && os.Getenv("STACKCTL_KERNEL") != "1" {
		t.Skip("builds a kernel (minutes): set STACKCTL_KERNEL=1 to run it; CI runs it (STACKCTL_E2E=1)")
	}
	shares(t)
	dockerAPI(t)
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal("qemu-system-x86_64 is not installed: run scripts/bootstrap")
	}
	out := t.TempDir()
	env := []string{"STACKCTL_DIR=" + copyProject(t)}
	start := time.Now()
	r := mustRun(t, env, "kernel", "build", "--profile", "debian", "--out", out)
	t.Logf("kernel built in %s", time.Since(start).Round(time.Second))
	kernel := strings.TrimSpace(r.stdout)
	if kernel != filepath.Join(out, "bzImage") {
		t.Fatalf("kernel build printed %q, want %s", kernel, filepath.Join(out, "bzImage"))
	}
	fi, err := os.Stat(kernel)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bzImage: %d bytes", fi.Size())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Software emulation (TCG): a tiny kernel boots in a second or two that way, and
	// on these machines /dev/kvm opens but a KVM guest hangs at "Booting from ROM".
	cmd := exec.CommandContext(ctx, qemu, "-kernel", kernel, "-m", "128", "-nographic", "-no-reboot",
		"-append", "console=ttyS0 panic=-1")
	var console bytes.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	booted := time.Now()
	err = cmd.Run()
	t.Logf("qemu ran %s: %v", time.Since(booted).Round(100*time.Millisecond), err)
	line := ""
	for _, l := range strings.Split(console.String(), "\n") {
		if strings.Contains(l, kernelMarker) {
			line = strings.TrimSpace(l)
		}
	}
	if line == "" {
		t.Fatalf("no %q on the serial console:\n%s", kernelMarker, errs.LastLines(console.String(), 40))
	}
	t.Logf("serial console: %s", line)
	if ctx.Err() != nil {
		t.Fatalf("qemu did not exit after the init rebooted:\n%s", errs.LastLines(console.String(), 20))
	}
}
