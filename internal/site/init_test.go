package site

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/settings"
)

func TestInit(t *testing.T) {
	// The modes below hold whatever the umask of whoever runs init.
	defer syscall.Umask(syscall.Umask(0o077))
	dir := filepath.Join(t.TempDir(), "new", "tracker")
	s, err := Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s != (Site{Dir: dir}) {
		t.Errorf("Init = %+v, want the site at %s", s, dir)
	}
	if found, err := Find(filepath.Join(dir, "plugins")); err != nil || found != s {
		t.Errorf("Find from the new site's plugins/ = %+v, %v; want %+v", found, err, s)
	}
	if _, err := s.Settings(); err != nil {
		t.Errorf("the settings file init writes: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, SettingsFile)); string(b) != settings.Template() {
		t.Error("init did not write settings.Template() (internal/settings' golden file shows it)")
	}
	got, err := readTree(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{
		SettingsFile: 0o644, "plugins": fs.ModeDir | 0o755, "plugins/README.md": 0o644,
		"themes": fs.ModeDir | 0o755, "themes/harbor": fs.ModeDir | 0o755, "themes/harbor/stylesheets": fs.ModeDir | 0o755,
		"themes/harbor/stylesheets/application.css": 0o644,
	}
	for p, mode := range want {
		if e, ok := got[p]; !ok || e.mode != mode {
			t.Errorf("%s: mode %v (present %v), want %v", p, e.mode, ok, mode)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("init wrote %s, which it should not (a leftover?)", p)
		}
	}
	// The theme is this repository's, byte for byte.
	repo, err := readTree(filepath.Join(checkoutDir(t), "themes"))
	if err != nil {
		t.Fatal(err)
	}
	themes, err := readTree(s.Themes())
	if err != nil {
		t.Fatal(err)
	}
	if !themes.equal(repo) {
		t.Error("the new site's themes/ differ from this repository's themes/")
	}

	t.Run("refuses an existing site", func(t *testing.T) {
		settings := filepath.Join(dir, SettingsFile)
		if err := os.WriteFile(settings, []byte("version: 1 # the operator's\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Init(dir)
		if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "nothing changed") {
			t.Fatalf("Init over a site: %v; want errs.ErrInvalidInput saying nothing changed", err)
		}
		if b, _ := os.ReadFile(settings); string(b) != "version: 1 # the operator's\n" {
			t.Errorf("Init over a site changed its settings file: %q", b)
		}
	})
	t.Run("refuses a directory with the operator's themes", func(t *testing.T) {
		other := t.TempDir()
		mkdir(t, other, "themes")
		if _, err := Init(other); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "themes") {
			t.Fatalf("Init where themes/ exists: %v; want errs.ErrInvalidInput naming themes", err)
		}
		if _, err := os.Stat(filepath.Join(other, SettingsFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a refused Init wrote %s", SettingsFile)
		}
	})
	t.Run("into an existing directory with other files", func(t *testing.T) {
		other := t.TempDir()
		writeFile(t, filepath.Join(other, "notes.txt"), "mine")
		if _, err := Init(other); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(other)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != "notes.txt plugins stackctl.yaml themes" {
			t.Errorf("after Init: %v", names)
		}
	})
}
