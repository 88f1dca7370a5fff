package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSiteDiscovery: every command finds the site as git finds a repository,
// from --dir, STACKCTL_DIR or their old names; a checkout is built from its own
// stacks/, any other site from the tree written under .stackctl/build.
// 'config' shows which: the nginx build context is under the tree it loads.
func TestSiteDiscovery(t *testing.T) {
	for _, v := range []string{"STACKCTL_DIR", "STACKCTL_ROOT", "STACKCTL_PROFILE", "STACKCTL_BASE"} {
		t.Setenv(v, "")
	}
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	checkout, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	sites := t.TempDir()
	tracker := filepath.Join(sites, "tracker")
	if code, stdout, stderr := run(t, "init", tracker); code != exitOK || strings.TrimSpace(stdout) != tracker {
		t.Fatalf("init %s: exit %d, stdout %q, stderr %s", tracker, code, stdout, stderr)
	}
	built := filepath.Join(tracker, ".stackctl", "build", "stacks", "nginx")
	elsewhere := t.TempDir()
	const renamedDir, renamedEnv = "--root is now called --dir", "STACKCTL_ROOT is now called STACKCTL_DIR"

	for _, tc := range []struct {
		name   string
		wd     string
		env    map[string]string
		args   []string
		code   int
		want   string // in stdout, or in stderr when code is not 0
		stderr string // in stderr too
	}{
		{name: "from a subdirectory", wd: filepath.Join(tracker, "themes", "harbor"), code: exitOK, want: built},
		{name: "--dir", wd: elsewhere, args: []string{"--dir", tracker}, code: exitOK, want: built},
		{name: "--dir below the site", wd: elsewhere, args: []string{"--dir", filepath.Join(tracker, "plugins")}, code: exitOK, want: built},
		{name: "STACKCTL_DIR", wd: elsewhere, env: map[string]string{"STACKCTL_DIR": tracker}, code: exitOK, want: built},
		{name: "--root, its old name", wd: elsewhere, args: []string{"--root", tracker}, code: exitOK, want: built, stderr: renamedDir},
		{name: "STACKCTL_ROOT, its old name", wd: elsewhere, env: map[string]string{"STACKCTL_ROOT": tracker}, code: exitOK, want: built, stderr: renamedEnv},
		{name: "--dir over STACKCTL_ROOT", wd: elsewhere, env: map[string]string{"STACKCTL_ROOT": checkout},
			args: []string{"--dir", tracker}, code: exitOK, want: built},
		{name: "the checkout", wd: filepath.Join(checkout, "internal"), code: exitOK, want: filepath.Join(checkout, "stacks", "nginx")},
		{name: "nothing found", wd: elsewhere, code: exitNotFound,
			want: "no stackctl site in " + elsewhere + " or any directory above it", stderr: "run 'stackctl init DIR' to create one, or pass --dir"},
		{name: "no such --dir", wd: elsewhere, args: []string{"--dir", filepath.Join(elsewhere, "nope")}, code: exitNotFound, want: "stackctl init"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(tc.wd)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := run(t, append(tc.args, "config", "nginx", "--profile", "debian")...)
			out := stdout
			if tc.code != exitOK {
				out = stderr
			}
			if code != tc.code || !strings.Contains(out, tc.want) || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d with %q (and %q on stderr)\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.want, tc.stderr, stdout, stderr)
			}
			if tc.stderr == "" && (strings.Contains(stderr, renamedDir) || strings.Contains(stderr, renamedEnv)) {
				t.Errorf("a deprecation line without the old name in use:\n%s", stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(checkout, ".stackctl")); err == nil {
		t.Error("the checkout got a .stackctl/: it must be built from its own stacks/")
	}
}

// TestSiteInstance: the site's instance setting names its stacks' instance
// and their state directory, --instance and STACKCTL_INSTANCE win over it,
// and a settings file whose instance cannot be read stops a command that
// acts on a stack (it could be another site's) but not validate, which
// reports it.
func TestSiteInstance(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	dir := newSite(t, "version: 1\ninstance: team2\n")
	for _, tc := range []struct {
		flags []string
		env   *string
		want  string
	}{
		{want: "team2"},
		{flags: []string{"--instance", "other"}, want: "other"},
		{env: ptr("fromenv"), want: "fromenv"},
		// Given empty: the stack of no instance, over the site's.
		{flags: []string{"--instance="}, want: ""},
		{env: ptr(""), want: ""},
	} {
		t.Setenv("STACKCTL_INSTANCE", "")
		if tc.env == nil {
			os.Unsetenv("STACKCTL_INSTANCE")
		} else {
			os.Setenv("STACKCTL_INSTANCE", *tc.env)
		}
		state := t.TempDir()
		cmd, g := newRoot()
		cmd.SetArgs(append(append([]string{"--dir", dir, "--state-dir", state}, tc.flags...), "generations", "redmine"))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		_ = cmd.ExecuteContext(t.Context())
		want := filepath.Join(state, "instances", tc.want)
		if tc.want == "" {
			want = state
		}
		if g.instance != tc.want || g.stateDir != want {
			env := "unset"
			if tc.env != nil {
				env = fmt.Sprintf("%q", *tc.env)
			}
			t.Errorf("flags %q, STACKCTL_INSTANCE %s: instance %q, state %s; want %q under %s", tc.flags, env, g.instance, g.stateDir, tc.want, state)
		}
	}
	os.Unsetenv("STACKCTL_INSTANCE")
	bad := newSite(t, "version: 1\ninstance: Team2\n")
	for _, args := range [][]string{{"down", "redmine"}, {"ps", "redmine"}, {"backups", "redmine"}} {
		code, _, stderr := run(t, append([]string{"--dir", bad}, args...)...)
		if code != exitInvalid || !strings.Contains(stderr, `stackctl.yaml:2: instance: "Team2" cannot name an instance`) {
			t.Errorf("%v with an unreadable instance: exit %d, want %d naming the line:\n%s", args, code, exitInvalid, stderr)
		}
	}
	for _, args := range [][]string{{"help"}, {"init", "--help"}, {"completion", "bash"}} {
		if code, _, stderr := run(t, append([]string{"--dir", bad}, args...)...); code != 0 {
			t.Errorf("%v in a site whose instance cannot be read: exit %d, want 0:\n%s", args, code, stderr)
		}
	}
	code, stdout, stderr := run(t, "--dir", bad, "validate")
	if !strings.Contains(stdout+stderr, `"Team2" cannot name an instance`) || code != exitInvalid {
		t.Errorf("validate of a site whose instance cannot be read: exit %d:\n%s%s", code, stdout, stderr)
	}
}

func ptr[T any](v T) *T { return &v }
