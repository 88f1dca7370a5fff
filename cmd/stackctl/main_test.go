package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/state"
)

// run executes the command tree in-process, as main does, and returns the exit
// code with what was printed.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(append([]string{"--state-dir", t.TempDir()}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	if err != nil {
		errb.WriteString(err.Error())
	}
	return exitCode(err, false), out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		code int
		msg  string
	}{
		{name: "unknown stack", args: []string{"up", "wordpress"}, code: exitInvalid, msg: `unknown stack "wordpress"`},
		{name: "no stack", args: []string{"ps"}, code: exitInvalid, msg: "name one stack"},
		{name: "unknown base profile", args: []string{"up", "nginx", "--profile", "alpine"}, code: exitInvalid, msg: "unknown base profile"},
		{name: "unknown base profile, old flag name", args: []string{"up", "nginx", "--base", "alpine"}, code: exitInvalid, msg: "unknown base profile"},
		{name: "unknown base profile from env", env: map[string]string{"STACKCTL_PROFILE": "centos"}, args: []string{"config", "nginx"}, code: exitInvalid, msg: "unknown base profile"},
		{name: "unknown base profile from old env", env: map[string]string{"STACKCTL_BASE": "centos"}, args: []string{"config", "nginx"}, code: exitInvalid, msg: "unknown base profile"},
		{name: "unknown base image", args: []string{"base", "build", "mysql"}, code: exitInvalid, msg: `unknown base "mysql"`},
		{name: "bad flag", args: []string{"up", "nginx", "--colour"}, code: exitInvalid, msg: "unknown flag"},
		{name: "bad listen", env: map[string]string{"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
			args: []string{"up", "nginx", "--listen", "x"}, code: exitInvalid, msg: "want HOST:PORT"},
		{name: "no site", args: []string{"config", "nginx", "--profile", "debian", "--dir", os.TempDir()}, code: exitNotFound, msg: "no stackctl site"},
		{name: "engine unreachable", env: map[string]string{"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
			args: []string{"up", "nginx"}, code: exitUnavailable, msg: "cannot reach the Docker engine"},
		{name: "engine unreachable for base build", env: map[string]string{"DOCKER_HOST": "unix:///nonexistent/docker.sock"},
			args: []string{"base", "build", "nginx"}, code: exitUnavailable, msg: "start it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("stackctl %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.msg)
			}
		})
	}
}

