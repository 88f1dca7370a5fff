package site

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/settings"
)

// SettingsFile is a site's settings file; a directory holding it is a site.
const SettingsFile = settings.FileName

// Site is an operator's directory stackctl runs from.
type Site struct {
	// Dir is the site's directory, absolute.
	Dir string
	// Checkout says Dir is a checkout of stackctl's repository: its own
	// stacks/ are built as they are, so that developers edit and rebuild them.
	Checkout bool
}

// Themes is the site's themes/: the themes baked into its Redmine image.
func (s Site) Themes() string { return filepath.Join(s.Dir, "themes") }

// Root is the directory the stacks are built from, laid out as a checkout is
// (stacks/, themes/, .dockerignore), which the compose files' build contexts
// expect: the checkout itself, or the tree Materialize writes.
func (s Site) Root() string {
	if s.Checkout {
		return s.Dir
	}
	return filepath.Join(s.Dir, generatedDir, buildDir)
}

// Find walks up from start to the nearest site: a directory holding
// SettingsFile, or a checkout of stackctl's repository (one holding
// stacks/nginx). start itself must exist.
func Find(start string) (Site, error) {
	abs, err := filepath.Abs(start)
	if err != nil {
		return Site{}, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return Site{}, fmt.Errorf("%w: no directory %s: run 'stackctl init %s' to create a site there", errs.ErrNotFound, abs, abs)
	}
	for d := abs; ; d = filepath.Dir(d) {
		// A checkout first: one with a settings file is still built from its own stacks/.
		if fi, err := os.Stat(filepath.Join(d, "stacks", "nginx")); err == nil && fi.IsDir() {
			return Site{Dir: d, Checkout: true}, nil
		}
		if fi, err := os.Stat(filepath.Join(d, SettingsFile)); err == nil && fi.Mode().IsRegular() {
			return Site{Dir: d}, nil
		}
		if filepath.Dir(d) == d {
			return Site{}, fmt.Errorf("%w: no stackctl site in %s or any directory above it "+
				"(looked for %s, and for stacks/nginx of a stackctl checkout): "+
				"run 'stackctl init DIR' to create one, or pass --dir (env STACKCTL_DIR)", errs.ErrNotFound, abs, SettingsFile)
		}
	}
}

// Open finds the site from start upwards and, for a site that is not a
// checkout, writes out what its stacks are built from, saying so on log when
// it did. Its settings file is read by Settings: validate reports its
// problems as findings, and commands that run a stack refuse them.
func Open(start string, log io.Writer) (Site, error) {
	s, err := Find(start)
	if err != nil {
		return Site{}, err
	}
	if s.Checkout {
		return s, nil
	}
	written, err := s.Materialize()
	if err != nil {
		return Site{}, err
	}
	if written {
		fmt.Fprintf(log, "site %s: wrote %s from this stackctl's stacks and the site's themes/\n", s.Dir, s.Root())
	}
	return s, nil
}

// Settings reads the site's settings file (see internal/settings), which a
// checkout need not have: it then has every default.
func (s Site) Settings() (settings.Loaded, error) {
	path := filepath.Join(s.Dir, SettingsFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && s.Checkout {
		return settings.Default(), nil
	}
	return settings.Load(path)
}
