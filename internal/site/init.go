package site

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/stackctl/stackctl"
	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/settings"
)

// pluginsReadme says what plugins/ is for.
const pluginsReadme = `Redmine plugins for this site go here, one folder per plugin as Redmine expects it (plugins/<name>/init.rb).
stackctl does not bake them into the Redmine image yet: until it does, plugins live in the stack's
redmine-plugins volume (docs/redmine-stack.md).
`

// Init creates a site in dir, creating dir when missing: the settings file
// (every setting documented and commented out, see settings.Template),
// themes/ with stackctl's theme, and plugins/. It refuses a dir that holds any
// of the three already, changing nothing.
func Init(dir string) (Site, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Site{}, err
	}
	entries := []string{"themes", "plugins", SettingsFile} // the marker last
	var present []string
	for _, name := range entries {
		if _, err := os.Lstat(filepath.Join(abs, name)); err == nil {
			present = append(present, name)
		}
	}
	if len(present) > 0 {
		return Site{}, fmt.Errorf("%w: %s holds %s already: it is a site, or holds the operator's files; nothing changed: "+
			"use it as it is, or choose another directory", errs.ErrInvalidInput, abs, strings.Join(present, ", "))
	}
	if err := os.MkdirAll(abs, dirMode); err != nil {
		return Site{}, err
	}
	// Made whole beside, then moved in, the marker last: an init that fails
	// while writing leaves nothing that would make the next one refuse.
	tmp, err := os.MkdirTemp(abs, ".stackctl-init-*")
	if err != nil {
		return Site{}, err
	}
	defer os.RemoveAll(tmp)
	themes, err := fs.Sub(stackctl.Files, "themes")
	if err != nil {
		return Site{}, err
	}
	t := tree{
		"plugins":           {mode: fs.ModeDir | dirMode},
		"plugins/README.md": {mode: fileMode, data: []byte(pluginsReadme)},
		SettingsFile:        {mode: fileMode, data: []byte(settings.Template())},
	}
	err = fs.WalkDir(themes, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		key := filepath.ToSlash(filepath.Join("themes", p))
		if d.IsDir() {
			t[key] = entry{mode: fs.ModeDir | dirMode}
			return nil
		}
		b, err := fs.ReadFile(themes, p)
		t[key] = entry{mode: fileMode, data: b}
		return err
	})
	if err != nil {
		return Site{}, err
	}
	if err := t.write(tmp); err != nil {
		return Site{}, fmt.Errorf("writing the site into %s: %w", tmp, err)
	}
	for _, name := range entries {
		if err := atomicfile.Rename(filepath.Join(tmp, name), filepath.Join(abs, name)); err != nil {
			return Site{}, err
		}
	}
	return Site{Dir: abs}, nil
}
