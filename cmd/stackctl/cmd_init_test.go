package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tracker")
	code, stdout, stderr := run(t, "init", dir)
	if code != exitOK || strings.TrimSpace(stdout) != dir || !strings.Contains(stderr, "stackctl up redmine") {
		t.Fatalf("init: exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
	}
	for _, p := range []string{"stackctl.yaml", "themes/harbor/stylesheets/application.css", "plugins/README.md"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Error(err)
		}
	}
	if code, _, stderr := run(t, "init", dir); code != exitInvalid || !strings.Contains(stderr, "nothing changed") {
		t.Errorf("init over a site: exit %d, want %d saying nothing changed: %s", code, exitInvalid, stderr)
	}
	if code, _, stderr := run(t, "init", dir, "other"); code != exitInvalid {
		t.Errorf("init with two directories: exit %d, want %d: %s", code, exitInvalid, stderr)
	}
	t.Chdir(dir)
	for _, args := range [][]string{{"generate", "--check"}, {"reference", "--check"}} {
		if code, _, stderr := run(t, args...); code != exitInvalid || !strings.Contains(stderr, "not one") {
			t.Errorf("%v in a site that is not a checkout: exit %d, want %d: %s", args, code, exitInvalid, stderr)
		}
	}
}
