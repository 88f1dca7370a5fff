package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/report"
)

// runAsMain executes the command tree as main does, the failure reported
// through the command's reporter.
func runAsMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd, g := newRoot()
	cmd.SetArgs(append([]string{"--state-dir", t.TempDir()}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	code = exitCode(err, false)
	if err != nil {
		g.reporter().Fail(err, code)
	}
	return code, out.String(), errb.String()
}

// With --json, everything on stderr is a JSON event, the failure last with
// its exit code; stdout, which carries only results, has nothing.
func TestJSONReport(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	// --root, --dir's old name, gives a warning: an event too.
	code, stdout, stderr := runAsMain(t, "up", "nginx", "--json", "--root", "../..")
	if code != exitUnavailable {
		t.Fatalf("exit %d, want %d: %s", code, exitUnavailable, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout %q: a failed command has no result", stdout)
	}
	var events []report.Event
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		var e report.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("stderr line %q is not a JSON event: %v", line, err)
		}
		if e.Command != "up" || e.Time.IsZero() {
			t.Errorf("event %+v: want the command and the time", e)
		}
		events = append(events, e)
	}
	last := events[len(events)-1]
	if last.Level != report.Error || last.Exit != exitUnavailable || !strings.Contains(last.Msg, "cannot reach the Docker engine") {
		t.Errorf("last event %+v: want the failure, exit %d", last, exitUnavailable)
	}
	if events[0].Level != report.Warn || !strings.Contains(events[0].Msg, "--root is now called --dir") {
		t.Errorf("first event %+v: want the deprecation warning", events[0])
	}
}

// Without --json, the failure is the one line it always was.
func TestTextReport(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	code, _, stderr := runAsMain(t, "up", "nginx", "--dir", "../..")
	if code != exitUnavailable || !strings.HasPrefix(stderr, "stackctl: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit %d, stderr %q: want one line 'stackctl: …'", code, stderr)
	}
}
