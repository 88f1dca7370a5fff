package state

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// TestLockExcludes: a second holder waits (saying for whom) or fails at once
// with errs.ErrBusy, and gets the lock as soon as the first lets go.
func TestLockExcludes(t *testing.T) {
	d := Dir(t.TempDir())
	ctx := context.Background()
	release, err := d.Lock(ctx, "redmine", LockOptions{Purpose: "up redmine"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lock(ctx, "redmine", LockOptions{Purpose: "down redmine", NoWait: true}); !errors.Is(err, errs.ErrBusy) || !strings.Contains(err.Error(), "up redmine") {
		t.Fatalf("second lock with NoWait: %v, want errs.ErrBusy naming the holder", err)
	}
	if r, err := d.Lock(ctx, "nginx", LockOptions{NoWait: true}); err != nil {
		t.Fatalf("another stack's lock: %v", err)
	} else {
		r()
	}
	got := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		r, err := d.Lock(ctx, "redmine", LockOptions{Purpose: "down redmine", Waiting: func(h string) { got <- h }})
		if err == nil {
			r()
		}
		done <- err
	}()
	select {
	case h := <-got:
		if !strings.HasPrefix(h, "up redmine (pid ") {
			t.Errorf("waiting for %q, want the holder's purpose and pid", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second Lock neither waited nor said so")
	}
	select {
	case err := <-done:
		t.Fatalf("the second Lock returned (%v) while the first held it", err)
	case <-time.After(3 * lockPoll):
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("the second Lock after release: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	release, _ = d.Lock(ctx, "redmine", LockOptions{})
	defer release()
	cancel()
	if _, err := d.Lock(cctx, "redmine", LockOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a waiting Lock interrupted: %v, want context.Canceled", err)
	}
}

// TestLockDiesWithHolder: a holder killed with SIGKILL releases the lock.
func TestLockDiesWithHolder(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/redmine", 0o700); err != nil {
		t.Fatal(err)
	}
	// The lock file as stackctl makes it: flock(1) would create it open to
	// others, which Lock refuses (this test's old flake: whoever came first).
	if err := os.WriteFile(dir+"/redmine/lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// flock(1) holds the lock in another process, as a killed stackctl would
	// have; it says so once it holds it (its command runs only then).
	cmd := exec.Command("flock", "-o", dir+"/redmine/lock", "sh", "-c", "echo locked; exec sleep 60")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("no flock(1): %v", err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("flock(1) said %q, %v", line, err)
	}
	d := Dir(dir)
	if _, err := d.Lock(context.Background(), "redmine", LockOptions{NoWait: true}); !errors.Is(err, errs.ErrBusy) {
		t.Fatalf("while flock(1) holds the lock: %v, want busy", err)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// flock(1) forks its command and closes the lock's descriptor in the child
	// just before exec: killed in that moment, the child holds the lock until
	// it gets there. So the lock must be free soon, not at once.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := d.Lock(context.Background(), "redmine", LockOptions{NoWait: true})
		if err == nil {
			r()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the holder was killed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
