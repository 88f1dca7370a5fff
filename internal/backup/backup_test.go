package backup

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	names := []string{
		"redmine-20261121T010000Z.tar.zst",
		"redmine-20261122T010000Z.tar.zst.age",
		"redmine-20261123T010000Z.tar.zst",
		"redmine-20261123T020000Z.tar.zst",
		// not archives of the stack: never touched
		"nginx-20261120T010000Z.tar.zst",
		"redmine-notes.txt",
		".redmine-20261123T030000Z.tar.zst.partial-123",
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := prune(dir, "redmine", 2, "redmine-20261123T020000Z.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, names[0]), filepath.Join(dir, names[1])}
	if !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != len(names)-2 {
		t.Fatalf("%d files left, want %d", len(left), len(names)-2)
	}
}

func TestRetar(t *testing.T) {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, h := range []*tar.Header{
		{Name: "files/", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 999, Gid: 999, ModTime: mtime},
		{Name: "files/2026/a.bin", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 999, Gid: 999, Size: 3, ModTime: mtime},
		{Name: "files/2026/b.bin", Typeflag: tar.TypeLink, Linkname: "files/2026/a.bin", ModTime: mtime},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("abc"))
		}
	}
	tw.Close()
	src := bytes.Clone(in.Bytes())
	var mid, out bytes.Buffer
	if err := retar(&mid, bytes.NewReader(src), "files/", "./"); err != nil {
		t.Fatal(err)
	}
	if err := retar(&out, bytes.NewReader(bytes.Clone(mid.Bytes())), "./", "files/"); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&mid)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name+">"+h.Linkname)
		if h.Name == "./2026/a.bin" && (h.Uid != 999 || h.Mode != 0o640 || !h.ModTime.Equal(mtime)) {
			t.Errorf("a.bin lost its owner, mode or time: %+v", h)
		}
	}
	if want := []string{"./>", "./2026/a.bin>", "./2026/b.bin>./2026/a.bin"}; !slices.Equal(got, want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	back := tar.NewReader(&out)
	for _, want := range []string{"files/", "files/2026/a.bin", "files/2026/b.bin"} {
		h, err := back.Next()
		if err != nil || h.Name != want {
			t.Fatalf("moved back: %v %v, want %s", h, err, want)
		}
	}
	var bad bytes.Buffer
	if err := retar(&bad, bytes.NewReader(src), "plugins/", "./"); err == nil {
		t.Fatal("a member outside the expected prefix was accepted")
	}
}

func TestNewer(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"6.0.10", "6.0.5", true},
		{"6.0.5", "6.0.10", false},
		{"6.0.5", "6.0.5", false},
		{"7.0.0", "6.1.3", true},
		{"6.1", "6.1.0", false},
		{"18", "17", true},
		{"6.0.5.stable", "6.0.5", false},
	} {
		if got := newer(tc.a, tc.b); got != tc.want {
			t.Errorf("newer(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