func TestConfigNeedsNoEngine(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	code, stdout, stderr := run(t, "config", "nginx", "--profile", "debian")
	if code != exitOK || !strings.Contains(stdout, "NGINX_BASE: stackctl/base-nginx:trixie") {
		t.Fatalf("config --profile debian: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// TestOldProfileFlag: --base still works, says it is now --profile on stderr,
// and leaves stdout to the result; the environment picks no profile for
// validate or push, which default to "both" and "the recorded one".
func TestOldProfileFlag(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	code, stdout, stderr := run(t, "config", "nginx", "--base", "debian")
	if code != exitOK || !strings.HasPrefix(stdout, "name: stackctl-nginx") || !strings.Contains(stderr, "--base is now called --profile") {
		t.Fatalf("config --base debian: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	t.Setenv("STACKCTL_PROFILE", "debian")
	code, stdout, stderr = run(t, "validate", "-f", "../../stacks/nginx/compose.yaml")
	if code == exitInvalid && strings.Contains(stderr, "not both") {
		t.Fatalf("validate -f with STACKCTL_PROFILE set: exit %d: %s%s", code, stdout, stderr)
	}
}

// TestBusy: a command that changes a stack another command is changing fails
// with exit 5 under --no-wait-lock, before it touches the engine.
func TestBusy(t *testing.T) {
	dir := t.TempDir()
	release, err := state.Dir(dir).Lock(context.Background(), "nginx", state.LockOptions{Purpose: "up nginx"})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	for _, args := range [][]string{{"up", "nginx"}, {"down", "nginx"}, {"backup-volumes", "nginx"}, {"restore-volumes", "--stack", "nginx", "x.tar.zst"}} {
		cmd := newRootCommand()
		var out, errb bytes.Buffer
		cmd.SetArgs(append([]string{"--state-dir", dir, "--no-wait-lock"}, args...))
		cmd.SetOut(&out)
		cmd.SetErr(&errb)
		err := cmd.ExecuteContext(context.Background())
		if code := exitCode(err, false); code != exitBusy || !strings.Contains(fmt.Sprint(err), "up nginx") {
			t.Errorf("stackctl %v while locked: exit %d (%v), want %d naming the holder", args, code, err, exitBusy)
		}
	}
}

// TestNoStateDir: with neither $HOME nor $STACKCTL_STATE_DIR, a command that
// keeps state refuses, naming the variable, instead of using a shared /tmp.
func TestNoStateDir(t *testing.T) {
	for _, v := range []string{"HOME", "STACKCTL_STATE_DIR", "XDG_STATE_HOME"} {
		t.Setenv(v, "")
	}
	cmd := newRootCommand()
	var out, errb bytes.Buffer
	cmd.SetArgs([]string{"up", "nginx"})
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	if code := exitCode(err, false); code != exitInvalid || !strings.Contains(fmt.Sprint(err), "STACKCTL_STATE_DIR") {
		t.Fatalf("up without a state directory: exit %d (%v), want %d naming STACKCTL_STATE_DIR", code, err, exitInvalid)
	}
}

func TestGenerateCheck(t *testing.T) {
	if code, _, stderr := run(t, "generate", "--check"); code != exitOK {
		t.Fatalf("generate --check on the committed tree: exit %d: %s", code, stderr)
	}
	// A copy of the project with a hand-edited compose file must be caught.
	dir := t.TempDir()
	stackDir := filepath.Join(dir, "stacks", "nginx")
	if err := os.MkdirAll(stackDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stackDir, "compose.yaml"), []byte("services: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "generate", "--check", "--dir", dir)
	if code != exitInvalid || !strings.Contains(stderr, "differ from their models") {
		t.Fatalf("generate --check on an edited file: exit %d: %s", code, stderr)
	}
}

// TestExitCodesDocumented keeps the generated exit-code page the same as --help's
// table (TestReferenceUpToDate keeps the page as generated).
func TestExitCodesDocumented(t *testing.T) {
	page, err := os.ReadFile(filepath.Join(committedReference, "exit-codes.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(exitCodeHelp, "\n")[1:] {
		if !strings.Contains(string(page), strings.TrimSpace(line)) {
			t.Errorf("docs/reference/exit-codes.md lacks the exit-code line %q: run 'go run ./cmd/stackctl reference'", strings.TrimSpace(line))
		}
	}
	_, stdout, _ := run(t, "--help")
	if !strings.Contains(stdout, exitCodeHelp) {
		t.Error("--help does not show the exit-code table")
	}
}

func TestValidateExitCodes(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock") // validate never needs the engine
	fixture := "../../internal/validate/testdata/rules/"
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{name: "our stacks", args: []string{"validate"}, code: exitOK},
		{name: "one stack, one profile", args: []string{"validate", "redmine", "--profile", "debian"}, code: exitOK},
		{name: "clean file", args: []string{"validate", "-f", fixture + "ReadOnlyRootfs/pass/compose.yaml"}, code: exitOK},
		{name: "findings", args: []string{"validate", "-f", fixture + "ReadOnlyRootfs/fail/compose.yaml"}, code: exitInvalid,
			out: "compose.yaml:6: error ReadOnlyRootfs: service proxy:"},
		{name: "findings as JSON", args: []string{"validate", "--json", "-f", fixture + "HostAccess/fail/compose.yaml"}, code: exitInvalid,
			out: `"rule": "HostAccess"`},
		{name: "unreadable file", args: []string{"validate", "-f", "/nonexistent/compose.yaml"}, code: exitFailure},
		{name: "unknown stack", args: []string{"validate", "wordpress"}, code: exitInvalid},
		{name: "stack and file", args: []string{"validate", "nginx", "-f", "compose.yaml"}, code: exitInvalid},
		{name: "rules", args: []string{"validate", "--list-rules"}, code: exitOK, out: "ReadOnlyRootfs\tcompose\terror\t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stdout, tc.out) {
				t.Fatalf("stackctl %v: exit %d, want %d; stdout:\n%s\nstderr:\n%s", tc.args, code, tc.code, stdout, stderr)
			}
		})
	}
}

// TestExitCodeOffsite maps the off-site sentinels however deep they are wrapped.
func TestExitCodeOffsite(t *testing.T) {
	for err, want := range map[error]int{
		fmt.Errorf("the backup: %w", fmt.Errorf("s3://bucket/p: %w: access key AKIA…", offsite.ErrAuth)): exitOffsiteAuth,
		fmt.Errorf("the backup: %w", fmt.Errorf("sftp://backup@nas/srv: %w", offsite.ErrHostKey)):        exitOffsiteHostKey,
	} {
		if got := exitCode(err, false); got != want {
			t.Errorf("exitCode(%v) = %d, want %d", err, got, want)
		}
	}
}
