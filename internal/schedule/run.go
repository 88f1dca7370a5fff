package schedule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/internal/report"
)

// TailLines is how many of a run's last output lines a report carries.
const TailLines = 30

// Run is one scheduled run, as 'stackctl schedule run' makes it.
type Run struct {
	// Job is what runs, a backup or an update, as the report names it.
	Job   Kind
	Stack string
	// Argv is the job's command line; Env its environment.
	Argv []string
	Env  []string
	// Output receives the job's stdout and stderr as they come, through
	// one pipe so that their order is kept: for the journal, or cron's syslog.
	Output io.Writer
	// Notify are told when the run fails.
	Notify []Notifier
	// Report receives what the wrapper itself has to say: a report that failed.
	Report *report.Reporter
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Do runs the job and returns its exit code, which the wrapper exits with
// so that the timer sees the failure; a failed run (exit code not 0) is
// reported to every notifier first. An interruption (ctx done) stops the
// job with SIGTERM, as systemd would, and is reported like any failure.
// err is set only when the job could not be started.
func (r Run) Do(ctx context.Context) (exitCode int, err error) {
	if _, err := ParseKind(string(r.Job)); err != nil {
		return 0, err
	}
	tail := &tailWriter{max: TailLines}
	cmd := exec.Command(r.Argv[0], r.Argv[1:]...)
	cmd.Env = r.Env
	// One writer for both: exec then gives the child one pipe for both.
	out := io.MultiWriter(orDiscard(r.Output), tail)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting the %s of stack %s: %w", r.Job, r.Stack, err)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	exitCode = 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		exitCode = exit.ExitCode()
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			exitCode = 128 + int(ws.Signal()) // as a shell reports it
		}
	case err != nil:
		return 0, fmt.Errorf("running the %s of stack %s: %w", r.Job, r.Stack, err)
	}
	if exitCode == 0 {
		return 0, nil
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	host, _ := os.Hostname()
	rep := Report{Stack: r.Stack, Job: r.Job, Host: host, Time: now().UTC().Truncate(time.Second), ExitCode: exitCode, Command: r.Argv, Output: tail.lines()}
	// A report is sent even when the run was interrupted: it has its own time.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	for _, n := range r.Notify {
		if err := n.Notify(rctx, rep); err != nil {
			r.Report.Warnf("reporting the failed %s of stack %s: %v", r.Job, r.Stack, err)
			continue
		}
		r.Report.Warnf("the failed %s of stack %s is reported to %s", r.Job, r.Stack, n)
	}
	return exitCode, nil
}

// tailWriter keeps the last max lines written to it; writes from stdout and
// stderr interleave as they come.
type tailWriter struct {
	mu      sync.Mutex
	max     int
	done    []string
	partial []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		t.done = append(t.done, strings.TrimRight(string(t.partial[:i]), "\r"))
		t.partial = t.partial[i+1:]
	}
	// A progress bar's carriage returns make one endless line: keep its end.
	if len(t.partial) > 4096 {
		t.partial = t.partial[len(t.partial)-4096:]
	}
	if len(t.done) > t.max {
		t.done = t.done[len(t.done)-t.max:]
	}
	return len(p), nil
}

func (t *tailWriter) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.done...)
	if len(t.partial) > 0 {
		out = append(out, string(t.partial))
	}
	if len(out) > t.max {
		out = out[len(out)-t.max:]
	}
	return out
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
