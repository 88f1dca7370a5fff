package site

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl"
)

// TestMaterializeDrift: the tree a site is built from is this checkout's, file
// for file (stacks/, themes/, .dockerignore), so that a site builds exactly the
// images the checkout builds. A file the embed leaves out (a dot file under
// stacks/, say) or an executable bit, which the embed drops, fails it; other
// mode bits follow the umask of whoever checked the repository out.
func TestMaterializeDrift(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o077))
	s, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Materialize(); err != nil {
		t.Fatal(err)
	}
	got, err := readTree(s.Root())
	if err != nil {
		t.Fatal(err)
	}
	checkout := checkoutDir(t)
	want := tree{}
	for _, dir := range []string{"stacks", "themes"} {
		sub, err := readTree(filepath.Join(checkout, dir))
		if err != nil {
			t.Fatal(err)
		}
		want[dir] = entry{mode: os.ModeDir | dirMode}
		for p, e := range sub {
			want[dir+"/"+p] = e
		}
	}
	ignore, err := readTree(checkout)
	if err != nil {
		t.Fatal(err)
	}
	want[".dockerignore"] = ignore[".dockerignore"]
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%s is in the checkout but not in a site's build tree (left out of the embed in files.go?)", p)
		case g.mode.Type() != want[p].mode.Type() || g.mode&0o111 != want[p].mode&0o111:
			t.Errorf("%s: mode %v in a site's build tree, %v in the checkout", p, g.mode, want[p].mode)
		case string(g.data) != string(want[p].data):
			t.Errorf("%s differs between a site's build tree and the checkout: rebuild stackctl", p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s is in a site's build tree but not in the checkout", p)
		}
	}
}

// TestMaterializeOnlyWhenChanged: a second run writes nothing; a changed theme,
// a changed mode, a hand-edited or removed file each get the tree rewritten.
func TestMaterializeOnlyWhenChanged(t *testing.T) {
	s, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := s.Root()
	materialize := func(want bool) {
		t.Helper()
		wrote, err := s.Materialize()
		if err != nil {
			t.Fatal(err)
		}
		if wrote != want {
			t.Fatalf("Materialize wrote = %v, want %v", wrote, want)
		}
		if _, err := os.Stat(filepath.Join(root, "stacks", "redmine", "compose.yaml")); err != nil {
			t.Fatal(err)
		}
		leftovers, _ := filepath.Glob(filepath.Join(s.Dir, generatedDir, buildDir+".*"))
		if len(leftovers) > 0 {
			t.Fatalf("Materialize left %v", leftovers)
		}
	}
	materialize(true)
	compose := filepath.Join(root, "stacks", "redmine", "compose.yaml")
	before, err := os.Stat(compose)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.Stat(filepath.Join(s.Dir, generatedDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a rewrite would show in the modification time
	materialize(false)
	after, _ := os.Stat(compose)
	readme2, _ := os.Stat(filepath.Join(s.Dir, generatedDir, "README.md"))
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) || !readme2.ModTime().Equal(readme.ModTime()) {
		t.Fatal("a second Materialize with nothing changed rewrote files")
	}

	embedded, err := stackctl.Files.ReadFile("stacks/redmine/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	css := filepath.Join(s.Themes(), "harbor", "stylesheets", "application.css")
	for _, change := range []struct {
		name string
		do   func() error
		want func() bool
	}{
		{"a theme file changed", func() error { return appendFile(css, "/* changed */\n") },
			func() bool {
				return sameFile(t, css, filepath.Join(root, "themes", "harbor", "stylesheets", "application.css"))
			}},
		{"a theme added", func() error {
			return os.MkdirAll(filepath.Join(s.Themes(), "lighthouse", "stylesheets"), 0o755)
		}, func() bool {
			_, err := os.Stat(filepath.Join(root, "themes", "lighthouse", "stylesheets"))
			return err == nil
		}},
		{"a theme file's mode", func() error { return os.Chmod(css, 0o600) },
			func() bool {
				fi, err := os.Stat(filepath.Join(root, "themes", "harbor", "stylesheets", "application.css"))
				return err == nil && fi.Mode().Perm() == 0o600
			}},
		{"a generated file edited", func() error { return appendFile(compose, "# edited\n") },
			func() bool { b, _ := os.ReadFile(compose); return string(b) == string(embedded) }},
		{"a generated file removed", func() error { return os.Remove(compose) },
			func() bool { _, err := os.Stat(compose); return err == nil }},
		{"the whole tree removed", func() error { return os.RemoveAll(root) },
			func() bool { _, err := os.Stat(compose); return err == nil }},
	} {
		t.Run(change.name, func(t *testing.T) {
			if err := change.do(); err != nil {
				t.Fatal(err)
			}
			materialize(true)
			if !change.want() {
				t.Fatal("the tree does not show the change")
			}
			materialize(false)
		})
	}
}

func appendFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	return err == nil && string(x) == string(y)
}
