package volume

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/engine"
)

// openDirect opens each of volumes (compose key → engine name) where the
// engine keeps it on this host, for writing without the helper: the local
// driver's mount point, opened as an os.Root, so that no member of a stream,
// symbolic links included, can reach outside it. That the helper, which
// mounts the volumes, sees what is written there is found out, not assumed
// (a remote engine, one in a VM or in its own mount namespace, a volume whose
// driver mounts it elsewhere): a marker file written here must show there. It
// returns nil when any volume cannot be written so.
func openDirect(ctx context.Context, e *engine.Engine, helper string, volumes map[string]string) map[string]*os.Root {
	roots := map[string]*os.Root{}
	closeAll := func() map[string]*os.Root {
		for _, r := range roots {
			r.Close()
		}
		return nil
	}
	for key, name := range volumes {
		v, err := e.API.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		if err != nil || v.Volume.Driver != "local" || v.Volume.Mountpoint == "" {
			return closeAll()
		}
		root, err := os.OpenRoot(v.Volume.Mountpoint)
		if err != nil {
			return closeAll()
		}
		roots[key] = root
		if !seenByHelper(ctx, e, helper, key, root) {
			return closeAll()
		}
	}
	return roots
}

// seenByHelper writes a marker file into root and says whether the helper
// sees it in the volume it mounts as key; the marker is removed either way.
func seenByHelper(ctx context.Context, e *engine.Engine, helper, key string, root *os.Root) bool {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	marker := ".stackctl-direct-" + hex.EncodeToString(b)
	if err := root.WriteFile(marker, nil, 0o600); err != nil {
		return false
	}
	defer root.Remove(marker)
	return e.Exec(ctx, helper, []string{"test", "-e", path.Join(MountRoot, key, marker)}, engine.ExecOptions{}) == nil
}

// files writes one volume's members straight into its directory, as GNU tar
// extracts as root with --numeric-owner: every member's owner, mode and
// modification time, directories' times set by Close, once nothing more is
// written into them. It writes what archive's gate admitted (WriteVolume and
// WriteTar ask it), and no more: a member replaces what its name held, as GNU
// tar does, and never writes through a symlink; the gate refuses the rest. The
// os.Root holds the line again: no name or link leads outside the volume.
type files struct {
	root *os.Root
	dirs []dirTime
	buf  []byte
}

type dirTime struct {
	name string
	at   time.Time
}

// volumeFiles returns the writer of volume key's files, when stackctl writes
// the volumes itself (see Direct).
func (x *Writer) volumeFiles(key string) (*files, bool) {
	root, ok := x.roots[key]
	if !ok {
		return nil, false
	}
	return &files{root: root, buf: make([]byte, 1<<20)}, true
}

// Write writes the member hdr, named relative to the volume's root ("./a/b"
// or "a/b"; hard links name their target so too), with its content.
func (f *files) Write(hdr *tar.Header, content io.Reader) error {
	rel := volumePath(hdr.Name)
	if err := f.write(rel, hdr, content); err != nil {
		return fmt.Errorf("writing %s: %w", hdr.Name, err)
	}
	if hdr.Typeflag == tar.TypeDir {
		f.dirs = append(f.dirs, dirTime{rel, hdr.ModTime})
	}
	return nil
}

// Close sets the directories' times.
func (f *files) Close() error {
	for _, d := range f.dirs {
		if err := f.root.Chtimes(d.name, d.at, d.at); err != nil {
			return fmt.Errorf("setting the times of %s: %w", d.name, err)
		}
	}
	return nil
}

// volumePath is a member's name as a path in the volume's root.
func volumePath(name string) string { return path.Clean("./" + name) }

