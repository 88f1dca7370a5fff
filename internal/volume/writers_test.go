package volume

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	goarchive "github.com/moby/go-archive"

	"github.com/stackctl/stackctl/internal/backup/archive"
)

// FuzzWriters is the differential test of the gate and the writers: it builds
// a tar stream from the fuzzer's bytes and asks archive's gate (what
// verify-backup asks). A stream the gate takes must come out alike, to the
// type, name, owner, mode, time (in seconds), content, link target and hard
// link, from every writer: the direct one (WriteVolume into a directory), the
// pipe's (GNU tar run as the helper runs it, on Retar's output), the archive
// API's (the engine's extraction, moby's go-archive, with the options
// CopyToContainer is given, on Retar's output), and GNU tar on the stream as
// it is. A stream the gate refuses must leave nothing outside the volume and
// no device, FIFO or set-ID bit in it, from any writer. Symlink targets are
// kept inside the test's directory: a write through one would show there.
func FuzzWriters(f *testing.F) {
	for _, s := range writerSeeds {
		f.Add(encodeMembers(s.members))
	}
	gnuTar := lookGNUTar(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		old := syscall.Umask(0o022) // the helper's: GNU tar makes implied directories 0755 with it
		defer syscall.Umask(old)
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		members := decodeMembers(data, outside)
		stream := buildStream(members)
		dirs := map[string]bool{} // directories the stream names, whose times every writer sets
		verr := archive.EachMember(bytes.NewReader(stream), archive.NoLimit, func(hdr *tar.Header, _ io.Reader) error {
			if hdr.Typeflag == tar.TypeDir {
				dirs[hdr.Name] = true
			}
			return nil
		})
		var retarred bytes.Buffer
		rerr := archive.Retar(&retarred, bytes.NewReader(stream), "./", "vol/", archive.NoLimit)
		if (verr == nil) != (rerr == nil) {
			t.Fatalf("verify and Retar disagree: %v, %v\n%s", verr, rerr, describe(members))
		}
		ways := map[string]error{}
		for _, way := range []string{"direct", "pipe", "archive API", "GNU tar"} {
			dir := filepath.Join(base, way, "vol")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			switch way {
			case "direct":
				root, err := os.OpenRoot(dir)
				if err != nil {
					t.Fatal(err)
				}
				x := &Writer{roots: map[string]*os.Root{"vol": root}}
				ways[way] = x.WriteVolume(t.Context(), "vol", bytes.NewReader(stream), archive.NoLimit)
				root.Close()
			case "pipe":
				ways[way] = runTar(t, gnuTar, tarCommand("-", filepath.Dir(dir))[1:], retarred.Bytes())
			case "archive API":
				opts := copyOptions(nil)
				ways[way] = goarchive.Untar(bytes.NewReader(retarred.Bytes()), filepath.Dir(dir),
					&goarchive.TarOptions{NoOverwriteDirNonDir: !opts.AllowOverwriteDirWithFile})
			case "GNU tar":
				if verr == nil {
					ways[way] = runTar(t, gnuTar, []string{"-x", "--numeric-owner", "-f", "-", "-C", dir}, stream)
				}
			}
		}
		if names := entries(t, outside); len(names) != 0 {
			t.Fatalf("written outside the volume: %q\n%s", names, describe(members))
		}
		if verr != nil {
			if ways["direct"] == nil {
				t.Fatalf("the gate refused the stream (%v), the direct writer wrote it\n%s", verr, describe(members))
			}
			for way := range ways {
				if names := entries(t, filepath.Join(base, way)); strings.Join(names, " ") != "vol" {
					t.Errorf("%s wrote beside the volume: %q", way, names)
				}
				checkHarmless(t, way, filepath.Join(base, way, "vol"))
			}
			return
		}
		for way, err := range ways {
			if err != nil {
				t.Fatalf("the gate took the stream, %s failed: %v\n%s", way, err, describe(members))
			}
		}
		want := snapshot(t, filepath.Join(base, "direct", "vol"), dirs)
		for _, way := range []string{"pipe", "archive API", "GNU tar"} {
			got := snapshot(t, filepath.Join(base, way, "vol"), dirs)
			// GNU tar loses a directory's time when the stream names it two
			// ways ("./a", then "a/b"); the gate's writers see one name each.
			if diff := compareTrees(want, got, way != "GNU tar"); diff != "" {
				t.Fatalf("the direct writer and %s wrote differently:\n%s\nstream:\n%s", way, diff, describe(members))
			}
		}
	})
}

