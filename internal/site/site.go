package site

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/stackctl/stackctl/internal/errs"
)

// SettingsFile is a site's settings file; a directory holding it is a site.
const SettingsFile = "stackctl.yaml"

// SchemaVersion is the version of SettingsFile this stackctl writes and reads.
const SchemaVersion = 1

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
		return Site{}, fmt.Errorf("%w: no directory %s: run 'stackctl init %s' to create a site there", errs.NotFound, abs, abs)
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
				"run 'stackctl init DIR' to create one, or pass --dir (env STACKCTL_DIR)", errs.NotFound, abs, SettingsFile)
		}
	}
}

// Open finds the site from start upwards, checks its settings file, and, for a
// site that is not a checkout, writes out what its stacks are built from,
// saying so on log when it did.
func Open(start string, log io.Writer) (Site, error) {
	s, err := Find(start)
	if err != nil {
		return Site{}, err
	}
	if err := s.checkSettings(); err != nil {
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

// settings is SettingsFile as this stackctl reads it. Later keys are added here;
// unknown ones are refused, so that a typo is not silently ignored.
type settings struct {
	Version int `yaml:"version"`
}

// checkSettings reads the site's settings file, when it has one (a checkout
// need not), and refuses one this stackctl cannot read.
func (s Site) checkSettings() error {
	path := filepath.Join(s.Dir, SettingsFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && s.Checkout {
		return nil
	}
	if err != nil {
		return err
	}
	var set settings
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&set); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s: %v", errs.InvalidInput, path, err)
	}
	switch {
	case set.Version == 0:
		return fmt.Errorf("%w: %s: no version: add 'version: %d' (docs/site.md)", errs.InvalidInput, path, SchemaVersion)
	case set.Version > SchemaVersion:
		return fmt.Errorf("%w: %s: version %d is newer than this stackctl reads (%d): install a newer stackctl",
			errs.InvalidInput, path, set.Version, SchemaVersion)
	case set.Version < 0:
		return fmt.Errorf("%w: %s: version %d: want %d", errs.InvalidInput, path, set.Version, SchemaVersion)
	}
	return nil
}
