package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Retar copies a tar stream, moving every member from under directory from to
// under directory to ("./" is the root): the engine names a volume's content
// after its mount point, the archive relative to the volume's root, and a
// restore after the mount point again. It refuses what EachMember refuses, with
// limit bounding the content's expanded size (negative: no bound).
func Retar(dst io.Writer, src io.Reader, from, to string, limit int64) error {
	tw := tar.NewWriter(dst)
	err := EachMember(src, limit, func(hdr *tar.Header, content io.Reader) error {
		var err error
		if hdr.Name, err = rebase(hdr.Name, from, to, hdr.Typeflag == tar.TypeDir); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeLink {
			if hdr.Linkname, err = rebase(hdr.Linkname, from, to, false); err != nil {
				return err
			}
		}
		// Only what the gate looked at goes on: no PAX records or extended
		// attributes (security.capability, say) that an extraction would apply.
		out := &tar.Header{
			Typeflag: hdr.Typeflag, Name: hdr.Name, Linkname: hdr.Linkname, Size: hdr.Size, Mode: hdr.Mode,
			Uid: hdr.Uid, Gid: hdr.Gid, Uname: hdr.Uname, Gname: hdr.Gname, ModTime: hdr.ModTime,
		}
		if err := tw.WriteHeader(out); err != nil {
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

// EachMember reads a volume's tar stream to its end and calls fn with every
// member's header and content (which fn may leave unread). It is the one gate
// for verify-backup and restore alike: it refuses a member that an extraction
// would write outside the volume (see contained), one that is not a plain file,
// directory or link (see plain), and content that expands beyond limit bytes
// (negative: no bound), which is how a sparse member would fill a disk.
func EachMember(src io.Reader, limit int64, fn func(hdr *tar.Header, content io.Reader) error) error {
	tr := tar.NewReader(src)
	symlinks := map[string]bool{}
	var expanded int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := plain(hdr); err != nil {
			return err
		}
		if err := contained(hdr.Name, symlinks); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			// Overflow-safe: a header may claim any size.
			if limit >= 0 && hdr.Size > limit-expanded {
				return fmt.Errorf("member %q takes the content past the %d bytes the entry holds", hdr.Name, limit)
			}
			expanded += hdr.Size
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			symlinks[path.Clean(hdr.Name)] = true
		case tar.TypeLink:
			if err := contained(hdr.Linkname, symlinks); err != nil {
				return err
			}
			// A hard link to a symlink is that symlink under another name.
			if symlinks[path.Clean(hdr.Linkname)] {
				symlinks[path.Clean(hdr.Name)] = true
			}
		}
		if err := fn(hdr, tr); err != nil {
			return err
		}
	}
}

// contained refuses a member name that an extraction would resolve outside the
// volume: an absolute one, one that climbs out with "..", or one under a symlink
// that the same stream made earlier, which the extraction would follow. An
// archive's checksums prove it intact, not who made it: anyone holding the age
// recipient can write one.
func contained(name string, symlinks map[string]bool) error {
	clean := path.Clean(name)
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("member %q lies outside the volume", name)
	}
	for i := range len(clean) {
		if clean[i] == '/' && symlinks[clean[:i]] {
			return fmt.Errorf("member %q lies under the symlink %q, which an extraction would follow", name, clean[:i])
		}
	}
	return nil
}

// plain refuses what a volume of a tracker has no business holding and a
// restore would have to be trusted with: device nodes (the volume writer has no
// capability to make them), setuid and setgid bits, sparse members, whose size
// on disk the archive does not show, global headers, and a root that is not a
// directory.
func plain(hdr *tar.Header) error {
	if path.Clean(hdr.Name) == "." && hdr.Typeflag != tar.TypeDir {
		return fmt.Errorf("member %q stands for the volume's root but is not a directory", hdr.Name)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
	case tar.TypeXGlobalHeader:
		// GNU tar applies its records (a path, a size) to every later member,
		// which Go's reader, and so this gate, does not see.
		return fmt.Errorf("the stream has a global PAX header, which would change members this check does not see")
	case tar.TypeChar, tar.TypeBlock:
		return fmt.Errorf("member %q is a device node", hdr.Name)
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
	if hdr.Mode&(04000|02000) != 0 {
		return fmt.Errorf("member %q has the setuid or setgid bit (mode %o)", hdr.Name, hdr.Mode&0o7777)
	}
	return nil
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
