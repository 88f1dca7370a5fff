package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"slices"
	"testing"
	"time"
)

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
	if err := Retar(&mid, bytes.NewReader(src), "files/", "./"); err != nil {
		t.Fatal(err)
	}
	if err := Retar(&out, bytes.NewReader(bytes.Clone(mid.Bytes())), "./", "files/"); err != nil {
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
	if err := Retar(&bad, bytes.NewReader(src), "plugins/", "./"); err == nil {
		t.Fatal("a member outside the expected prefix was accepted")
	}
}
