package state

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
)

// SecretsDir is where a stack's secrets live: <state dir>/<stack>/secrets.
func (d Dir) SecretsDir(stack string) string {
	return filepath.Join(d.StackDir(stack), "secrets")
}

// SecretPath is the file holding one secret of a stack.
func (d Dir) SecretPath(stack, name string) string {
	return filepath.Join(d.SecretsDir(stack), name)
}

// EnsureSecrets generates each missing secret of st into its own 0600 file, and
// leaves existing ones alone: they are what the stack's data was created with.
func (d Dir) EnsureSecrets(st catalog.Stack) error {
	if len(st.Secrets) == 0 {
		return nil
	}
	for _, dir := range []string{d.StackDir(st.Name), d.SecretsDir(st.Name)} {
		if err := ensureDir(dir); err != nil {
			return err
		}
	}
	for _, s := range st.Secrets {
		path := d.SecretPath(st.Name, s.Name)
		fi, err := os.Lstat(path)
		if err == nil {
			if err := private(path, fi); err != nil {
				return err
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		v, err := s.Generate()
		if err != nil {
			return fmt.Errorf("generating secret %s: %w", s.Name, err)
		}
		if err := atomicfile.WriteFile(path, []byte(v), 0o600); err != nil {
			return fmt.Errorf("writing secret %s: %w", s.Name, err)
		}
	}
	return nil
}

// ReadSecret returns the value of one of a stack's secrets.
func (d Dir) ReadSecret(stack, name string) (string, error) {
	v, err := ReadSecretFile(d.SecretPath(stack, name))
	if err != nil {
		return "", fmt.Errorf("reading secret %s of %s: %w", name, stack, err)
	}
	return v, nil
}

// SecretValues reads the secrets of st that exist, by name. A missing one is
// left out: only creating containers needs them, and up generates them first.
func (d Dir) SecretValues(st catalog.Stack) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range st.Secrets {
		v, err := ReadSecretFile(d.SecretPath(st.Name, s.Name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading secret %s of %s: %w", s.Name, st.Name, err)
		}
		out[s.Name] = v
	}
	return out, nil
}

// ReadSecretFile returns the secret held in path, without surrounding white
// space, once the file is found private (see private).
func ReadSecretFile(path string) (string, error) {
	b, err := readPrivate(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readPrivate reads path, a file that must be private: see private.
func readPrivate(path string) ([]byte, error) {
	f, err := openPrivate(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// CheckPrivate refuses path unless it is private (see private) and can be
// opened: how a secret file the operator names in the site's settings is
// checked, as stackctl's own secret files are.
func CheckPrivate(path string) error {
	f, err := openPrivate(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// openPrivate opens path for reading once it is found private.
func openPrivate(path string) (*os.File, error) { return openChecked(path, private) }

// openChecked opens path for reading, a regular file and no symbolic link,
// once check passes on what it opened.
func openChecked(path string, check func(string, fs.FileInfo) error) (*os.File, error) {
	// O_NOFOLLOW: a symlink planted in place of the file is not followed.
	// O_NONBLOCK: a FIFO planted in its place does not hang the open.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: %s is a symbolic link, not a regular file", errs.ErrInvalidInput, path)
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		err = check(path, fi)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// private refuses a state or secret file that another user owns, or that its
// group or others may read or write: such a file may have been planted, or
// already leaked.
func private(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", errs.ErrInvalidInput, path)
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to you (uid %d): a file of stackctl's state, or a secret file, must be yours; "+
			"if it is, chown %d %s", errs.ErrInvalidInput, path, sys.Uid, os.Geteuid(), os.Geteuid(), path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: %s is open to others (mode %v): chmod 600 %s", errs.ErrInvalidInput, path, perm, path)
	}
	return nil
}

// SecretKeeper replaces the secret in Path with a new one in two steps, so that
// a password is never lost between an application taking it and the file
// holding it: Propose writes the new value beside the file (Path + ".new",
// mode 0600), Accepted renames it over the file, Refused removes it.
type SecretKeeper struct {
	Path     string
	Generate func() (string, error)
}

// Propose makes a new secret and keeps it aside. One kept aside already, by a
// run that never learnt whether it was taken, may be the working one: it is
// never overwritten.
func (k SecretKeeper) Propose() (string, error) {
	if _, err := os.Lstat(k.Path + ".new"); err == nil {
		return "", fmt.Errorf("an earlier run left a new password in %s.new that may have been taken: "+
			"if logging in with it works, mv %s.new %s; otherwise remove it", k.Path, k.Path, k.Path)
	}
	v, err := k.Generate()
	if err != nil {
		return "", err
	}
	return v, atomicfile.WriteFile(k.Path+".new", []byte(v), 0o600)
}

// Accepted makes the secret kept aside the secret.
func (k SecretKeeper) Accepted(string) error { return atomicfile.Rename(k.Path+".new", k.Path) }

// Refused drops the secret kept aside.
func (k SecretKeeper) Refused() { os.Remove(k.Path + ".new") }
