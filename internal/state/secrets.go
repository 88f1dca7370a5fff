package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
	for _, s := range st.Secrets {
		path := d.SecretPath(st.Name, s.Name)
		fi, err := os.Stat(path)
		if err == nil {
			if fi.Mode().Perm()&0o077 != 0 {
				return fmt.Errorf("%w: secret %s is readable by others (mode %v): chmod 600 %s",
					errs.InvalidInput, path, fi.Mode().Perm(), path)
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

// ReadSecretFile returns the secret held in path, without surrounding white space.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// WriteSecret replaces the secret in path, atomically and with mode 0600.
func WriteSecret(path, value string) error {
	return atomicfile.WriteFile(path, []byte(value), 0o600)
}
