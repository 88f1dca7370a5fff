package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// bin is the stackctl binary built for this test run.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stackctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "stackctl")
	build := exec.Command("go", "build", "-o", bin, "../cmd/stackctl")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building stackctl:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// dockerAPI returns a client of the real engine, or skips (fails under STACKCTL_E2E=1)
// when none answers.
func dockerAPI(t testing.TB) client.APIClient {
	t.Helper()
	c, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = c.Ping(ctx, client.PingOptions{})
	}
	if err != nil {
		if os.Getenv("STACKCTL_E2E") == "1" {
			t.Fatalf("STACKCTL_E2E=1 but no Docker engine answers: %v", err)
		}
		t.Skipf("no Docker engine answers (%v); set STACKCTL_E2E=1 to make this a failure", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// result is one stackctl run.
type result struct {
	code           int
	stdout, stderr string
}

// stackctl runs the binary in the project root (the site it finds from its
// working directory) with extra environment and returns its result.
func stackctl(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return stackctlIn(t, "..", env, args...)
}

// stackctlIn is stackctl run in the working directory dir.
func stackctlIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running stackctl %v: %v", args, err)
	}
	t.Logf("stackctl %s: exit %d (%s)", strings.Join(args, " "), code, time.Since(start).Round(100*time.Millisecond))
	return result{code, out.String(), errb.String()}
}

// mustRun runs stackctl and fails the test unless it exits 0.
func mustRun(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return mustRunIn(t, "..", env, args...)
}

// mustRunIn runs stackctl in dir and fails the test unless it exits 0.
func mustRunIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	r := stackctlIn(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("stackctl %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sortedIDs is a set of IDs as one comparable string.
func sortedIDs(ids []string) string {
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// freshStack removes what a run before left of the stack, and removes the stack
// again when the test ends, with its logs when the test failed.
func freshStack(t *testing.T, env []string, name string) {
	t.Helper()
	stackctl(t, env, "down", name, "--volumes")
	t.Cleanup(func() {
		if t.Failed() {
			r := stackctl(t, env, "logs", name, "--tail", "80")
			t.Logf("logs of the stack:\n%s", r.stdout)
		}
		stackctl(t, env, "down", name, "--volumes")
	})
}
