package volume

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/backup/archive"
)

// member is one entry of a test stream; content only for regular files.
type member struct {
	name, link string
	typ        byte
	mode       int64
	uid, gid   int
	at         time.Time
	content    string
}

func tarOf(t *testing.T, members ...member) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range members {
		hdr := &tar.Header{
			Name: m.name, Linkname: m.link, Typeflag: m.typ, Mode: m.mode,
			Uid: m.uid, Gid: m.gid, ModTime: m.at, Size: int64(len(m.content)), Format: tar.FormatPAX,
		}
		if m.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &b
}

// directWriter is a Writer that writes the volumes files and db straight
// into two directories under base, as StartWriter makes one when the helper
// sees them; base holds nothing else, so a write outside them shows.
func directWriter(t *testing.T) (x *Writer, base string) {
	base = t.TempDir()
	x = &Writer{roots: map[string]*os.Root{}}
	for _, key := range []string{"files", "db"} {
		dir := filepath.Join(base, key)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { root.Close() })
		x.roots[key] = root
	}
	return x, base
}

// owner is an owner other than the writer's when the test runs as root, who
// alone may give files away; the writer's own otherwise.
func owner() (uid, gid int) {
	if os.Getuid() == 0 {
		return 1000, 1001
	}
	return os.Getuid(), os.Getgid()
}

func TestWriteTarDirect(t *testing.T) {
	uid, gid := owner()
	t1 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	t3 := t1.Add(2 * time.Hour)
	t4 := t1.Add(3 * time.Hour)
	stream := tarOf(t,
		member{name: "./files/", typ: tar.TypeDir, mode: 0o755, uid: uid, gid: gid, at: t1},
		member{name: "./files/a/", typ: tar.TypeDir, mode: 0o750, uid: uid, gid: gid, at: t2},
		member{name: "./files/a/f.txt", typ: tar.TypeReg, mode: 0o640, uid: uid, gid: gid, at: t3, content: "attachment"},
		member{name: "./files/a/link", typ: tar.TypeSymlink, link: "f.txt", uid: uid, gid: gid, at: t4},
		member{name: "./files/a/hard", typ: tar.TypeLink, link: "./files/a/f.txt"},
		member{name: "./files/tmp/", typ: tar.TypeDir, mode: 0o1777, at: t1},
		// No directory member before it: its parents are made.
		member{name: "db/base/1/PG_VERSION", typ: tar.TypeReg, mode: 0o600, uid: uid, gid: gid, at: t2, content: "17\n"},
	)
	x, base := directWriter(t)
	if err := x.WriteTar(t.Context(), stream); err != nil {
		t.Fatal(err)
	}
	files, db := filepath.Join(base, "files"), filepath.Join(base, "db")

	tests := []struct {
		name    string
		path    string
		mode    fs.FileMode
		owned   bool
		at      time.Time
		content string
	}{
		// Directories keep their times though files were written into them after.
		{name: "volume root", path: files, mode: fs.ModeDir | 0o755, owned: true, at: t1},
		{name: "directory", path: filepath.Join(files, "a"), mode: fs.ModeDir | 0o750, owned: true, at: t2},
		{name: "file", path: filepath.Join(files, "a/f.txt"), mode: 0o640, owned: true, at: t3, content: "attachment"},
		{name: "sticky directory", path: filepath.Join(files, "tmp"), mode: fs.ModeDir | fs.ModeSticky | 0o777, at: t1},
		{name: "other volume", path: filepath.Join(db, "base/1/PG_VERSION"), mode: 0o600, owned: true, at: t2, content: "17\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := os.Lstat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != tt.mode {
				t.Errorf("mode = %v, want %v", fi.Mode(), tt.mode)
			}
			if !fi.ModTime().Equal(tt.at) {
				t.Errorf("time = %v, want %v", fi.ModTime(), tt.at)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if tt.owned && (int(st.Uid) != uid || int(st.Gid) != gid) {
				t.Errorf("owner = %d:%d, want %d:%d", st.Uid, st.Gid, uid, gid)
			}
			if tt.content != "" {
				if b, _ := os.ReadFile(tt.path); string(b) != tt.content {
					t.Errorf("content = %q, want %q", b, tt.content)
				}
			}
		})
	}
	t.Run("symbolic link", func(t *testing.T) {
		p := filepath.Join(files, "a/link")
		if target, err := os.Readlink(p); err != nil || target != "f.txt" {
			t.Fatalf("link = %q, %v; want f.txt", target, err)
		}
		fi, _ := os.Lstat(p)
		st := fi.Sys().(*syscall.Stat_t)
		// The link's own time and owner, not its target's.
		if !fi.ModTime().Equal(t4) || int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("link time %v owner %d:%d, want %v %d:%d", fi.ModTime(), st.Uid, st.Gid, t4, uid, gid)
		}
	})
	t.Run("hard link", func(t *testing.T) {
		a, _ := os.Stat(filepath.Join(files, "a/f.txt"))
		b, err := os.Stat(filepath.Join(files, "a/hard"))
		if err != nil || !os.SameFile(a, b) {
			t.Errorf("a/hard is not a/f.txt: %v", err)
		}
	})
	t.Run("nothing else", func(t *testing.T) {
		if names := entries(t, base); strings.Join(names, " ") != "db files" {
			t.Errorf("base holds %q", names)
		}
	})
}

