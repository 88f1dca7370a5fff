package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strings"
	"time"
)

// Retar copies a tar stream, moving every member from under directory from to
// under directory to ("./" is the root): the engine names a volume's content
// after its mount point, the archive relative to the volume's root, and a
// restore after the mount point again. Every member passes a Gate, within
// limit, and goes on as the gate admitted it: GNU tar in the volume helper and
// the engine's archive API, which take this stream, write what the gate decided.
func Retar(dst io.Writer, src io.Reader, from, to string, limit Limit) error {
	tw := tar.NewWriter(dst)
	err := walk(src, from, limit, func(hdr *tar.Header, content io.Reader) error {
		var err error
		if hdr.Name, err = rebase(hdr.Name, "./", to, hdr.Typeflag == tar.TypeDir); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeLink {
			if hdr.Linkname, err = rebase(hdr.Linkname, "./", to, false); err != nil {
				return err
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, content)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// EachMember reads a volume's tar stream, named relative to the volume's root,
// to its end and calls fn with every member as a Gate admitted it within
// limit, and its content, which fn may leave unread. verify-backup and the
// direct volume writer walk the stream with it.
func EachMember(src io.Reader, limit Limit, fn func(hdr *tar.Header, content io.Reader) error) error {
	return walk(src, "./", limit, fn)
}

// walk is EachMember for a stream whose members are named under directory from.
func walk(src io.Reader, from string, limit Limit, fn func(hdr *tar.Header, content io.Reader) error) error {
	tr := tar.NewReader(src)
	g := NewGate(limit)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		in := *hdr
		if from != "./" {
			// The gate's own refusals first, of the name as the stream has it.
			if _, err := memberName(hdr.Name); err != nil {
				return err
			}
			if err := asFile(hdr); err != nil {
				return err
			}
			if in.Name, err = rebase(hdr.Name, from, "./", false); err != nil {
				return err
			}
			if hdr.Typeflag == tar.TypeLink {
				if in.Linkname, err = rebase(hdr.Linkname, from, "./", false); err != nil {
					return err
				}
			}
		}
		out, err := g.Admit(&in)
		if err != nil {
			return err
		}
		if err := fn(out, tr); err != nil {
			return err
		}
	}
}

// Limit bounds a volume's stream as a restore writes it; a negative field
// bounds nothing. A member that would pass it is refused before a byte of it
// is written: its header says its size before its content.
type Limit struct {
	// Content is the most the regular files may hold in all: the entry's size,
	// as the manifest records it.
	Content int64
	// Disk is the most the stream may take on disk, each member counted in
	// whole blocks: the room its file system has.
	Disk int64
}

// NoLimit bounds nothing: for a stream whose size is unknown and which
// is not written (verify-backup, a backup's own copy of a volume).
var NoLimit = Limit{Content: -1, Disk: -1}

// blockSize is what a member takes on disk at least, and the unit it takes:
// ext4's and XFS's block, which a file fills whole and a directory or a link
// takes one of.
const blockSize = 4096

// RoomError refuses a member that would take a volume's stream past
// Limit.Disk.
type RoomError struct {
	// Member is the member's name as the stream has it, Size its content.
	Member string
	Size   int64
	// Need is what the stream would take on disk with the member, Room the limit.
	Need, Room int64
}

func (e *RoomError) Error() string {
	return fmt.Sprintf("member %q (%d bytes) takes the volume past the room it has: at least %d bytes on disk, and it has %d",
		e.Member, e.Size, e.Need, e.Room)
}

// Limits a restore writes within.
const (
	// maxName leaves room, within Linux's 4,096-byte path, for the volume's
	// key that the helper's tar sees the name under.
	maxName = 3840
	// maxNamePart is Linux's longest file name.
	maxNamePart = 255
	// maxTarget is Linux's longest symbolic link target.
	maxTarget = 4095
	// maxTime is 2242, the most a tar header's own time field holds; times
	// before 1970 the engine's archive API sets to 1970.
	maxTime = 1 << 33
	// maxID is the largest owner or group: chown takes -1 as "unchanged".
	maxID = 1<<32 - 2
)

// A Gate is the one rule set for a volume's tar stream: verify-backup, the
// backup's own copy of a volume (Retar), and each volume writer (the direct
// one, GNU tar in the helper and the engine's archive API, the last two given
// Retar's output) ask it about every member in order, so that what verify
// passes every writer writes, and writes alike. It takes regular files,
// directories, symbolic links, and hard links to a regular file made earlier
// in the stream. A member replaces an earlier one of its name, as GNU tar does
// (removed first, never written through), but nothing replaces a directory,
// which tar could not remove once it holds files, nor a symlink that GNU tar
// makes only at the end. Admit says why it refuses a member.
type Gate struct {
	limit Limit
	// expanded is the regular files' content so far, disk what the stream
	// takes on disk so far (see onDisk).
	expanded, disk int64
	// made is what the stream has made so far by cleaned name, relative to the
	// volume's root ("." is the root); a parent made implicitly is a directory.
	made map[string]*made
}

// made is one name in the volume.
type made struct {
	kind byte // tar.TypeDir, tar.TypeReg or tar.TypeSymlink
	// file is a regular file's header; its hard links share its owner, mode and time.
	file *tar.Header
	// target is a symlink's.
	target string
}

// NewGate returns the gate for one volume's stream, which limit bounds.
func NewGate(limit Limit) *Gate {
	return &Gate{limit: limit, made: map[string]*made{".": {kind: tar.TypeDir}}}
}

// Admit takes or refuses hdr, the next member of the stream, named relative to
// the volume's root. It returns the member as every writer writes it: its name
// cleaned (a hard link's target too), no more than the fields the gate checked
// (no PAX records or extended attributes, which an extraction would apply),
// the time in whole seconds, a hard link with its file's owner, mode and time
// (the archive API applies a link's own to the file they share).
func (g *Gate) Admit(hdr *tar.Header) (*tar.Header, error) {
	if err := plain(hdr); err != nil {
		return nil, err
	}
	name, err := memberName(hdr.Name)
	if err != nil {
		return nil, err
	}
	if name == "." && hdr.Typeflag != tar.TypeDir {
		return nil, fmt.Errorf("member %q stands for the volume's root but is not a directory", hdr.Name)
	}
	if err := asFile(hdr); err != nil {
		return nil, err
	}
	if t := hdr.ModTime.Unix(); t < 0 || t >= maxTime {
		return nil, fmt.Errorf("member %q has the time %s; a restore keeps times from 1970 to 2242 only", hdr.Name, hdr.ModTime.UTC().Format(time.RFC3339))
	}
	if hdr.Uid < 0 || hdr.Uid > maxID || hdr.Gid < 0 || hdr.Gid > maxID {
		return nil, fmt.Errorf("member %q has owner %d and group %d; ids run from 0 to %d", hdr.Name, hdr.Uid, hdr.Gid, maxID)
	}
	parents, err := g.parents(hdr.Name, name)
	if err != nil {
		return nil, err
	}
	if err := g.replaces(hdr, name); err != nil {
		return nil, err
	}
	out := &tar.Header{
		Typeflag: hdr.Typeflag, Name: name, Mode: hdr.Mode & 0o7777,
		Uid: hdr.Uid, Gid: hdr.Gid, Uname: hdr.Uname, Gname: hdr.Gname, ModTime: hdr.ModTime.Truncate(time.Second),
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		// Overflow-safe: a header may claim any size.
		if g.limit.Content >= 0 && hdr.Size > g.limit.Content-g.expanded {
			return nil, fmt.Errorf("member %q takes the content past the %d bytes the entry holds", hdr.Name, g.limit.Content)
		}
		g.expanded += hdr.Size
		out.Size = hdr.Size
		file := *out
		g.made[name] = &made{kind: tar.TypeReg, file: &file}
	case tar.TypeDir:
		if m := g.made[name]; m == nil || m.kind != tar.TypeDir {
			g.made[name] = &made{kind: tar.TypeDir}
		}
	case tar.TypeSymlink:
		if err := symlinkTarget(hdr, name); err != nil {
			return nil, err
		}
		out.Linkname = hdr.Linkname
		g.made[name] = &made{kind: tar.TypeSymlink, target: hdr.Linkname}
	case tar.TypeLink:
		m, target, err := g.linked(hdr, name)
		if err != nil {
			return nil, err
		}
		f := m.file
		out.Linkname, out.Mode, out.Uid, out.Gid, out.Uname, out.Gname, out.ModTime = target, f.Mode, f.Uid, f.Gid, f.Uname, f.Gname, f.ModTime
		g.made[name] = m
	}
	// Last, once the member is known good: room is not what is wrong with a bad one.
	if err := g.charge(hdr, len(parents)); err != nil {
		return nil, err
	}
	for _, p := range parents {
		g.made[p] = &made{kind: tar.TypeDir}
	}
	return out, nil
}

// charge counts what hdr, and the parents it makes, take on disk against
// Limit.Disk, refusing it when that would pass the limit.
func (g *Gate) charge(hdr *tar.Header, parents int) error {
	if g.limit.Disk < 0 {
		return nil
	}
	size := int64(0)
	if hdr.Typeflag == tar.TypeReg {
		size = hdr.Size
	}
	// Saturating: a header may claim any size.
	dirs := blockSize * int64(parents)
	need := min(onDisk(size), math.MaxInt64-dirs) + dirs
	if need > g.limit.Disk-g.disk {
		return &RoomError{Member: hdr.Name, Size: size, Need: g.disk + min(need, math.MaxInt64-g.disk), Room: g.limit.Disk}
	}
	g.disk += need
	return nil
}

// onDisk is what a member with size bytes of content takes on disk, in whole
// blocks and one at least (a directory, a link, an empty file take an inode
// and a directory's entry, which this stands for).
func onDisk(size int64) int64 {
	blocks := size / blockSize
	if size%blockSize != 0 || size == 0 {
		blocks++
	}
	if blocks > math.MaxInt64/blockSize {
		return math.MaxInt64
	}
	return blocks * blockSize
}

// plain refuses what a volume of a tracker has no business holding and a
// restore would have to be trusted with: device nodes (the volume writer has no
// capability to make them) and FIFOs (which hold nothing a backup could keep),
// setuid and setgid bits, sparse members, whose size on disk the archive does
// not show, and global headers.
func plain(hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	case tar.TypeXGlobalHeader:
		// GNU tar applies its records (a path, a size) to every later member,
		// which Go's reader, and so this gate, does not see.
		return fmt.Errorf("the stream has a global PAX header, which would change members this check does not see")
	case tar.TypeChar, tar.TypeBlock:
		return fmt.Errorf("member %q is a device node; a volume's backup holds files, directories and links only", hdr.Name)
	case tar.TypeFifo:
		return fmt.Errorf("member %q is a FIFO (named pipe); a volume's backup holds files, directories and links only", hdr.Name)
	case tar.TypeGNUSparse:
		return fmt.Errorf("member %q is sparse", hdr.Name)
	default:
		return fmt.Errorf("member %q is of tar type %q, which a volume restore does not take", hdr.Name, hdr.Typeflag)
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fmt.Errorf("member %q is sparse", hdr.Name)
		}
	}
	// Old tars put the file type's bits above the permissions; they say nothing more.
	if hdr.Mode < 0 || hdr.Mode&^(0o7777|0o170000) != 0 {
		return fmt.Errorf("member %q has mode %o, which is no file's", hdr.Name, hdr.Mode)
	}
	if hdr.Mode&(0o4000|0o2000) != 0 {
		return fmt.Errorf("member %q has the setuid or setgid bit (mode %o)", hdr.Name, hdr.Mode&0o7777)
	}
	return nil
}

// memberName is name cleaned, relative to the volume's root ("." for the root,
// which an empty name is too, as GNU tar takes it).
// It refuses a name that an extraction would resolve outside the volume (an
// absolute one, one that climbs out with ".."), one holding ".." at all, which
// GNU tar will not extract, and one longer than a restore can write. An
// archive's checksums prove it intact, not who made it: anyone holding the age
// recipient can write one.
func memberName(name string) (string, error) {
	clean := path.Clean(name)
	switch {
	case path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../"):
		return "", fmt.Errorf("member %q lies outside the volume", name)
	case dotDot(name):
		return "", fmt.Errorf("member %q has \"..\" in its name, which GNU tar does not extract", name)
	case dotInside(name):
		// GNU tar resolves "a/." through what a is, where the others clean it to "a".
		return "", fmt.Errorf("member %q has \".\" inside its name", name)
	case len(clean) > maxName:
		return "", fmt.Errorf("member %q has a name of %d bytes; a restore writes names of up to %d", name, len(clean), maxName)
	}
	for part := range strings.SplitSeq(clean, "/") {
		if len(part) > maxNamePart {
			return "", fmt.Errorf("member %q has a name part of %d bytes; Linux takes up to %d", name, len(part), maxNamePart)
		}
	}
	return clean, nil
}

// asFile refuses a member that is no directory but named as one ("a/"), and
// a hard link naming its file so: GNU tar makes no file of such a
// name, nor a link to one.
func asFile(hdr *tar.Header) error {
	switch {
	case hdr.Typeflag != tar.TypeDir && dirName(hdr.Name):
		return fmt.Errorf("member %q is named as a directory but is not one", hdr.Name)
	case hdr.Typeflag == tar.TypeLink && dirName(hdr.Linkname):
		return fmt.Errorf("hard link %q names %q, which is named as a directory", hdr.Name, hdr.Linkname)
	}
	return nil
}

// dirName says whether name ends as only a directory's may.
func dirName(name string) bool { return strings.HasSuffix(name, "/") || name == "." }

// dotInside says whether name has "." as a part after its start ("./a" and
// "." are the usual spellings of a name and of the root).
func dotInside(name string) bool {
	rest := name
	for strings.HasPrefix(rest, "./") {
		rest = strings.TrimLeft(rest[2:], "/")
	}
	if rest == "." {
		return false
	}
	for part := range strings.SplitSeq(rest, "/") {
		if part == "." {
			return true
		}
	}
	return false
}

// dotDot says whether name has ".." as one of its parts.
func dotDot(name string) bool {
	for part := range strings.SplitSeq(name, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// parents checks the directories above name (raw: as the stream has it), which
// must be directories or not made yet; it returns those not made yet, which
// every writer makes (mode 0755, owned by the writer).
func (g *Gate) parents(raw, name string) ([]string, error) {
	var missing []string
	for i := range len(name) {
		if name[i] != '/' {
			continue
		}
		p := name[:i]
		switch m := g.made[p]; {
		case m == nil:
			missing = append(missing, p)
		case m.kind == tar.TypeSymlink:
			return nil, fmt.Errorf("member %q lies under the symlink %q, which an extraction would follow", raw, p)
		case m.kind != tar.TypeDir:
			return nil, fmt.Errorf("member %q lies under %q, which is a file, not a directory", raw, p)
		}
	}
	return missing, nil
}

// replaces checks what hdr, to be made at name, replaces: nothing, a file or a
// symlink, which every writer removes first (as GNU tar does: never writing
// through the symlink), or a directory, which only another directory may
// follow (their metadata is the last one's).
func (g *Gate) replaces(hdr *tar.Header, name string) error {
	m := g.made[name]
	switch {
	case m == nil:
	case m.kind == tar.TypeDir && hdr.Typeflag != tar.TypeDir:
		return fmt.Errorf("member %q would replace the directory of its name; only a directory may follow a directory", hdr.Name)
	case m.kind == tar.TypeSymlink && delayed(m.target):
		// GNU tar holds the place with an empty file and makes the link at its
		// end, over what replaced it whenever that took the file's inode.
		return fmt.Errorf("member %q would replace the symlink to %q made before it, which GNU tar makes only at its end, over the member", hdr.Name, m.target)
	}
	return nil
}

// delayed says whether GNU tar makes a symlink to target only at the end of
// the extraction: an absolute target, or one with "..".
func delayed(target string) bool { return path.IsAbs(target) || dotDot(target) }

// symlinkTarget checks the target of the symlink hdr, made at name: any
// absolute path, which names a place in the container that mounts the volume,
// or a relative one that stays in the volume: what lies outside it is not in
// the backup, and older engines' archive API refuses a link that climbs out
// of the directory it extracts into.
func symlinkTarget(hdr *tar.Header, name string) error {
	t := hdr.Linkname
	switch {
	case t == "":
		return fmt.Errorf("symlink %q has no target", hdr.Name)
	case len(t) > maxTarget:
		return fmt.Errorf("symlink %q has a target of %d bytes; Linux takes up to %d", hdr.Name, len(t), maxTarget)
	case path.IsAbs(t):
		return nil
	}
	if to := path.Join(path.Dir(name), t); to == ".." || strings.HasPrefix(to, "../") {
		return fmt.Errorf("symlink %q points to %q, outside the volume; a relative target must stay in it", hdr.Name, t)
	}
	return nil
}

// linked checks the hard link hdr, made at name, and returns what it links to:
// a regular file the stream made earlier, and still a regular file. A link to
// a directory Linux does not make; one to a symlink or to nothing yet no
// Redmine volume holds, and GNU tar and the other writers would not agree on it.
func (g *Gate) linked(hdr *tar.Header, name string) (*made, string, error) {
	target, err := memberName(hdr.Linkname)
	if err != nil {
		return nil, "", fmt.Errorf("hard link %q: %w", hdr.Name, err)
	}
	m := g.made[target]
	switch {
	case target == name:
		return nil, "", fmt.Errorf("hard link %q names itself", hdr.Name)
	case m == nil:
		return nil, "", fmt.Errorf("hard link %q names %q, which no member before it made", hdr.Name, hdr.Linkname)
	case m.kind == tar.TypeDir:
		return nil, "", fmt.Errorf("hard link %q names the directory %q; only regular files are linked", hdr.Name, hdr.Linkname)
	case m.kind == tar.TypeSymlink:
		return nil, "", fmt.Errorf("hard link %q names the symlink %q; only regular files are linked", hdr.Name, hdr.Linkname)
	}
	return m, target, nil
}

// rebase moves name from under directory from to under directory to. Names
// are compared cleaned, so that "./a", "a" and "a/" are one member and "." and
// "./" the root, as tar writes them either way (tar -cf - . or tar -cf - *).
func rebase(name, from, to string, dir bool) (string, error) {
	rel, ok := under(path.Clean(name), path.Clean(from))
	if !ok {
		return "", fmt.Errorf("member %q is outside %s", name, from)
	}
	if rel == "." {
		return to, nil
	}
	if dir {
		rel += "/"
	}
	return to + rel, nil
}

// under is name relative to dir, both cleaned; ok is false when name is not under it.
func under(name, dir string) (rel string, ok bool) {
	switch {
	case dir == ".":
		return name, true
	case name == dir:
		return ".", true
	}
	return strings.CutPrefix(name, dir+"/")
}
