package theme

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ImageReader reads a path out of an image, as the engine's archive API gives it:
// a tar stream whose entries are named from the path's last element down.
type ImageReader interface {
	ImageTar(ctx context.Context, image, path string) (io.ReadCloser, error)
}

// ImageTarget says where an image keeps its themes and who reads them.
type ImageTarget struct {
	Image     string
	ThemesDir string
	// UID and GID are the ids Redmine runs as in the image.
	UID, GID int
}

// CheckImage checks that image holds theme t identical to want, every file
// readable by Redmine's user; a stale or missing theme names the rebuild.
func CheckImage(ctx context.Context, r ImageReader, target ImageTarget, t Theme, want Tree) error {
	dir := path.Join(target.ThemesDir, t.ID)
	rc, err := r.ImageTar(ctx, target.Image, dir)
	if err != nil {
		return fmt.Errorf("%w: %s is not in image %s (%v): rebuild with 'stackctl up redmine'", ErrImage, dir, target.Image, err)
	}
	defer rc.Close()
	got := Tree{}
	var unreadable []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s from image %s: %w", dir, target.Image, err)
		}
		_, rel, _ := strings.Cut(h.Name, "/")
		rel = strings.TrimSuffix(rel, "/")
		if !readable(h, target.UID, target.GID) {
			unreadable = append(unreadable, path.Join(t.ID, rel))
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		sum := sha256.New()
		if _, err := io.Copy(sum, tr); err != nil {
			return fmt.Errorf("reading %s from image %s: %w", dir, target.Image, err)
		}
		got[rel] = hex.EncodeToString(sum.Sum(nil))
	}
	if diff := want.Diff(got); len(diff) > 0 {
		if len(got) == 0 {
			return fmt.Errorf("%w: %s is not in image %s: rebuild with 'stackctl up redmine'", ErrImage, dir, target.Image)
		}
		return fmt.Errorf("%w: theme %s in image %s differs from themes/%s: %s: rebuild with 'stackctl up redmine'",
			ErrStale, t.ID, target.Image, t.ID, strings.Join(firstN(diff, 5), ", "))
	}
	if len(unreadable) > 0 {
		return fmt.Errorf("%w: Redmine's user (uid %d) cannot read %s in image %s: make the files world-readable "+
			"(chmod -R a+rX themes/%s) and rebuild with 'stackctl up redmine'", ErrImage, target.UID, strings.Join(firstN(unreadable, 5), ", "), target.Image, t.ID)
	}
	return nil
}

// readable reports whether uid:gid can read the entry (and enter it, for a directory).
func readable(h *tar.Header, uid, gid int) bool {
	need := int64(4)
	if h.Typeflag == tar.TypeDir {
		need = 5
	}
	mode := h.Mode
	switch {
	case h.Uid == uid:
		return (mode>>6)&need == need
	case h.Gid == gid:
		return (mode>>3)&need == need
	default:
		return mode&need == need
	}
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
	}
	return s
}