func TestWriteTarDirectReplaces(t *testing.T) {
	x, base := directWriter(t)
	uid, gid := os.Getuid(), os.Getgid()
	at := time.Unix(1_700_000_000, 0)
	if err := os.WriteFile(filepath.Join(base, "files", "old"), []byte("a much longer old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	// What a volume held is replaced as tar would: files, links.
	stream := tarOf(t,
		member{name: "files/old", typ: tar.TypeReg, mode: 0o644, uid: uid, gid: gid, at: at, content: "new"},
		member{name: "files/l", typ: tar.TypeReg, mode: 0o644, uid: uid, gid: gid, at: at, content: "file first"},
		member{name: "files/l", typ: tar.TypeSymlink, link: "old", uid: uid, gid: gid, at: at},
		member{name: "files/h", typ: tar.TypeReg, mode: 0o644, uid: uid, gid: gid, at: at, content: "file first"},
		member{name: "files/h", typ: tar.TypeLink, link: "files/old"},
		member{name: "files/d/", typ: tar.TypeDir, mode: 0o755, uid: uid, gid: gid, at: at},
		member{name: "files/d/", typ: tar.TypeDir, mode: 0o700, uid: uid, gid: gid, at: at},
	)
	if err := x.WriteTar(t.Context(), stream); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"old": "new", "l": "new", "h": "new"} {
		if b, _ := os.ReadFile(filepath.Join(base, "files", name)); string(b) != want {
			t.Errorf("%s = %q, want %q", name, b, want)
		}
	}
	if fi, _ := os.Stat(filepath.Join(base, "files", "d")); fi.Mode().Perm() != 0o700 {
		t.Errorf("a directory met twice has mode %v, want the last member's", fi.Mode().Perm())
	}
}

func TestWriteTarDirectRefuses(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name    string
		members []member
		garbage string // the stream, when not a tar
		want    string
	}{
		{
			name:    "member in no volume",
			members: []member{{name: "cache/x", typ: tar.TypeReg}},
			want:    `member "cache/x" is in no volume being written`,
		},
		{
			name:    "hard link into another volume",
			members: []member{{name: "db/x", typ: tar.TypeReg}, {name: "files/x", typ: tar.TypeLink, link: "db/x"}},
			want:    `member "files/x" is a hard link to "db/x", in another volume`,
		},
		{
			name:    "device",
			members: []member{{name: "files/null", typ: tar.TypeChar}},
			want:    `member "null" is a device node`,
		},
		{
			name:    "name climbing out",
			members: []member{{name: "files/../../escaped", typ: tar.TypeReg, mode: 0o644, content: "x"}},
			want:    `member "../../escaped" lies outside the volume`,
		},
		{
			// A link may point anywhere; nothing is written through it out of the volume.
			name: "write through a link out",
			members: []member{
				{name: "files/out", typ: tar.TypeSymlink, link: outside},
				{name: "files/out/escaped", typ: tar.TypeReg, mode: 0o644, content: "x"},
			},
			want: `member "out/escaped" lies under the symlink "out"`,
		},
		{
			name: "directory through a link out",
			members: []member{
				{name: "files/out", typ: tar.TypeSymlink, link: "../../../../../../" + outside},
				{name: "files/out/escaped/", typ: tar.TypeDir, mode: 0o755},
			},
			want: `symlink "out" points to "../../../../../../` + outside + `", outside the volume`,
		},
		{
			name:    "hard link to a file outside",
			members: []member{{name: "files/h", typ: tar.TypeLink, link: "files/../../db/x"}},
			want:    `hard link "h": member "../../db/x" lies outside the volume`,
		},
		{
			// Overwriting a link does not write its target outside.
			name: "file through a link out",
			members: []member{
				{name: "files/victim", typ: tar.TypeSymlink, link: filepath.Join(outside, "victim")},
				{name: "files/victim", typ: tar.TypeReg, mode: 0o644, content: "x"},
			},
			want: `member "victim" would replace the symlink to "` + filepath.Join(outside, "victim") + `" made before it`,
		},
		{
			name:    "FIFO",
			members: []member{{name: "files/pipe", typ: tar.TypeFifo, mode: 0o644}},
			want:    `member "pipe" is a FIFO (named pipe)`,
		},
		{
			name:    "hard link to a directory",
			members: []member{{name: "files/d/", typ: tar.TypeDir, mode: 0o755}, {name: "files/h", typ: tar.TypeLink, link: "files/d"}},
			want:    `hard link "h" names the directory "d"`,
		},
		{name: "not a tar", garbage: strings.Repeat("x", 1024), want: "writing into the volumes: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, base := directWriter(t)
			if err := os.WriteFile(filepath.Join(base, "db", "x"), []byte("db"), 0o600); err != nil {
				t.Fatal(err)
			}
			stream := bytes.NewBufferString(tt.garbage)
			if tt.garbage == "" {
				stream = tarOf(t, tt.members...)
			}
			err := x.WriteTar(t.Context(), stream)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("WriteTar = %v, want an error containing %q", err, tt.want)
			}
			if names := entries(t, base); strings.Join(names, " ") != "db files" {
				t.Errorf("written beside the volumes: %q", names)
			}
			if names := entries(t, outside); len(names) != 0 {
				t.Errorf("written outside the volumes: %q", names)
			}
			if names := entries(t, filepath.Join(base, "db")); strings.Join(names, " ") != "x" {
				t.Errorf("db holds %q", names)
			}
		})
	}
}