// fuzzMember is one member of a fuzzed stream, its fields picked from the
// tables below by the fuzzer's bytes.
type fuzzMember struct {
	typ         byte
	name, link  string
	mode        int64
	owner, time int
	content     string
}

var (
	fuzzTypes = []byte{tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo, tar.TypeChar,
		tar.TypeBlock, tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeCont}
	fuzzNames = []string{".", "./", "", "a", "a/", "./a", "b", "b/", "c", "a/b", "a/b/", "a/c", "b/a", "a/b/c", "./a/b",
		"a//b", "a/./b", "a/.", "a/../b", "..", "../a", "/a", "a/..", "d/e/f", "é", "a b", "a\nb", "-x",
		strings.Repeat("n", 255), strings.Repeat("n", 256), strings.Repeat(strings.Repeat("n", 200)+"/", 18) + "a",
		strings.Repeat(strings.Repeat("n", 200)+"/", 20)}
	// Absolute targets name the test's "outside" directory ($OUT), or nothing.
	fuzzTargets = []string{"a", "b", "a/b", "c", ".", "..", "../a", "../..", "a/../b", "b/../..", "../../outside",
		"../../../outside", "$OUT", "$OUT/a", "/nonexistent-stackctl-fuzz", "", "x/y", strings.Repeat("t", 300),
		strings.Repeat("t/", 2100)}
	fuzzModes = []int64{0o644, 0o755, 0o600, 0o700, 0o777, 0, 0o1777, 0o4755, 0o2755, 0o100644, 0o640, 0o750, 0o1000644}
	fuzzTimes = []time.Time{time.Unix(1_700_000_000, 0), time.Unix(0, 0), time.Unix(1_700_000_000, 500_000_000),
		time.Unix(-1, 0), time.Unix(1<<33, 0), time.Unix(1<<33-1, 0), time.Unix(946_684_800, 0), time.Unix(2_000_000_000, 123_456_789)}
	fuzzOwners = []int{0, 1000, 65534, 1 << 31, -1, 1<<32 - 1}
)

