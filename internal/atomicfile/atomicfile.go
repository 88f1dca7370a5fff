package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Write writes path through write: beside it under a temporary name
// (".<name>.partial-*") with mode, synced, renamed into place, and the directory
// synced so that the rename lasts. No reader ever sees a partial file under path;
// a failed write removes its temporary file, a killed one leaves only that.
func Write(path string, mode fs.FileMode, write func(io.Writer) error) error {
	f, err := Create(path, mode)
	if err != nil {
		return err
	}
	// The *os.File itself, so that io.Copy into it keeps its fast paths.
	if err := write(f.f); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// File is a file being written beside path under a temporary name, for a writer
// that cannot hand Write a callback (an upload the caller streams into); it
// appears under path only on Commit.
type File struct {
	f    *os.File
	path string
	done bool
}

// Create starts writing path as Write does, and hands back the open file.
func Create(path string, mode fs.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file beside %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &File{f: f, path: path}, nil
}

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }

// Size is what the temporary file holds, by the file system's count.
func (f *File) Size() (int64, error) {
	fi, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Commit syncs the file and renames it to its path, replacing what is there.
func (f *File) Commit() error { return f.commit(Rename) }

// CommitNew is Commit that refuses to replace a file already at path: the error
// then wraps fs.ErrExist, and the temporary file is removed.
func (f *File) CommitNew() error { return f.commit(renameNew) }

func (f *File) commit(rename func(from, to string) error) error {
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	err := f.f.Sync()
	if err != nil {
		err = fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return rename(tmp, f.path)
}

// Abort closes and removes the temporary file; after Commit it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.f.Close()
	os.Remove(f.f.Name())
}

// Rename renames from to to and syncs the directory, so that the rename lasts.
func Rename(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	syncDir(to)
	return nil
}

// renameNew is Rename that refuses to replace to, in one step where the file
// system can (renameat2's RENAME_NOREPLACE); where it cannot, a look first.
func renameNew(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		syncDir(to)
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%s: %w", to, fs.ErrExist)
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS):
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s: %w", to, fs.ErrExist)
	}
	return Rename(from, to)
}

func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// WriteFile writes data to path as Write does, creating its directory (mode
// 0700: everything stackctl keeps this way is private) when missing.
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return Write(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
