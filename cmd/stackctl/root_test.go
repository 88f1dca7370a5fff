package main

import (
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