// TestWriteTarDirectReplacesLinks: a file or a directory after a symlink of
// its name replaces the link, as GNU tar does; nothing is written through it.
func TestWriteTarDirectReplacesLinks(t *testing.T) {
	x, base := directWriter(t)
	uid, gid := os.Getuid(), os.Getgid()
	at := time.Unix(1_700_000_000, 0)
	stream := tarOf(t,
		member{name: "files/kept", typ: tar.TypeReg, mode: 0o644, uid: uid, gid: gid, at: at, content: "kept"},
		member{name: "files/sub/", typ: tar.TypeDir, mode: 0o755, uid: uid, gid: gid, at: at},
		member{name: "files/l", typ: tar.TypeSymlink, link: "kept", uid: uid, gid: gid, at: at},
		member{name: "files/l", typ: tar.TypeReg, mode: 0o600, uid: uid, gid: gid, at: at, content: "new"},
		member{name: "files/d", typ: tar.TypeSymlink, link: "sub", uid: uid, gid: gid, at: at},
		member{name: "files/d/", typ: tar.TypeDir, mode: 0o700, uid: uid, gid: gid, at: at},
	)
	if err := x.WriteTar(t.Context(), stream); err != nil {
		t.Fatal(err)
	}
	files := filepath.Join(base, "files")
	if b, _ := os.ReadFile(filepath.Join(files, "kept")); string(b) != "kept" {
		t.Errorf("kept = %q: written through the link", b)
	}
	if fi, err := os.Lstat(filepath.Join(files, "l")); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("l = %v, %v; want the file that replaced the link", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(files, "d")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("d = %v, %v; want the directory that replaced the link", fi, err)
	}
	if fi, _ := os.Stat(filepath.Join(files, "sub")); fi.Mode().Perm() != 0o755 {
		t.Errorf("sub has mode %v: the directory was written through the link", fi.Mode().Perm())
	}
}

