package offsite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// dirTarget keeps archives as files in a directory of a file system: the local
// one, or an SFTP server's. Both have the same layout, so one code path serves
// them: <dir>/<archive>, <dir>/<archive>.json, and .<name>.partial-<random>
// while a file is written.
type dirTarget struct {
	url   string
	dir   string
	fs    dirFS
	ready bool // dir was seen to exist on this connection's file system
}

// dirFS is what a dirTarget needs of a file system. Paths are slash-separated.
type dirFS interface {
	// connect reaches the file system, when it is remote.
	connect(ctx context.Context) error
	stat(name string) (fs.FileInfo, error)
	readDir(dir string) ([]fs.FileInfo, error)
	open(name string) (file, error)
	remove(name string) error
	// create opens a temporary file beside name; ctx bounds its writing.
	create(ctx context.Context, name string) (tempFile, error)
	// replace puts data under name in one step.
	replace(name string, data []byte) error
	// mkdir is the command that creates dir, for a message.
	mkdir(dir string) string
	close() error
}

// file is a file of a dirFS open for reading.
type file interface {
	io.ReadCloser
	io.ReaderAt
	Stat() (fs.FileInfo, error)
}

// fileReader is an archive opened on a dirTarget.
type fileReader struct {
	file
	size int64
}

func (r fileReader) Size() int64 { return r.size }

// tempFile is a file written under a temporary name beside its final one.
type tempFile interface {
	io.Writer
	// finish ends the writing and says how many bytes the file system holds;
	// they are on its disk once commitNew returns.
	finish() (int64, error)
	// commitNew gives the file its final name; fs.ErrExist when that is taken.
	commitNew() error
	abort() error
}

// maxSidecar bounds a sidecar: it is a small record, never data.
const maxSidecar = 1 << 20

func (t *dirTarget) String() string { return t.url }

