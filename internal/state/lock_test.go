package state

import (
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
// with errs.Busy, and gets the lock as soon as the first lets go.
func TestLockExcludes(t *testing.T) {
	d := Dir(t.TempDir())
	ctx := context.Background()
	release, err := d.Lock(ctx, "redmine", LockOptions{Purpose: "up redmine"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lock(ctx, "redmine", LockOptions{Purpose: "down redmine", NoWait: true}); !errors.Is(err, errs.Busy) || !strings.Contains(err.Error(), "up redmine") {
		t.Fatalf("second lock with NoWait: %v, want errs.Busy naming the holder", err)
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
	// flock(1) holds the lock in another process, as a killed stackctl would have.
	cmd := exec.Command("flock", "-o", dir+"/redmine/lock", "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("no flock(1): %v", err)
	}
	d := Dir(dir)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := d.Lock(context.Background(), "redmine", LockOptions{NoWait: true})
		if errors.Is(err, errs.Busy) {
			break
		}
		if err == nil {
			r()
		}
		if time.Now().After(deadline) {
			t.Fatal("flock(1) never took the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	r, err := d.Lock(context.Background(), "redmine", LockOptions{NoWait: true})
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	r()
}