// TestFilesHoldTheLine: the direct writer, handed what the gate would have
// refused, still writes nothing outside the volume (os.Root), no device, no
// set-user-ID bit, and never writes through a symlink.
func TestFilesHoldTheLine(t *testing.T) {
	outside := t.TempDir()
	at := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		members []*tar.Header
		want    string // the last member's error; none when empty
	}{
		{
			name:    "device",
			members: []*tar.Header{{Name: "null", Typeflag: tar.TypeChar}},
			want:    "writing null: member type '3' is not written",
		},
		{
			name:    "name climbing out",
			members: []*tar.Header{{Name: "../../escaped", Typeflag: tar.TypeReg, Mode: 0o644}},
			want:    "writing ../../escaped: statat ../..: path escapes from parent",
		},
		{
			name: "write through a link out",
			members: []*tar.Header{
				{Name: "out", Typeflag: tar.TypeSymlink, Linkname: outside},
				{Name: "out/escaped", Typeflag: tar.TypeReg, Mode: 0o644},
			},
			want: "writing out/escaped: statat out: path escapes from parent",
		},
		{
			name: "directory through a link out",
			members: []*tar.Header{
				{Name: "out", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../" + outside},
				{Name: "out/escaped/", Typeflag: tar.TypeDir, Mode: 0o755},
			},
			want: "writing out/escaped/: statat out: path escapes from parent",
		},
		{
			name:    "hard link to a file outside",
			members: []*tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../db/x"}},
			want:    "writing h: linkat ../../db/x h: path escapes from parent",
		},
		{
			// The link is replaced: its target outside is not written.
			name: "file through a link out",
			members: []*tar.Header{
				{Name: "victim", Typeflag: tar.TypeSymlink, Linkname: filepath.Join(outside, "victim")},
				{Name: "victim", Typeflag: tar.TypeReg, Mode: 0o644},
			},
		},
		{
			name:    "set-user-ID",
			members: []*tar.Header{{Name: "bin", Typeflag: tar.TypeReg, Mode: 0o4755}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, base := directWriter(t)
			if err := os.WriteFile(filepath.Join(base, "db", "x"), []byte("db"), 0o600); err != nil {
				t.Fatal(err)
			}
			f, _ := x.volumeFiles("files")
			var err error
			for _, h := range tt.members {
				h.Uid, h.Gid, h.ModTime = os.Getuid(), os.Getgid(), at
				if err = f.Write(h, strings.NewReader("")); err != nil {
					break
				}
			}
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Write = %v, want %q", err, tt.want)
			}
			if names := entries(t, base); strings.Join(names, " ") != "db files" {
				t.Errorf("written beside the volumes: %q", names)
			}
			if names := entries(t, outside); len(names) != 0 {
				t.Errorf("written outside the volumes: %q", names)
			}
			for _, name := range entries(t, filepath.Join(base, "files")) {
				fi, err := os.Lstat(filepath.Join(base, "files", name))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeSetuid|fs.ModeSetgid) != 0 {
					t.Errorf("%s written with mode %v", name, fi.Mode())
				}
			}
		})
	}
}

func TestWriteTarDirectCancelled(t *testing.T) {
	x, base := directWriter(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := x.WriteTar(ctx, tarOf(t, member{name: "files/f", typ: tar.TypeReg, mode: 0o644, content: "x"}))
	if err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("WriteTar = %v, want the cancel", err)
	}
	if names := entries(t, filepath.Join(base, "files")); len(names) != 0 {
		t.Errorf("written after the cancel: %q", names)
	}
}

func TestFilesUnknownVolume(t *testing.T) {
	x, _ := directWriter(t)
	if f, ok := x.volumeFiles("cache"); ok || f != nil {
		t.Errorf("volumeFiles(cache) = %v, %v; want none for a volume not being written", f, ok)
	}
}

func TestVolumePath(t *testing.T) {
	for name, want := range map[string]string{
		"./a/b":   "a/b",
		"a/b":     "a/b",
		"a/b/":    "a/b",
		"":        ".",
		"./":      ".",
		"/etc/x":  "etc/x", // absolute names stay in the volume
		"a/../..": "..",    // os.Root refuses what climbs out
	} {
		t.Run(name, func(t *testing.T) {
			if got := volumePath(name); got != want {
				t.Errorf("volumePath(%q) = %q, want %q", name, got, want)
			}
		})
	}
}

// WriteVolume bounded by the room on disk: the member that would pass it is
// refused by its header, before a byte of it is written, and what came
// before it is whole.
func TestWriteVolumeRoom(t *testing.T) {
	x, base := directWriter(t)
	at := time.Unix(1e9, 0)
	stream := tarOf(t,
		member{name: "./a", typ: tar.TypeReg, mode: 0o644, at: at, content: strings.Repeat("a", 3000)},
		member{name: "./b", typ: tar.TypeReg, mode: 0o644, at: at, content: strings.Repeat("b", 5000)},
		member{name: "./c", typ: tar.TypeReg, mode: 0o644, at: at, content: strings.Repeat("c", 10000)},
	)
	err := x.WriteVolume(t.Context(), "files", stream, archive.Limit{Content: -1, Disk: 4 * 4096})
	var room *archive.RoomError
	if !errors.As(err, &room) || room.Member != "./c" || room.Size != 10000 || room.Need != 6*4096 || room.Room != 4*4096 {
		t.Fatalf("WriteVolume = %v, want a RoomError for ./c, 10000 bytes, needing 24576 of 16384", err)
	}
	var written int64
	for _, name := range entries(t, filepath.Join(base, "files")) {
		fi, err := os.Stat(filepath.Join(base, "files", name))
		if err != nil {
			t.Fatal(err)
		}
		written += fi.Size()
	}
	if got := entries(t, filepath.Join(base, "files")); strings.Join(got, " ") != "a b" || written != 8000 {
		t.Errorf("wrote %q, %d bytes; want a and b whole (8000 bytes), nothing of c", got, written)
	}
}