func (t *dirTarget) Check(ctx context.Context) error {
	if err := t.fs.connect(ctx); err != nil {
		return err
	}
	if t.ready {
		return nil
	}
	fi, err := t.fs.stat(t.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s: directory %s does not exist: create it (%s) or correct the target", errs.ErrNotFound, t, t.dir, t.fs.mkdir(t.dir))
	case err != nil:
		return t.wrap("reading directory "+t.dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s: %s is not a directory: name a directory for the backups", errs.ErrInvalidInput, t, t.dir)
	}
	t.ready = true
	return nil
}

func (t *dirTarget) Create(ctx context.Context, name string) (Upload, error) {
	stack, err := begin(ctx, t, name)
	if err != nil {
		return nil, err
	}
	// A failed sweep must not stop a backup; the next one sweeps again.
	_, _ = t.Sweep(ctx, stack, DefaultIdle)
	final := path.Join(t.dir, name)
	// Before the stream starts, rather than after a whole backup; Commit checks again.
	if _, err := t.fs.stat(final); err == nil {
		return nil, exists(t, name)
	}
	f, err := t.fs.create(ctx, final)
	if err != nil {
		return nil, t.wrap("creating a temporary file for "+name, err)
	}
	return &dirUpload{t: t, ctx: ctx, name: name, f: f, tally: newTally()}, nil
}

func (t *dirTarget) Open(ctx context.Context, name string) (Reader, error) {
	if _, err := begin(ctx, t, name); err != nil {
		return nil, err
	}
	f, err := t.fs.open(path.Join(t.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noArchive(t, name)
	}
	if err != nil {
		return nil, t.wrap("opening "+name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, t.wrap("opening "+name, err)
	}
	return fileReader{file: f, size: fi.Size()}, nil
}

func (t *dirTarget) List(ctx context.Context, stack string) ([]Archive, error) {
	files, err := t.files(ctx)
	if err != nil {
		return nil, err
	}
	var list []Archive
	for _, fi := range files {
		if a, ok := archiveOf(fi.Name(), stack, fi.Size()); ok && fi.Mode().IsRegular() {
			list = append(list, a)
		}
	}
	sortArchives(list)
	return list, nil
}

func (t *dirTarget) Remove(ctx context.Context, name string) error {
	if _, err := begin(ctx, t, name); err != nil {
		return err
	}
	final := path.Join(t.dir, name)
	err := t.fs.remove(final)
	if errors.Is(err, fs.ErrNotExist) {
		return noArchive(t, name)
	}
	if err != nil {
		return t.wrap("removing "+name, err)
	}
	if err := t.fs.remove(final + SidecarSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return t.wrap("removing the sidecar of "+name, err)
	}
	return nil
}

func (t *dirTarget) ReadSidecar(ctx context.Context, name string) ([]byte, error) {
	if _, err := begin(ctx, t, name); err != nil {
		return nil, err
	}
	r, err := t.fs.open(path.Join(t.dir, name+SidecarSuffix))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, noSidecar(t, name)
	}
	if err != nil {
		return nil, t.wrap("opening the sidecar of "+name, err)
	}
	defer r.Close()
	return readSidecar(t, name, r)
}

func (t *dirTarget) WriteSidecar(ctx context.Context, name string, data []byte) error {
	if err := checkSidecar(ctx, t, name, data); err != nil {
		return err
	}
	if err := t.fs.replace(path.Join(t.dir, name+SidecarSuffix), data); err != nil {
		return t.wrap("writing the sidecar of "+name, err)
	}
	return nil
}

func (t *dirTarget) Sweep(ctx context.Context, stack string, idle time.Duration) ([]string, error) {
	files, err := t.files(ctx)
	if err != nil {
		return nil, err
	}
	var swept []string
	for _, fi := range files {
		name, ok := partialOf(fi.Name())
		if !ok || !sweepable(name, stack) || !fi.Mode().IsRegular() || time.Since(fi.ModTime()) < idle {
			continue
		}
		if err := t.fs.remove(path.Join(t.dir, fi.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return swept, t.wrap("removing "+fi.Name(), err)
		}
		swept = append(swept, fi.Name())
	}
	return swept, nil
}

// files lists the target's directory.
func (t *dirTarget) files(ctx context.Context) ([]fs.FileInfo, error) {
	if err := t.Check(ctx); err != nil {
		return nil, err
	}
	files, err := t.fs.readDir(t.dir)
	if err != nil {
		return nil, t.wrap("listing "+t.dir, err)
	}
	return files, nil
}

func (t *dirTarget) Close() error {
	t.ready = false
	return t.fs.close()
}

// wrap names the target and what it was doing; the file system's error says why.
func (t *dirTarget) wrap(doing string, err error) error {
	return fmt.Errorf("%s: %s: %w", t, doing, err)
}

// dirUpload streams an archive into a tempFile, counting and hashing it.
type dirUpload struct {
	t     *dirTarget
	ctx   context.Context
	name  string
	f     tempFile
	tally *tally
	done  bool
}

func (u *dirUpload) Write(p []byte) (int, error) {
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := u.f.Write(p)
	u.tally.add(p[:n])
	if err != nil {
		return n, u.t.wrap("writing "+u.name, err)
	}
	return n, nil
}

func (u *dirUpload) Commit(ctx context.Context) (Committed, error) {
	if u.done {
		return Committed{}, fmt.Errorf("%s: upload of %s is already over", u.t, u.name)
	}
	err := errors.Join(u.ctx.Err(), ctx.Err())
	var held int64
	if err == nil {
		if held, err = u.f.finish(); err != nil {
			err = u.t.wrap("finishing "+u.name, err)
		} else if held != u.tally.n {
			err = mismatch(u.t, u.name, u.tally.n, held)
		}
	}
	if err == nil {
		err = u.f.commitNew()
		if errors.Is(err, fs.ErrExist) {
			err = exists(u.t, u.name)
		} else if err != nil {
			err = u.t.wrap("giving "+u.name+" its name", err)
		}
	}
	if err != nil {
		u.Abort()
		return Committed{}, err
	}
	u.done = true
	return u.tally.committed(u.name), nil
}

func (u *dirUpload) Abort() error {
	if u.done {
		return nil
	}
	u.done = true
	if err := u.f.abort(); err != nil {
		return u.t.wrap("removing the unfinished upload of "+u.name, err)
	}
	return nil
}

// The errors every target words alike.

func exists(t Target, name string) error {
	return fmt.Errorf("%s: archive %s exists already: wait a second and run the backup again: %w", t, name, fs.ErrExist)
}

func noArchive(t Target, name string) error {
	return fmt.Errorf("%w: %s: no archive %s: check the name against the target's list of archives", errs.ErrNotFound, t, name)
}

func noSidecar(t Target, name string) error {
	return fmt.Errorf("%w: %s: archive %s has no sidecar", errs.ErrNotFound, t, name)
}

// checkSidecar begins the writing of a sidecar.
func checkSidecar(ctx context.Context, t Target, name string, data []byte) error {
	if len(data) > maxSidecar {
		return fmt.Errorf("%w: %s: sidecar of %s: %d bytes, more than the %d a sidecar may hold", errs.ErrInvalidInput, t, name, len(data), maxSidecar)
	}
	_, err := begin(ctx, t, name)
	return err
}

func readSidecar(t Target, name string, r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSidecar+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the sidecar of %s: %w", t, name, err)
	}
	if len(data) > maxSidecar {
		return nil, fmt.Errorf("%s: sidecar of %s is larger than %d bytes: it is not one stackctl wrote", t, name, maxSidecar)
	}
	return data, nil
}

func sortArchives(list []Archive) {
	slices.SortFunc(list, func(a, b Archive) int { return strings.Compare(a.Name, b.Name) })
}