// writerSeeds are the cases of issue 30 and ordinary trees, with what the
// gate says of each (refused: part of its reason; empty: taken).
var writerSeeds = []struct {
	name, refused string
	members       []fuzzMember
}{
	{name: "an ordinary volume", members: []fuzzMember{
		{typ: tar.TypeDir, name: "./", mode: 0o755},
		{typ: tar.TypeDir, name: "a/", mode: 0o750, owner: 1},
		{typ: tar.TypeReg, name: "a/b", mode: 0o640, owner: 1, content: "attachment"},
		{typ: tar.TypeSymlink, name: "a/c", link: "b", time: 6},
		{typ: tar.TypeLink, name: "b", link: "a/b"},
		{typ: tar.TypeDir, name: "d/e/f", mode: 0o1777},
		{typ: tar.TypeReg, name: "c", mode: 0o600, owner: 2, time: 2, content: "x"},
	}},
	{name: "a FIFO", refused: `member "a" is a FIFO`, members: []fuzzMember{
		{typ: tar.TypeDir, name: "./", mode: 0o755}, {typ: tar.TypeFifo, name: "a", mode: 0o644}}},
	{name: "a hard link to a directory", refused: `hard link "b" names the directory "a"`, members: []fuzzMember{
		{typ: tar.TypeDir, name: "a/", mode: 0o755}, {typ: tar.TypeLink, name: "b", link: "a"}}},
	{name: "a file after a symlink of its name replaces the link", members: []fuzzMember{
		{typ: tar.TypeReg, name: "b", mode: 0o644, content: "target"},
		{typ: tar.TypeSymlink, name: "a", link: "b"},
		{typ: tar.TypeReg, name: "a", mode: 0o600, content: "not through the link"},
	}},
	{name: "a directory after a symlink of its name replaces the link", members: []fuzzMember{
		{typ: tar.TypeDir, name: "b/", mode: 0o755},
		{typ: tar.TypeSymlink, name: "a", link: "b"},
		{typ: tar.TypeDir, name: "a/", mode: 0o700},
		{typ: tar.TypeReg, name: "a/c", mode: 0o644, content: "in a"},
	}},
	{name: "a file after a symlink GNU tar makes at its end", refused: `member "a" would replace the symlink`, members: []fuzzMember{
		{typ: tar.TypeSymlink, name: "a", link: "$OUT/a"}, {typ: tar.TypeReg, name: "a", mode: 0o644, content: "x"}}},
	{name: "a symlink after a symlink GNU tar makes at its end", refused: `member "a" would replace the symlink`, members: []fuzzMember{
		{typ: tar.TypeSymlink, name: "a", link: "a/../b"}, {typ: tar.TypeSymlink, name: "a", link: "b"}}},
	{name: "a member under a symlink", refused: `member "a/b" lies under the symlink "a"`, members: []fuzzMember{
		{typ: tar.TypeSymlink, name: "a", link: "$OUT"}, {typ: tar.TypeReg, name: "a/b", mode: 0o644, content: "x"}}},
	{name: "a file replaced by a file, its hard link keeping the first", members: []fuzzMember{
		{typ: tar.TypeReg, name: "a", mode: 0o644, content: "first"},
		{typ: tar.TypeLink, name: "b", link: "a"},
		{typ: tar.TypeReg, name: "a", mode: 0o600, content: "second"},
		{typ: tar.TypeLink, name: "c", link: "./a"},
	}},
	{name: "a file replaced by a directory, met twice", members: []fuzzMember{
		{typ: tar.TypeReg, name: "a", mode: 0o644, content: "x"},
		{typ: tar.TypeDir, name: "a/", mode: 0o700, time: 2},
		{typ: tar.TypeDir, name: "a", mode: 0o750, time: 6},
		{typ: tar.TypeReg, name: "a/b", mode: 0o644},
	}},
	{name: "a directory replaced by a file", refused: `member "a" would replace the directory`, members: []fuzzMember{
		{typ: tar.TypeDir, name: "a/", mode: 0o755}, {typ: tar.TypeReg, name: "a", mode: 0o644}}},
	{name: "directories implied, then named", members: []fuzzMember{
		{typ: tar.TypeReg, name: "a/b/c", mode: 0o644, content: "x"}, {typ: tar.TypeDir, name: "a/", mode: 0o700, owner: 1}}},
	{name: "a hard link's own owner, mode and time", members: []fuzzMember{
		{typ: tar.TypeReg, name: "a", mode: 0o640, owner: 1, time: 6, content: "x"},
		{typ: tar.TypeLink, name: "b", link: "a", mode: 0o777, owner: 2, time: 0},
	}},
	{name: "a symlink out of the volume", refused: `symlink "a" points to "../../outside", outside the volume`, members: []fuzzMember{
		{typ: tar.TypeSymlink, name: "a", link: "../../outside"}}},
	{name: "a name out of the volume", refused: `member "../a" lies outside the volume`, members: []fuzzMember{
		{typ: tar.TypeReg, name: "../a", mode: 0o644, content: "x"}}},
	{name: "a time before 1970", refused: `member "a" has the time 1969-12-31T23:59:59Z`, members: []fuzzMember{
		{typ: tar.TypeReg, name: "a", mode: 0o644, time: 3, content: "x"}}},
	{name: "a sub-second time, long and non-ASCII names", members: []fuzzMember{
		{typ: tar.TypeReg, name: "é", mode: 0o644, time: 2, content: "x"},
		{typ: tar.TypeDir, name: strings.Repeat(strings.Repeat("n", 200)+"/", 18) + "a", mode: 0o755}}},
}

