package state

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/stackctl/stackctl/internal/atomicfile"
)

// TLSDir is where a stack's HTTPS keys and certificates live (the ACME
// account key, a self-signed or issued certificate and its key):
// <state dir>/<stack>/tls, private as the secrets beside it are.
func (d Dir) TLSDir(stack string) string {
	return filepath.Join(d.StackDir(stack), "tls")
}

// ReadPrivate returns the content of path, a file that must be private (yours,
// mode 0600 or stricter, not a symbolic link); fs.ErrNotExist when there is none.
func ReadPrivate(path string) ([]byte, error) {
	b, err := readPrivate(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, err
}

// WritePrivate replaces path with data, mode 0600, making its directory
// (0700, refused when open to others) first.
func WritePrivate(path string, data []byte) error {
	if err := ensureDir(filepath.Dir(filepath.Dir(path))); err != nil {
		return err
	}
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
