package offsite

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/errs"
)

// Location is where one archive is: an archive on a target, or a file on the
// local disk of any name (an operator may verify or restore a copy renamed by
// hand, which no target would list).
type Location struct {
	// Target holds the archive; nil for a local file.
	Target Target
	// Name is the archive's name on Target, or the local file's base name.
	Name string
	// file is the local file's absolute path.
	file string
}

// ParseLocation reads an archive's location: a local path, or a target's URL
// (see Parse) whose path ends in the archive's name, options after it:
//
//	sftp://user@host[:port]/path/<archive>?options
//	s3://bucket/prefix/<archive>?options
//
// It reads no file and connects to nothing.
func ParseLocation(raw string) (Location, error) {
	if raw == "" {
		return Location{}, fmt.Errorf("%w: no archive given: pass a file, or an archive's sftp:// or s3:// URL", errs.ErrInvalidInput)
	}
	if !strings.Contains(raw, "://") {
		file, err := filepath.Abs(raw)
		if err != nil {
			return Location{}, fmt.Errorf("%w: archive %s: %v", errs.ErrInvalidInput, raw, err)
		}
		return Location{Name: filepath.Base(file), file: file}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, fmt.Errorf("%w: archive %s: %v: write it as sftp://user@host/path/ARCHIVE or s3://bucket/prefix/ARCHIVE", errs.ErrInvalidInput, redact(raw), err)
	}
	name := path.Base(u.Path)
	if _, _, ok := archive.ParseFileName(name); !ok {
		return Location{}, fmt.Errorf("%w: %s does not end in an archive's name (<stack>-<UTC time>%s[.age]): add the name 'stackctl backups --to URL' lists",
			errs.ErrInvalidInput, redact(raw), archive.Suffix)
	}
	u.Path, u.RawPath = path.Dir(u.Path), ""
	t, err := Parse(u.String())
	if err != nil {
		return Location{}, err
	}
	return Location{Target: t, Name: name}, nil
}

// ArchiveLocation is the location of the archive called name on the target
// written as target (a directory or URL, options and all, as Parse takes it),
// which ParseLocation reads back: what an operator passes to verify or
// restore the archive. target has been parsed already.
func ArchiveLocation(target, name string) string {
	if !strings.Contains(target, "://") {
		if abs, err := filepath.Abs(target); err == nil {
			target = abs
		}
		return filepath.Join(target, name)
	}
	u, err := url.Parse(target)
	if err != nil {
		return target + "/" + name
	}
	if u.Scheme == "sftp" && (u.Path == "" || u.Path == "/~") {
		// The login directory: "sftp://user@host/<name>" would be the server's root.
		u.Path = "/~"
	}
	u.Path, u.RawPath = strings.TrimSuffix(u.Path, "/")+"/"+name, ""
	return u.String()
}

// String is the archive's absolute path, or its URL without options.
func (l Location) String() string {
	if l.Target == nil {
		return l.file
	}
	return strings.TrimSuffix(l.Target.String(), "/") + "/" + l.Name
}

// Check makes sure the archive's target can be read (see Target.Check), so
// that a restore can fail before it touches the stack; a local file is looked
// for only when opened.
func (l Location) Check(ctx context.Context) error {
	if l.Target == nil {
		return nil
	}
	return l.Target.Check(ctx)
}

// Open reads the archive; errs.ErrNotFound when there is none.
func (l Location) Open(ctx context.Context) (Reader, error) {
	if l.Target != nil {
		return l.Target.Open(ctx, l.Name)
	}
	f, err := os.Open(l.file)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errs.ErrNotFound, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return fileReader{file: f, size: fi.Size()}, nil
}

// Close ends the target's connection, if any.
func (l Location) Close() error {
	if l.Target == nil {
		return nil
	}
	return l.Target.Close()
}

// LocalDir is the directory a local directory target keeps its archives in;
// ok is false for any other target.
func LocalDir(t Target) (dir string, ok bool) {
	d, ok := t.(*dirTarget)
	if !ok {
		return "", false
	}
	if _, local := d.fs.(localFS); !local {
		return "", false
	}
	return d.dir, true
}
