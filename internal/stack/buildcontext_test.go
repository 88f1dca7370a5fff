package stack

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/stackctl/stackctl/internal/catalog"
)

// writeTree writes files (path → content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestContextDigest: the digest follows what the engine would receive: a
// change in a file .dockerignore lets through changes it, one in a file it
// keeps out does not, an exception under an excluded directory is read, and
// the Dockerfile's name, the arguments, a file's executable bit and a link's
// target count.
func TestContextDigest(t *testing.T) {
	base := map[string]string{
		".dockerignore":       "*.log\nnode_modules/\nthemes/\n!themes/ocean\n",
		"Dockerfile":          "FROM scratch\n",
		"app/main.rb":         "puts 1\n",
		"debug.log":           "noise\n",
		"node_modules/x/x.js": "x\n",
		"themes/ocean/a.css":  "body{}\n",
		"themes/desert/a.css": "body{}\n",
	}
	arg := func(s string) *string { return &s }
	digest := func(t *testing.T, edit func(dir string), b types.BuildConfig) string {
		t.Helper()
		dir := t.TempDir()
		writeTree(t, dir, base)
		if edit != nil {
			edit(dir)
		}
		b.Context = dir
		sum, err := contextDigest(b)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	plain := types.BuildConfig{Dockerfile: "Dockerfile", Args: types.MappingWithEquals{"REDMINE": arg("6.0")}}
	want := digest(t, nil, plain)
	write := func(name, content string) func(string) {
		return func(dir string) { writeTree(t, dir, map[string]string{name: content}) }
	}
	for _, tc := range []struct {
		name    string
		edit    func(dir string)
		b       types.BuildConfig
		changes bool
	}{
		{name: "an included file", edit: write("app/main.rb", "puts 2\n"), changes: true},
		{name: "a new included file", edit: write("app/lib.rb", ""), changes: true},
		{name: "an excluded file", edit: write("debug.log", "more noise\n")},
		{name: "a file in an excluded directory", edit: write("node_modules/x/x.js", "y\n")},
		{name: "a file excluded, not re-included", edit: write("themes/desert/a.css", "body{color:red}\n")},
		{name: "a re-included file", edit: write("themes/ocean/a.css", "body{color:blue}\n"), changes: true},
		{name: "the ignore file itself", edit: write(".dockerignore", "*.log\nnode_modules/\nthemes/\n!themes/ocean\n# more\n"), changes: true},
		{name: "an executable bit", edit: func(dir string) {
			if err := os.Chmod(filepath.Join(dir, "app", "main.rb"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, changes: true},
		{name: "a link", edit: func(dir string) {
			if err := os.Symlink("main.rb", filepath.Join(dir, "app", "current.rb")); err != nil {
				t.Fatal(err)
			}
		}, changes: true},
		{name: "another Dockerfile", b: types.BuildConfig{Dockerfile: "Dockerfile.debian", Args: plain.Args}, changes: true},
		{name: "another argument", b: types.BuildConfig{Dockerfile: "Dockerfile", Args: types.MappingWithEquals{"REDMINE": arg("6.1")}}, changes: true},
		{name: "an argument unset", b: types.BuildConfig{Dockerfile: "Dockerfile", Args: types.MappingWithEquals{"REDMINE": nil}}, changes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := plain
			if tc.b.Dockerfile != "" {
				b = tc.b
			}
			if got := digest(t, tc.edit, b); (got != want) != tc.changes {
				t.Errorf("digest changed: %v, want %v", got != want, tc.changes)
			}
		})
	}
	// Without a .dockerignore everything counts.
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n", "debug.log": "a"})
	first, err := contextDigest(types.BuildConfig{Context: dir, Dockerfile: "Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"debug.log": "b"})
	if second, _ := contextDigest(types.BuildConfig{Context: dir, Dockerfile: "Dockerfile"}); second == first {
		t.Error("with no .dockerignore, a changed file keeps the digest")
	}
	if _, err := contextDigest(types.BuildConfig{Context: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing context has a digest")
	}
}

// TestStampBuilds: each built service is labelled with its context's digest
// on a copy of its build labels; a service that builds nothing is left alone.
func TestStampBuilds(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\n"})
	shared := types.Labels{"keep": "me"}
	app, db := types.ServiceConfig{Name: "app"}, types.ServiceConfig{Name: "db"}
	app.Image, app.Build = "app", &types.BuildConfig{Context: dir, Dockerfile: "Dockerfile", Labels: shared}
	db.Image = "postgres"
	p := &types.Project{Services: types.Services{"app": app, "db": db}}
	if err := stampBuilds(p); err != nil {
		t.Fatal(err)
	}
	want, _ := contextDigest(types.BuildConfig{Context: dir, Dockerfile: "Dockerfile"})
	if got := p.Services["app"].Build.Labels; got[catalog.ContextLabel] != want || got["keep"] != "me" {
		t.Errorf("app's build labels %v, want the digest %s beside its own", got, want)
	}
	if _, ok := shared[catalog.ContextLabel]; ok {
		t.Error("the labels the model shares were written to")
	}
	if p.Services["db"].Build != nil {
		t.Error("db builds something now")
	}
	app.Build = &types.BuildConfig{Context: filepath.Join(dir, "missing")}
	p.Services["app"] = app
	if err := stampBuilds(p); err == nil {
		t.Error("a missing context was stamped")
	}
}
