package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing bool
		finish   func(*File) error
		wantErr  error
		want     string // the content under the final name afterwards; "" for none
	}{
		{"commit", false, (*File).Commit, nil, "new"},
		{"commit replaces", true, (*File).Commit, nil, "new"},
		{"commit new", false, (*File).CommitNew, nil, "new"},
		{"commit new refuses to replace", true, (*File).CommitNew, fs.ErrExist, "old"},
		{"abort", false, func(f *File) error { f.Abort(); return nil }, nil, ""},
		{"abort leaves what was there", true, func(f *File) error { f.Abort(); return nil }, nil, "old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "a.tar.zst")
			if tc.existing {
				if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			f, err := Create(path, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("new")); err != nil {
				t.Fatal(err)
			}
			if n, err := f.Size(); err != nil || n != 3 {
				t.Fatalf("Size = %d, %v; want 3", n, err)
			}
			if err := tc.finish(f); !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("finishing: %v, want %v", err, tc.wantErr)
			}
			got, err := os.ReadFile(path)
			if tc.want == "" {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s holds %q, want nothing", path, got)
				}
			} else if string(got) != tc.want {
				t.Fatalf("%s holds %q (%v), want %q", path, got, err, tc.want)
			}
			left, _ := filepath.Glob(filepath.Join(dir, ".*.partial-*"))
			if len(left) > 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}
