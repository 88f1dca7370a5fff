package site

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/settings"
)

// checkoutDir is the checkout these tests run in.
func checkoutDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mkdir(t *testing.T, parts ...string) string {
	t.Helper()
	d := filepath.Join(parts...)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFind(t *testing.T) {
	tmp := t.TempDir()
	site := mkdir(t, tmp, "tracker")
	writeFile(t, filepath.Join(site, SettingsFile), "version: 1\n")
	deep := mkdir(t, site, "themes", "harbor", "stylesheets")
	nested := mkdir(t, site, "sub", "inner")
	writeFile(t, filepath.Join(nested, SettingsFile), "version: 1\n")
	fakeCheckout := mkdir(t, tmp, "clone")
	mkdir(t, fakeCheckout, "stacks", "nginx")
	writeFile(t, filepath.Join(fakeCheckout, SettingsFile), "version: 1\n")
	notAFile := mkdir(t, tmp, "odd")
	mkdir(t, notAFile, SettingsFile)
	checkout := checkoutDir(t)

	for _, tc := range []struct {
		name, start string
		want        Site
		err         string
	}{
		{name: "the site itself", start: site, want: Site{Dir: site}},
		{name: "from a subdirectory", start: deep, want: Site{Dir: site}},
		{name: "the nearest site wins", start: filepath.Join(nested), want: Site{Dir: nested}},
		{name: "the checkout", start: checkout, want: Site{Dir: checkout, Checkout: true}},
		{name: "inside the checkout", start: filepath.Join(checkout, "internal", "site"), want: Site{Dir: checkout, Checkout: true}},
		{name: "a checkout with a settings file is a checkout", start: fakeCheckout, want: Site{Dir: fakeCheckout, Checkout: true}},
		{name: "relative", start: ".", want: Site{Dir: checkout, Checkout: true}},
		{name: "nothing found", start: tmp, err: "no stackctl site in " + tmp + " or any directory above it"},
		{name: "a directory named like the settings file", start: notAFile, err: "no stackctl site in " + notAFile},
		{name: "no such directory", start: filepath.Join(tmp, "missing"), err: "no directory " + filepath.Join(tmp, "missing")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Find(tc.start)
			if tc.err != "" {
				if !errors.Is(err, errs.ErrNotFound) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "stackctl init") {
					t.Fatalf("Find(%s) = %+v, %v; want errs.ErrNotFound saying %q and how to create a site", tc.start, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Find(%s) = %+v, %v; want %+v", tc.start, got, err, tc.want)
			}
		})
	}
}

// TestSettings: a site's settings file is read through internal/settings
// (which tests every key); a checkout without one has the defaults.
func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name, content, err string
	}{
		{name: "as init writes it", content: settings.Template()},
		{name: "no version", content: "# nothing\n", err: SettingsFile + ": no version"},
		{name: "newer", content: "version: 2\n", err: SettingsFile + ":1: version: version 2 is newer than this stackctl reads"},
		{name: "unknown key", content: "version: 1\nlisen: 1.2.3.4:80\n", err: SettingsFile + ":2: lisen: unknown key: did you mean listen?"},
		{name: "not YAML", content: "version: [\n", err: SettingsFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, SettingsFile), tc.content)
			_, err := Site{Dir: dir}.Settings()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Settings: %v; want errs.ErrInvalidInput saying %q", err, tc.err)
			}
		})
	}
	dir := t.TempDir()
	if got, err := (Site{Dir: dir, Checkout: true}).Settings(); err != nil || !reflect.DeepEqual(got, settings.Default()) {
		t.Errorf("a checkout without a settings file: %+v, %v; want the defaults", got, err)
	}
	if _, err := (Site{Dir: dir}).Settings(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a site without its settings file: %v; want it not found", err)
	}
}
