package state

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// LockOptions say how Lock behaves when another command holds the stack.
type LockOptions struct {
	// Purpose says what the holder is doing, for whoever waits: "up redmine".
	Purpose string
	// NoWait fails at once with errs.ErrBusy instead of waiting.
	NoWait bool
	// Waiting is called once, with the holder's purpose, when Lock has to wait.
	Waiting func(holder string)
}

// lockPoll is how often a waiting Lock tries again.
const lockPoll = 200 * time.Millisecond

// Lock takes the stack's exclusive lock, which every command that changes the
// stack holds for its whole run, so that two never interleave. The lock is the
// kernel's (flock), so a killed holder releases it by dying. release gives it up.
func (d Dir) Lock(ctx context.Context, stack string, o LockOptions) (release func(), err error) {
	if err := ensureDir(d.StackDir(stack)); err != nil {
		return nil, fmt.Errorf("locking stack %s: %w", stack, err)
	}
	path := filepath.Join(d.StackDir(stack), "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking stack %s: %w", stack, err)
	}
	if fi, err := f.Stat(); err != nil || private(path, fi) != nil {
		f.Close()
		if err == nil {
			err = private(path, fi)
		}
		return nil, fmt.Errorf("locking stack %s: %w", stack, err)
	}
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking stack %s: %w", stack, err)
		}
		holder := readHolder(path)
		if o.NoWait {
			f.Close()
			return nil, fmt.Errorf("%w: stack %s is being changed by another stackctl (%s): try again when it is done", errs.ErrBusy, stack, holder)
		}
		if !waited && o.Waiting != nil {
			o.Waiting(holder)
		}
		waited = true
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
	// Who holds it, for whoever waits next (the lock itself is the flock):
	// written over the old line, then cut to length, so a reader never sees none.
	line := fmt.Sprintf("%s (pid %d, since %s)\n", cmp.Or(o.Purpose, "stackctl"), os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if _, err := f.WriteAt([]byte(line), 0); err == nil {
		_ = f.Truncate(int64(len(line)))
	}
	return func() { f.Close() }, nil
}

func readHolder(path string) string {
	b, err := os.ReadFile(path)
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return s
	}
	return "holder unknown"
}
