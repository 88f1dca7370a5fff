package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"reflect"
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
	if err := Retar(&mid, bytes.NewReader(src), "files/", "./", NoLimit); err != nil {
		t.Fatal(err)
	}
	if err := Retar(&out, bytes.NewReader(bytes.Clone(mid.Bytes())), "./", "files/", NoLimit); err != nil {
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
	if err := Retar(&bad, bytes.NewReader(src), "plugins/", "./", NoLimit); err == nil {
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
		limit   Limit
		want    []string // restored names, when it passes
		refused string
	}{
		{name: "names without ./ (tar -cf - *)", limit: NoLimit, stream: tarOf(t,
			&tar.Header{Name: "a.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2, ModTime: mtime},
			&tar.Header{Name: "sub/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
			&tar.Header{Name: "sub/b", Typeflag: tar.TypeLink, Linkname: "a.txt", ModTime: mtime}),
			want: []string{"files/a.txt>", "files/sub/>", "files/sub/b>files/a.txt"}},
		{name: "root as .", limit: NoLimit, stream: tarOf(t,
			&tar.Header{Name: ".", Typeflag: tar.TypeDir, Mode: 0o750, ModTime: mtime},
			&tar.Header{Name: "./c", Typeflag: tar.TypeReg, Mode: 0o600, Size: 1, ModTime: mtime}),
			want: []string{"files/>", "files/c>"}},
		{name: "device node", limit: NoLimit, stream: tarOf(t,
			&tar.Header{Name: "./null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666, ModTime: mtime}),
			refused: "device node"},
		{name: "setuid file", limit: NoLimit, stream: tarOf(t,
			&tar.Header{Name: "./sh", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 1, ModTime: mtime}),
			refused: "setuid"},
		{name: "setgid directory", limit: NoLimit, stream: tarOf(t,
			&tar.Header{Name: "./shared/", Typeflag: tar.TypeDir, Mode: 0o2775, ModTime: mtime}),
			refused: "setgid"},
		{name: "GNU sparse member, 1 GiB from 120 bytes", limit: NoLimit, stream: gunzip(t, "testdata/sparse-gnu.tar.gz"), refused: "sparse"},
		{name: "PAX sparse member", limit: NoLimit, stream: gunzip(t, "testdata/sparse-pax.tar.gz"), refused: "sparse"},
		{name: "more content than the entry holds", limit: Limit{Content: 10, Disk: -1}, stream: tarOf(t,
			&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8, ModTime: mtime},
			&tar.Header{Name: "./b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8, ModTime: mtime}),
			refused: "past the 10 bytes"},
		{name: "a directory's size is not content", limit: Limit{Content: 10, Disk: -1}, stream: tarOf(t,
			&tar.Header{Name: "./d/", Typeflag: tar.TypeDir, Mode: 0o755, Size: 1 << 40, ModTime: mtime},
			&tar.Header{Name: "./d/a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 8, ModTime: mtime}),
			want: []string{"files/d/>", "files/d/a>"}},
		{name: "a size that would overflow the count", limit: Limit{Content: 1000, Disk: -1}, stream: tarOf(t,
			&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 100, ModTime: mtime},
			&tar.Header{Name: "./b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1<<63 - 50, ModTime: mtime}),
			refused: "past the 1000 bytes"},
		// The room on disk: each member in whole 4 KiB blocks, one at least,
		// and a block for each parent it makes.
		{name: "within the room on disk", limit: Limit{Content: -1, Disk: 4 * 4096}, stream: tarOf(t,
			&tar.Header{Name: "./d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
			&tar.Header{Name: "./d/a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4096, ModTime: mtime},
			&tar.Header{Name: "./d/b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 0, ModTime: mtime},
			&tar.Header{Name: "./d/c", Typeflag: tar.TypeLink, Linkname: "./d/a", ModTime: mtime}),
			want: []string{"files/d/>", "files/d/a>", "files/d/b>", "files/d/c>files/d/a"}},
		{name: "a file past the room on disk", limit: Limit{Content: -1, Disk: 3*4096 - 1}, stream: tarOf(t,
			&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime},
			&tar.Header{Name: "./b", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4097, ModTime: mtime}),
			refused: `member "./b" (4097 bytes) takes the volume past the room it has: at least 12288 bytes on disk, and it has 12287`},
		{name: "a 4 GiB file past the room on disk, by its header", limit: Limit{Content: -1, Disk: 1 << 20}, stream: tarOf(t,
			&tar.Header{Name: "./zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: 4 << 30, ModTime: mtime}),
			refused: `member "./zeros" (4294967296 bytes) takes the volume past the room it has`},
		{name: "the parents a member makes take room", limit: Limit{Content: -1, Disk: 2 * 4096}, stream: tarOf(t,
			&tar.Header{Name: "./x/y/z", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}),
			refused: "at least 12288 bytes on disk"},
		{name: "empty members past the room on disk", limit: Limit{Content: -1, Disk: 2 * 4096}, stream: tarOf(t,
			&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: mtime},
			&tar.Header{Name: "./s", Typeflag: tar.TypeSymlink, Linkname: "a", Mode: 0o777, ModTime: mtime},
			&tar.Header{Name: "./d/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}),
			refused: `member "./d/" (0 bytes) takes the volume past the room it has`},
		{name: "a size that would overflow the room's count", limit: Limit{Content: -1, Disk: 1 << 20}, stream: tarOf(t,
			&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 100, ModTime: mtime},
			&tar.Header{Name: "./b/c", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1<<63 - 50, ModTime: mtime}),
			refused: "at least 9223372036854775807 bytes on disk"},
		{name: "global PAX header", limit: NoLimit, stream: tarOf(t,
			&tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"path": "../elsewhere"}},
			&tar.Header{Name: "./a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}),
			refused: "global PAX header"},
		{name: "root that is a file", limit: NoLimit, stream: tarOf(t,
			&tar.Header{Name: ".", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}),
			refused: "not a directory"},
		{name: "under a symlink", limit: NoLimit, stream: tarOf(t,
			&tar.Header{Name: "./s", Typeflag: tar.TypeSymlink, Linkname: "/etc", Mode: 0o777, ModTime: mtime},
			&tar.Header{Name: "./s/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}),
			refused: "under the symlink"},
		// What a hard link to a symlink would alias is refused at the link.
		{name: "under a hard link to a symlink", limit: NoLimit, stream: tarOf(t,
			&tar.Header{Name: "./s", Typeflag: tar.TypeSymlink, Linkname: "/etc", Mode: 0o777, ModTime: mtime},
			&tar.Header{Name: "./h", Typeflag: tar.TypeLink, Linkname: "./s", ModTime: mtime},
			&tar.Header{Name: "./h/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}),
			refused: `hard link "./h" names the symlink "./s"`},
		{name: "outside", limit: NoLimit, stream: tarOf(t,
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
	if err := Retar(&out, bytes.NewReader(src), "./", "files/", NoLimit); err != nil {
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

// TestGateAdmits: the member as every writer writes it.
func TestGateAdmits(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	g := NewGate(NoLimit)
	for _, tc := range []struct {
		name string
		in   tar.Header
		want tar.Header
	}{
		{
			name: "a directory: cleaned, no size, time in seconds, no type bits, no PAX records",
			in: tar.Header{Typeflag: tar.TypeDir, Name: "./d//", Mode: 0o40755, Size: 512, ModTime: at.Add(time.Second / 2),
				Uid: 1, Gid: 2, PAXRecords: map[string]string{"SCHILY.xattr.user.x": "y"}},
			want: tar.Header{Typeflag: tar.TypeDir, Name: "d", Mode: 0o755, ModTime: at, Uid: 1, Gid: 2},
		},
		{
			name: "a file",
			in:   tar.Header{Typeflag: tar.TypeReg, Name: "d/f", Mode: 0o640, Size: 3, ModTime: at, Uid: 1, Gid: 2, Uname: "u"},
			want: tar.Header{Typeflag: tar.TypeReg, Name: "d/f", Mode: 0o640, Size: 3, ModTime: at, Uid: 1, Gid: 2, Uname: "u"},
		},
		{
			name: "a hard link: its file's owner, mode and time",
			in:   tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "./d/f", Mode: 0o777, ModTime: at.Add(time.Hour), Uid: 3},
			want: tar.Header{Typeflag: tar.TypeLink, Name: "h", Linkname: "d/f", Mode: 0o640, ModTime: at, Uid: 1, Gid: 2, Uname: "u"},
		},
		{
			name: "a symlink: its target as it is",
			in:   tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "d/../d/f", Mode: 0o777, ModTime: at},
			want: tar.Header{Typeflag: tar.TypeSymlink, Name: "l", Linkname: "d/../d/f", Mode: 0o777, ModTime: at},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := g.Admit(&tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("admitted %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

// TestGateRefuses: what no writer would write alike, each with its reason.
func TestGateRefuses(t *testing.T) {
	at := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	reg := func(name string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, ModTime: at}
	}
	dir := func(name string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: at}
	}
	symlink := func(name, target string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, ModTime: at}
	}
	link := func(name, target string) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: at}
	}
	for _, tc := range []struct {
		name    string
		members []*tar.Header // all taken but the last
		want    string
	}{
		{"FIFO", []*tar.Header{{Typeflag: tar.TypeFifo, Name: "p", ModTime: at}}, `member "p" is a FIFO (named pipe)`},
		{"block device", []*tar.Header{{Typeflag: tar.TypeBlock, Name: "b", ModTime: at}}, `member "b" is a device node`},
		{"hard link to a directory", []*tar.Header{dir("d/"), link("h", "d")}, `hard link "h" names the directory "d"`},
		{"hard link to the root", []*tar.Header{link("h", "")}, `hard link "h" names the directory ""`},
		{"hard link to a file named as a directory", []*tar.Header{reg("f"), link("h", "f/")}, `hard link "h" names "f/", which is named as a directory`},
		{"a file named as a directory", []*tar.Header{reg("f/")}, `member "f/" is named as a directory but is not one`},
		{". inside a name", []*tar.Header{reg("f"), dir("f/.")}, `member "f/." has "." inside its name`},
		{"hard link to a symlink", []*tar.Header{symlink("l", "f"), link("h", "l")}, `hard link "h" names the symlink "l"`},
		{"hard link to nothing yet", []*tar.Header{link("h", "f")}, `hard link "h" names "f", which no member before it made`},
		{"hard link to itself", []*tar.Header{reg("f"), link("f", "f")}, `hard link "f" names itself`},
		{"hard link out", []*tar.Header{link("h", "../f")}, `hard link "h": member "../f" lies outside the volume`},
		{"a file after a directory", []*tar.Header{dir("d/"), reg("d")}, `member "d" would replace the directory of its name`},
		{"a symlink after an implied directory", []*tar.Header{reg("d/f"), symlink("d", "x")}, `member "d" would replace the directory of its name`},
		{"a file after an absolute symlink", []*tar.Header{symlink("l", "/srv/x"), reg("l")}, `member "l" would replace the symlink to "/srv/x" made before it`},
		{"a directory after a symlink with ..", []*tar.Header{symlink("l", "a/../b"), dir("l/")}, `member "l/" would replace the symlink to "a/../b"`},
		{"under a file", []*tar.Header{reg("f"), reg("f/g")}, `member "f/g" lies under "f", which is a file, not a directory`},
		{"under a hard link", []*tar.Header{reg("f"), link("h", "f"), dir("h/x/")}, `member "h/x/" lies under "h", which is a file`},
		{"a relative symlink out", []*tar.Header{dir("d/"), symlink("d/l", "../../x")}, `symlink "d/l" points to "../../x", outside the volume`},
		{"a symlink with no target", []*tar.Header{symlink("l", "")}, `symlink "l" has no target`},
		{"a symlink target too long", []*tar.Header{symlink("l", strings.Repeat("t", 4096))}, `symlink "l" has a target of 4096 bytes`},
		{".. inside a name", []*tar.Header{reg("a/../b")}, `member "a/../b" has ".." in its name`},
		{"an absolute name", []*tar.Header{reg("/etc/passwd")}, `member "/etc/passwd" lies outside the volume`},
		{"a name part too long", []*tar.Header{reg(strings.Repeat("n", 256))}, "has a name part of 256 bytes"},
		{"a name too long", []*tar.Header{reg(strings.Repeat("n/", 1921))}, "has a name of 3841 bytes"},
		{"a time before 1970", []*tar.Header{{Typeflag: tar.TypeReg, Name: "f", ModTime: time.Unix(-1, 0)}}, `member "f" has the time 1969-12-31T23:59:59Z`},
		{"a time after 2242", []*tar.Header{{Typeflag: tar.TypeReg, Name: "f", ModTime: time.Unix(1<<33, 0)}}, "a restore keeps times from 1970 to 2242 only"},
		{"a negative owner", []*tar.Header{{Typeflag: tar.TypeReg, Name: "f", ModTime: at, Uid: -1}}, `member "f" has owner -1 and group 0`},
		{"mode bits of no file", []*tar.Header{{Typeflag: tar.TypeReg, Name: "f", ModTime: at, Mode: 0o1000644}}, `member "f" has mode 1000644`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGate(NoLimit)
			var err error
			for i, h := range tc.members {
				if _, err = g.Admit(h); err != nil && i < len(tc.members)-1 {
					t.Fatalf("member %d refused: %v", i, err)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Admit = %v, want %q", err, tc.want)
			}
		})
	}
}
