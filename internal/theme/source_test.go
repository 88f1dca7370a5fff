package theme

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDiscover: every folder under themes/ is a theme, sorted by id; dot
// folders and loose files are not; none at all says how to add one.
func TestDiscover(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string // under themes/
		want  string            // the ids, or the error's words
		is    error
	}{
		{name: "themes sorted, dot folders and files left out", files: map[string]string{
			"ocean/stylesheets/application.css":  "x",
			"harbor/stylesheets/application.css": "x",
			".git/HEAD":                          "ref",
			"README.md":                          "themes",
		}, want: "harbor ocean"},
		{name: "a broken folder is still found", files: map[string]string{"bare/README": "x"}, want: "bare"},
		{name: "no theme", files: map[string]string{"README.md": "themes"}, is: ErrSource,
			want: "no theme folder under THEMES: add one as themes/<id>/stylesheets/application.css"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "themes")
			write(t, dir, tc.files)
			got, err := Discover(dir)
			if tc.is != nil {
				want := strings.ReplaceAll(tc.want, "THEMES", dir)
				if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), want) {
					t.Fatalf("Discover = %v, %v; want %v saying %q", got, err, tc.is, want)
				}
				return
			}
			var ids []string
			for _, th := range got {
				if th.Dir != filepath.Join(dir, th.ID) {
					t.Errorf("theme %s is in %s, want %s", th.ID, th.Dir, filepath.Join(dir, th.ID))
				}
				ids = append(ids, th.ID)
			}
			if err != nil || strings.Join(ids, " ") != tc.want {
				t.Fatalf("Discover = %v, %v; want %s", ids, err, tc.want)
			}
		})
	}
}

// TestDiscoverNoDirectory: a site without a themes folder has no theme,
// which the source layer refuses as it refuses an empty folder.
func TestDiscoverNoDirectory(t *testing.T) {
	if _, err := Discover(filepath.Join(t.TempDir(), "themes")); !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), "the site has no themes folder") {
		t.Fatalf("Discover of a missing directory = %v, want %v saying the folder is missing", err, ErrSource)
	}
}

// TestFind: a theme named with --theme must be a folder, or the message says
// where to put it.
func TestFind(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "themes")
	write(t, dir, map[string]string{"harbor/stylesheets/application.css": "x", "notes.txt": "x"})
	if th, err := Find(dir, "harbor"); err != nil || th.Dir != filepath.Join(dir, "harbor") {
		t.Fatalf("Find(harbor) = %+v, %v", th, err)
	}
	for _, id := range []string{"ocean", "notes.txt"} {
		t.Run(id, func(t *testing.T) {
			_, err := Find(dir, id)
			want := fmt.Sprintf("no folder %s: add the theme as themes/%s/stylesheets/application.css", filepath.Join(dir, id), id)
			if !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Find(%s) = %v, want ErrSource saying %q", id, err, want)
			}
		})
	}
}

func TestSourceTreeUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file: no unreadable file to make")
	}
	dir := filepath.Join(t.TempDir(), "harbor")
	write(t, dir, map[string]string{"stylesheets/application.css": "x"})
	css := filepath.Join(dir, "stylesheets", "application.css")
	if err := os.Chmod(css, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := SourceTree(Theme{ID: "harbor", Dir: dir}); err == nil || !strings.Contains(err.Error(), "hashing theme harbor") {
		t.Fatalf("SourceTree with an unreadable file = %v, want an error naming the theme", err)
	}
}

// brokenTar is an engine whose archive stops half way through a file.
type brokenTar struct{}

func (brokenTar) ImageTar(context.Context, string, string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		tw.WriteHeader(&tar.Header{Name: "harbor/stylesheets/application.css", Typeflag: tar.TypeReg, Mode: 0o644, Size: 100})
		io.WriteString(tw, "only part of it")
		pw.Close()
	}()
	return pr, nil
}

// TestCheckImageMore: what the image layer says when the engine fails it, and
// when many files differ.
func TestCheckImageMore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "harbor")
	files := map[string]string{}
	var entries []tar.Header
	for i := range 7 {
		p := fmt.Sprintf("stylesheets/part%d.css", i)
		files[p] = "source"
		entries = append(entries, tar.Header{Name: "harbor/" + p, Typeflag: tar.TypeReg, Mode: 0o644})
	}
	write(t, dir, files)
	th := Theme{ID: "harbor", Dir: dir}
	want, err := SourceTree(th)
	if err != nil {
		t.Fatal(err)
	}
	target := ImageTarget{Image: "stackctl/redmine:debian", ThemesDir: "/usr/src/redmine/themes", UID: 999, GID: 999}
	for _, tc := range []struct {
		name  string
		image ImageReader
		is    error
		says  string
	}{
		{name: "no image", image: noImage{}, is: ErrImage,
			says: "/usr/src/redmine/themes/harbor is not in image stackctl/redmine:debian (No such image: stackctl/redmine:debian): rebuild with 'stackctl up redmine'"},
		{name: "archive cut short", image: brokenTar{},
			says: "reading /usr/src/redmine/themes/harbor from image stackctl/redmine:debian"},
		{name: "seven files differ", image: tarImage{entries}, is: ErrStale,
			says: "stylesheets/part0.css (differs), stylesheets/part1.css (differs), stylesheets/part2.css (differs), stylesheets/part3.css (differs), " +
				"stylesheets/part4.css (differs), and 2 more: rebuild"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckImage(context.Background(), tc.image, target, th, want)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("CheckImage = %v, want it saying %q", err, tc.says)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("CheckImage = %v, want %v", err, tc.is)
			}
		})
	}
}