// extract writes content, a tar stream whose members are named under the
// volumes' keys ("key/a/b"), into the volumes' directories, every member
// through its volume's gate.
func (x *Writer) extract(ctx context.Context, content io.Reader) error {
	type gated struct {
		files *files
		gate  *archive.Gate
	}
	volumes := map[string]gated{}
	tr := tar.NewReader(content)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		key, rel, _ := strings.Cut(strings.TrimPrefix(hdr.Name, "./"), "/")
		v, ok := volumes[key]
		if !ok {
			f, ok := x.volumeFiles(key)
			if !ok {
				return fmt.Errorf("member %q is in no volume being written", hdr.Name)
			}
			v = gated{f, archive.NewGate(archive.NoLimit)}
			volumes[key] = v
		}
		member := *hdr
		member.Name = rel
		if hdr.Typeflag == tar.TypeLink {
			linkKey, target, _ := strings.Cut(strings.TrimPrefix(hdr.Linkname, "./"), "/")
			if linkKey != key {
				return fmt.Errorf("member %q is a hard link to %q, in another volume", hdr.Name, hdr.Linkname)
			}
			member.Linkname = target
		}
		admitted, err := v.gate.Admit(&member)
		if err != nil {
			return err
		}
		if err := v.files.Write(admitted, tr); err != nil {
			return err
		}
	}
	for _, v := range volumes {
		if err := v.files.Close(); err != nil {
			return err
		}
	}
	return nil
}

// write writes one member at rel.
func (f *files) write(rel string, hdr *tar.Header, content io.Reader) error {
	root := f.root
	if err := mkdirs(root, path.Dir(rel)); err != nil {
		return err
	}
	mode := fs.FileMode(hdr.Mode) & fs.ModePerm
	if hdr.Mode&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if rel != "." {
			// A directory replaces a file or a symlink of its name, as GNU tar's does.
			if fi, err := root.Lstat(rel); err == nil && !fi.IsDir() {
				if err := root.Remove(rel); err != nil {
					return err
				}
			}
			if err := root.Mkdir(rel, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
		}
	case tar.TypeReg:
		// Removed first, as GNU tar does: opening a symlink would write
		// through it, and truncating a file its hard links too.
		if err := root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		w, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(w, content, f.buf)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	case tar.TypeSymlink:
		_ = root.Remove(rel)
		if err := root.Symlink(hdr.Linkname, rel); err != nil {
			return err
		}
		if err := root.Lchown(rel, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		return lchtimes(root, rel, hdr.ModTime)
	case tar.TypeLink:
		_ = root.Remove(rel)
		// A hard link shares the inode, owner, mode and times of what it names.
		return root.Link(volumePath(hdr.Linkname), rel)
	default:
		return fmt.Errorf("member type %q is not written", hdr.Typeflag)
	}
	if err := root.Lchown(rel, hdr.Uid, hdr.Gid); err != nil {
		return err
	}
	// After the owner: chown clears set-ID bits, and the mode is the member's, not the umask's.
	if err := root.Chmod(rel, mode); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeReg {
		return root.Chtimes(rel, hdr.ModTime, hdr.ModTime)
	}
	return nil
}

// mkdirs makes dir and the directories above it that are missing, mode 0755
// whatever the umask, as GNU tar in the helper (umask 022) and the archive API
// make the directories a stream implies without naming them.
func mkdirs(root *os.Root, dir string) error {
	if dir == "." {
		return nil
	}
	switch fi, err := root.Stat(dir); {
	case err == nil && fi.IsDir():
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := mkdirs(root, path.Dir(dir)); err != nil {
		return err
	}
	if err := root.Mkdir(dir, 0o755); err != nil {
		return err
	}
	return root.Chmod(dir, 0o755)
}

// lchtimes sets the times of the symbolic link rel in root, not of what it
// names (os.Root follows links): through its parent directory, opened in root.
func lchtimes(root *os.Root, rel string, at time.Time) error {
	dir, err := root.Open(path.Dir(rel))
	if err != nil {
		return err
	}
	defer dir.Close()
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(at.UnixNano())}
	if err := unix.UtimesNanoAt(int(dir.Fd()), path.Base(rel), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "lchtimes", Path: rel, Err: err}
	}
	return nil
}