// TestWriterSeeds: the gate takes and refuses the seeds as they say.
func TestWriterSeeds(t *testing.T) {
	for _, s := range writerSeeds {
		t.Run(s.name, func(t *testing.T) {
			outside := t.TempDir()
			stream := buildStream(decodeMembers(encodeMembers(s.members), outside))
			err := archive.EachMember(bytes.NewReader(stream), archive.NoLimit, func(*tar.Header, io.Reader) error { return nil })
			if s.refused == "" && err != nil || s.refused != "" && (err == nil || !strings.Contains(err.Error(), s.refused)) {
				t.Errorf("the gate said %v, want %q", err, s.refused)
			}
		})
	}
}

// encodeMembers is the fuzzer's input that decodes to members: six bytes
// each (type, name, link, mode, owner and time, content length), then the content.
func encodeMembers(members []fuzzMember) []byte {
	index := func(what string, i int) byte {
		if i < 0 {
			panic("a seed's " + what + " is not in the tables")
		}
		return byte(i)
	}
	var b []byte
	for _, m := range members {
		link := slices.Index(fuzzTargets, m.link)
		if m.typ == tar.TypeLink {
			link = slices.Index(fuzzNames, m.link)
		}
		if m.link == "" && m.typ != tar.TypeSymlink {
			link = 0
		}
		mode := slices.Index(fuzzModes, m.mode)
		if m.typ == tar.TypeSymlink && m.mode == 0 {
			mode = slices.Index(fuzzModes, 0o777)
		}
		b = append(b, index("type", slices.Index(fuzzTypes, m.typ)), index("name", slices.Index(fuzzNames, m.name)),
			index("link", link), index("mode", mode), byte(m.owner<<4|m.time), byte(len(m.content)))
		b = append(b, m.content...)
	}
	return b
}

// decodeMembers reads members from data, at most 24; outside is $OUT.
func decodeMembers(data []byte, outside string) []fuzzMember {
	var members []fuzzMember
	for len(data) >= 6 && len(members) < 24 {
		m := fuzzMember{
			typ:   fuzzTypes[int(data[0])%len(fuzzTypes)],
			name:  fuzzNames[int(data[1])%len(fuzzNames)],
			mode:  fuzzModes[int(data[3])%len(fuzzModes)],
			owner: int(data[4]>>4) % len(fuzzOwners),
			time:  int(data[4]&0xf) % len(fuzzTimes),
		}
		switch m.typ {
		case tar.TypeSymlink:
			m.link = strings.ReplaceAll(fuzzTargets[int(data[2])%len(fuzzTargets)], "$OUT", outside)
		case tar.TypeLink:
			m.link = fuzzNames[int(data[2])%len(fuzzNames)]
		}
		n := min(int(data[5])%64, len(data)-6)
		m.content = string(data[6 : 6+n])
		data = data[6+n:]
		members = append(members, m)
	}
	return members
}

// buildStream writes members as a PAX tar stream, leaving out those Go's
// writer refuses. A test not run as root writes its own files only, and
// keeps its way into its directories and files.
func buildStream(members []fuzzMember) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range members {
		hdr := &tar.Header{Typeflag: m.typ, Name: m.name, Linkname: m.link, Mode: m.mode, ModTime: fuzzTimes[m.time],
			Uid: fuzzOwners[m.owner], Gid: fuzzOwners[(m.owner+1)%len(fuzzOwners)], Format: tar.FormatPAX}
		if os.Geteuid() != 0 {
			hdr.Uid, hdr.Gid = os.Getuid(), os.Getgid()
			hdr.Mode |= 0o400
			if m.typ == tar.TypeDir {
				hdr.Mode |= 0o700
			}
		}
		if m.typ == tar.TypeReg {
			hdr.Size = int64(len(m.content))
		}
		if tw.WriteHeader(hdr) != nil {
			continue
		}
		if m.typ == tar.TypeReg {
			_, _ = tw.Write([]byte(m.content))
		}
	}
	_ = tw.Close()
	return b.Bytes()
}

