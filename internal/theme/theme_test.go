package theme

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// write creates files (slash paths relative to dir) with the given contents.
func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckSource(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		files    map[string]string
		wantErr  string
	}{
		{name: "valid", id: "harbor", files: map[string]string{"stylesheets/application.css": "@import url(/application.css);"}},
		{name: "no stylesheet", id: "bare", files: map[string]string{"README": "x"}, wantErr: "is missing"},
		{name: "empty stylesheet", id: "empty", files: map[string]string{"stylesheets/application.css": ""}, wantErr: "is empty"},
		{name: "downloaded release nests the theme", id: "PurpleMine2-master",
			files:   map[string]string{"PurpleMine2-master/stylesheets/application.css": "x"},
			wantErr: "nests the theme one level down"},
		{name: "id with a space", id: "my theme", files: map[string]string{"stylesheets/application.css": "x"}, wantErr: "not a usable theme id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), tc.id)
			write(t, dir, tc.files)
			err := CheckSource(Theme{ID: tc.id, Dir: dir})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckSource: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CheckSource error = %v, want ErrSource mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for id, want := range map[string]string{
		"harbor":       "Harbor",
		"purple_mine":  "Purple mine",
		"PurpleMine2":  "Purplemine2",
		"circle-theme": "Circle-theme",
		"_dark_blue":   "Dark blue",
		"mine_id":      "Mine",
	} {
		th := Theme{ID: id}
		if got := th.Name(); got != want {
			t.Errorf("Name(%q) = %q, want %q (Rails' humanize)", id, got, want)
		}
	}
	if got := (Theme{ID: "purple_mine"}).BodyClasses(); len(got) != 2 || got[0] != "theme-Purple_mine" {
		t.Errorf("BodyClasses(purple_mine) = %v", got)
	}
}

func TestTreeDiff(t *testing.T) {
	want := Tree{"a.css": "1", "b.css": "2"}
	got := Tree{"a.css": "1", "b.css": "3", "c.css": "4"}
	diff := strings.Join(want.Diff(got), ", ")
	if diff != "b.css (differs), c.css (extra)" {
		t.Fatalf("Diff = %q", diff)
	}
	if want.Digest() == got.Digest() || want.Digest() != (Tree{"b.css": "2", "a.css": "1"}).Digest() {
		t.Fatal("Digest must depend on content only, not on order")
	}
}

// tarImage serves a fixed tar, as the engine's archive API would for one path.
type tarImage struct{ entries []tar.Header }

func (f tarImage) ImageTar(context.Context, string, string) (io.ReadCloser, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range f.entries {
		h := h
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "body of " + h.Name
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	return io.NopCloser(&buf), nil
}

func TestCheckImage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "harbor")
	write(t, dir, map[string]string{"stylesheets/application.css": "body of harbor/stylesheets/application.css"})
	th := Theme{ID: "harbor", Dir: dir}
	want, err := SourceTree(th)
	if err != nil {
		t.Fatal(err)
	}
	target := ImageTarget{Image: "stackctl/redmine:debian", ThemesDir: "/usr/src/redmine/themes", UID: 999, GID: 999}
	dirEntry := func(name string, mode int64) tar.Header {
		return tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: mode}
	}
	file := func(name string, mode int64, uid int) tar.Header {
		return tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Uid: uid, Gid: uid}
	}
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		wantErr string
		wantIs  error
	}{
		{name: "identical and readable", entries: []tar.Header{
			dirEntry("harbor/", 0o755), dirEntry("harbor/stylesheets/", 0o755), file("harbor/stylesheets/application.css", 0o644, 0)}},
		{name: "owned by redmine", entries: []tar.Header{
			dirEntry("harbor/", 0o755), file("harbor/stylesheets/application.css", 0o600, 999)}},
		{name: "stale", entries: []tar.Header{file("harbor/stylesheets/application.css", 0o644, 0), file("harbor/extra.css", 0o644, 0)},
			wantErr: "extra.css (extra)", wantIs: ErrStale},
		{name: "missing", entries: nil, wantErr: "is not in image", wantIs: ErrImage},
		{name: "unreadable", entries: []tar.Header{file("harbor/stylesheets/application.css", 0o600, 0)},
			wantErr: "cannot read", wantIs: ErrImage},
		{name: "directory not searchable", entries: []tar.Header{dirEntry("harbor/stylesheets/", 0o700), file("harbor/stylesheets/application.css", 0o644, 0)},
			wantErr: "cannot read", wantIs: ErrImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckImage(context.Background(), tarImage{tc.entries}, target, th, want)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("CheckImage: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantIs) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "stackctl up redmine") {
				t.Fatalf("CheckImage error = %v, want %v mentioning %q and the rebuild", err, tc.wantIs, tc.wantErr)
			}
		})
	}
}
