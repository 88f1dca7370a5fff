package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Retar copies a tar stream, moving every member from under prefix from to
// under prefix to: the engine names a volume's content after its mount point,
// the archive relative to the volume's root, and a restore after the mount point again.
// It refuses a member that an extraction would write outside the volume (see EachMember).
func Retar(dst io.Writer, src io.Reader, from, to string) error {
	tw := tar.NewWriter(dst)
	err := EachMember(src, func(hdr *tar.Header, content io.Reader) error {
		var err error
		if hdr.Name, err = rebase(hdr.Name, from, to); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeLink {
			if hdr.Linkname, err = rebase(hdr.Linkname, from, to); err != nil {
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

// EachMember reads a volume's tar stream to its end and calls fn with every
// member's header and content (which fn may leave unread). It refuses a member
// that an extraction would write outside the volume: see contained.
func EachMember(src io.Reader, fn func(hdr *tar.Header, content io.Reader) error) error {
	tr := tar.NewReader(src)
	symlinks := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := contained(hdr.Name, symlinks); err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeSymlink:
			symlinks[path.Clean(hdr.Name)] = true
		case tar.TypeLink:
			if err := contained(hdr.Linkname, symlinks); err != nil {
				return err
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

func rebase(name, from, to string) (string, error) {
	if name+"/" == from {
		return to, nil
	}
	rest, ok := strings.CutPrefix(name, from)
	if !ok {
		return "", fmt.Errorf("member %q is outside %s", name, from)
	}
	return to + rest, nil
}
