package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"slices"
	"strings"
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
	if err := Retar(&mid, bytes.NewReader(src), "files/", "./", -1); err != nil {
		t.Fatal(err)
	}
	if err := Retar(&out, bytes.NewReader(bytes.Clone(mid.Bytes())), "./", "files/", -1); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range headers(t, mid.Bytes()) {
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
	if err := Retar(&bad, bytes.NewReader(src), "plugins/", "./", -1); err == nil {
		t.Fatal("a member outside the expected prefix was accepted")
	}
}

// tarOf writes headers (regular files get size bytes of content) into a tar
// stream; a regular file claiming more than 1 MiB ends it, unwritten.
func tarOf(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 1<<20 {
			return b.Bytes()
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// headers lists the members of a tar stream.
func headers(t *testing.T, stream []byte) []*tar.Header {
	t.Helper()
	var out []*tar.Header
	tr := tar.NewReader(bytes.NewReader(stream))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, h)
	}
}

func gunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMemberGate: verify (EachMember) and restore (Retar) take and refuse the
// same members: what verify passes, restore writes.
func TestMemberGate(t *testing.T) {
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		stream  []byte
		limit   int64
		want    []string // restored names, when it passes
		refused string
	}{
		{name: "names without ./ (tar -cf - *)", limit: -1, stream: tarOf(t,
			&tar.Header{Name: "a.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2, ModTime: mtime},
			&tar.Header{Name: "sub/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
			&tar.Header{Name: "sub/b", Typeflag: tar.TypeLink, Linkname: "a.txt", ModTime: mtime}),
			want: []string{"files/a.txt>", "files/sub/>", "files/sub/b>files/a.txt"}},
		{name: "root as .", limit: -1, stream: tarOf(t,
			&tar.Header{Name: ".", Typeflag: tar.TypeDir, Mode: 0o750, ModTime: mtime},
			&tar.Header{Name: "./c", Typeflag: tar.TypeReg, Mode: 0o600, Size: 1, ModTime: mtime}),
			want: []string{"files/>", "files/c>"}},
		{name: "device node", limit: -1, stream: tarOf(t,
			&tar.Header{Name: "./null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666, ModTime: mtime}),
			refused: "device node"},
		{name: "setuid file", limit: -1, stream: tarOf(t,
			&tar.Header{Name: "./sh", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 1, ModTime: mtime}),
			refused: "setuid"},
		{name: "setgid directory", limit: -1, stream: tarOf(t,
			&tar.Header{Name: "./shared/", Typeflag: tar.TypeDir, Mode: 0o2775, ModTime: mtime}),
			refused: "setgid"},
		{name: "GNU sparse member, 1 GiB from 120 bytes", limit: -1, stream: gunzip(t, "testdata/sparse-gnu.tar.gz"), refused: "sparse"},
		{name: "PAX sparse member", limit: -1, stream: gunzip(t, "testdata/sparse-pax.tar.gz"), refused: "sparse"},
		{name: "more content than the entry holds", limit: 10, stream: tarOf(t,
			&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8, ModTime: mtime},
			&tar.Header{Name: "./b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8, ModTime: mtime}),
			refused: "past the 10 bytes"},
		{name: "a directory's size is not content", limit: 10, stream: tarOf(t,
			&tar.Header{Name: "./d/", Typeflag: tar.TypeDir, Mode: 0o755, Size: 1 << 40, ModTime: mtime},
			&tar.Header{Name: "./d/a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8, ModTime: mtime}),
			want: []string{"files/d/>", "files/d/a>"}},
		{name: "a size that would overflow the count", limit: 1000, stream: tarOf(t,
			&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 100, ModTime: mtime},
			&tar.Header{Name: "./b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1<<63 - 50, ModTime: mtime}),
			refused: "past the 1000 bytes"},
		{name: "global PAX header", limit: -1, stream: tarOf(t,
			&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"path": "../elsewhere"}},
			&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}),
			refused: "global PAX header"},
		{name: "root that is a file", limit: -1, stream: tarOf(t,
			&tar.Header{Name: ".", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}),
			refused: "not a directory"},
		{name: "under a hard link to a symlink", limit: -1, stream: tarOf(t,
			&tar.Header{Name: "./s", Typeflag: tar.TypeSymlink, Linkname: "/etc", Mode: 0o777, ModTime: mtime},
			&tar.Header{Name: "./h", Typeflag: tar.TypeLink, Linkname: "./s", ModTime: mtime},
			&tar.Header{Name: "./h/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}),
			refused: "under the symlink"},
		{name: "outside", limit: -1, stream: tarOf(t,
			&tar.Header{Name: "../etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}),
			refused: "outside the volume"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verr := EachMember(bytes.NewReader(tc.stream), tc.limit, func(*tar.Header, io.Reader) error { return nil })
			var out bytes.Buffer
			rerr := Retar(&out, bytes.NewReader(tc.stream), "./", "files/", tc.limit)
			if (verr == nil) != (rerr == nil) {
				t.Fatalf("verify and restore disagree: verify %v, restore %v", verr, rerr)
			}
			if tc.refused != "" {
				if rerr == nil || !strings.Contains(rerr.Error(), tc.refused) {
					t.Fatalf("restore error %v, want one saying %q", rerr, tc.refused)
				}
				return
			}
			if rerr != nil {
				t.Fatal(rerr)
			}
			var got []string
			for _, h := range headers(t, out.Bytes()) {
				got = append(got, h.Name+">"+h.Linkname)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("restored %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRetarDropsExtendedRecords: an extended attribute in a member's PAX
// records (a file capability, say) does not reach the restored stream.
func TestRetarDropsExtendedRecords(t *testing.T) {
	src := tarOf(t, &tar.Header{Name: "./ping", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1, ModTime: time.Unix(1e9, 0),
		PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}})
	var out bytes.Buffer
	if err := Retar(&out, bytes.NewReader(src), "./", "files/", -1); err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(&out).Next()
	if err != nil {
		t.Fatal(err)
	}
	if len(h.PAXRecords) != 0 || h.Mode != 0o755 || h.Name != "files/ping" {
		t.Fatalf("restored header %+v, want files/ping, mode 0755, no PAX records", h)
	}
}
