package site

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
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
				if !errors.Is(err, errs.NotFound) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "stackctl init") {
					t.Fatalf("Find(%s) = %+v, %v; want errs.NotFound saying %q and how to create a site", tc.start, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Find(%s) = %+v, %v; want %+v", tc.start, got, err, tc.want)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		name, content, err string
	}{
		{name: "as init writes it", content: settingsTemplate},
		{name: "no version", content: "# nothing\n", err: "no version"},
		{name: "newer", content: "version: 2\n", err: "newer than this stackctl reads"},
		{name: "unknown key", content: "version: 1\nlisten: 1.2.3.4:80\n", err: "field listen not found"},
		{name: "not YAML", content: "version: [\n", err: SettingsFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, SettingsFile), tc.content)
			err := Site{Dir: dir}.checkSettings()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errs.InvalidInput) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("checkSettings: %v; want errs.InvalidInput saying %q", err, tc.err)
			}
		})
	}
	if err := (Site{Dir: checkoutDir(t), Checkout: true}).checkSettings(); err != nil {
		t.Errorf("a checkout without a settings file: %v", err)
	}
}
