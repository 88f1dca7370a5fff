package offsite

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/errs"
)

// newLocal is the target of a local directory, which must exist (see Parse).
func newLocal(raw string) (Target, error) {
	dir, err := filepath.Abs(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: backup directory %s: %v", errs.ErrInvalidInput, raw, err)
	}
	return &dirTarget{url: dir, dir: dir, fs: localFS{}}, nil
}

// localFS is the local file system; atomicfile writes to it.
type localFS struct{}

func (localFS) connect(context.Context) error         { return nil }
func (localFS) stat(name string) (fs.FileInfo, error) { return os.Stat(name) }
func (localFS) remove(name string) error              { return os.Remove(name) }
func (localFS) mkdir(dir string) string               { return "mkdir -p " + dir }
func (localFS) close() error                          { return nil }

func (localFS) readDir(dir string) ([]fs.FileInfo, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdir(-1)
}

func (localFS) open(name string) (file, error) { return os.Open(name) }

func (localFS) create(_ context.Context, name string) (tempFile, error) {
	// 0600: an archive holds the whole tracker.
	f, err := atomicfile.Create(name, 0o600)
	if err != nil {
		return nil, err
	}
	return localTemp{f}, nil
}

func (localFS) replace(name string, data []byte) error {
	return atomicfile.WriteFile(name, data, 0o600)
}

type localTemp struct{ *atomicfile.File }

func (f localTemp) finish() (int64, error) { return f.Size() }
func (f localTemp) commitNew() error       { return f.CommitNew() }
func (f localTemp) abort() error           { f.Abort(); return nil }