func describe(members []fuzzMember) string {
	var s strings.Builder
	for _, m := range members {
		fmt.Fprintf(&s, "  %c %q -> %q mode %o owner %d time %s content %q\n", m.typ, shorten(m.name), shorten(m.link),
			m.mode, fuzzOwners[m.owner], fuzzTimes[m.time].UTC().Format(time.RFC3339Nano), m.content)
	}
	return s.String()
}

func shorten(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s…(%d bytes)", s[:20], len(s))
	}
	return s
}

// lookGNUTar is GNU tar's path; the test is skipped without it.
func lookGNUTar(tb testing.TB) string {
	p, err := exec.LookPath("tar")
	if err == nil {
		var out []byte
		if out, err = exec.Command(p, "--version").Output(); err == nil && !bytes.Contains(out, []byte("GNU tar")) {
			err = fmt.Errorf("%s is not GNU tar", p)
		}
	}
	if err != nil {
		tb.Skipf("GNU tar is needed to compare the writers with it (%v): install it (CI has it)", err)
	}
	return p
}

// runTar runs GNU tar with args on stream, in the C locale, keeping modes as
// it does run as root, as the helper runs it.
func runTar(t *testing.T, gnuTar string, args []string, stream []byte) error {
	if os.Geteuid() != 0 {
		args = append(args, "--same-permissions")
	}
	cmd := exec.CommandContext(t.Context(), gnuTar, args...)
	cmd.Stdin = bytes.NewReader(stream)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%v: %s", err, stderr.String())
	}
	return nil
}

// node is what a tree holds at one name.
type node struct {
	mode     fs.FileMode
	uid, gid uint32
	mtime    int64 // seconds; -1 for a directory no member named, made when it was
	target   string
	content  string
	linked   string // a regular file's first name, by path order, of those sharing its inode
}

// snapshot reads the tree at dir; named are the directories the stream named.
func snapshot(t *testing.T, dir string, named map[string]bool) map[string]node {
	t.Helper()
	tree := map[string]node{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		n := node{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, mtime: fi.ModTime().Unix()}
		switch {
		case fi.IsDir():
			if !named[rel] {
				n.mtime = -1
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			if n.target, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			n.content = string(b)
			if first, ok := inodes[st.Ino]; ok {
				n.linked = first
			} else {
				inodes[st.Ino] = rel
				n.linked = rel
			}
		}
		tree[rel] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func (n node) String() string {
	return fmt.Sprintf("%v %d:%d time %d target %q content %q linked %q", n.mode, n.uid, n.gid, n.mtime, shorten(n.target), shorten(n.content), shorten(n.linked))
}

// compareTrees lists how got differs from want; dirTimes: directories' times too.
func compareTrees(want, got map[string]node, dirTimes bool) string {
	var diffs []string
	for name, w := range want {
		g, ok := got[name]
		if !dirTimes && w.mode.IsDir() {
			w.mtime, g.mtime = -1, -1
		}
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("  %q missing", shorten(name)))
		case g != w:
			diffs = append(diffs, fmt.Sprintf("  %q: %v, want %v", shorten(name), g, w))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, fmt.Sprintf("  %q not written by the direct writer", shorten(name)))
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, "\n")
}

// checkHarmless fails when the tree at dir holds a device, a FIFO, a socket
// or a set-ID bit.
func checkHarmless(t *testing.T, way, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeSetuid|fs.ModeSetgid) != 0 {
			t.Errorf("%s wrote %s with mode %v from a refused stream", way, p, fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
