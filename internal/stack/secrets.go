package stack

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Secret is a value stackctl generates once per stack and hands to containers
// only as a file (compose secrets, *_FILE variables), never as an environment
// value, so it stays out of compose files, image layers and 'docker inspect'.
type Secret struct {
	Name string
	// generate returns a fresh random value.
	generate func() (string, error)
}

var (
	secretDBPassword    = Secret{"db_password", random(32, base64.RawURLEncoding.EncodeToString)}
	secretKeyBase       = Secret{"secret_key_base", random(64, hex.EncodeToString)}
	secretAdminPassword = Secret{"admin_password", random(18, base64.RawURLEncoding.EncodeToString)}
)

// random returns a generator of n random bytes, encoded as text.
func random(n int, encode func([]byte) string) func() (string, error) {
	return func() (string, error) {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return encode(b), nil
	}
}

// envVar is the variable that carries the secret's value to compose, in-process.
func (s Secret) envVar() string { return "STACKCTL_SECRET_" + strings.ToUpper(s.Name) }

// SecretsDir is where a stack's secrets live: <state dir>/<stack>/secrets.
func (d StateDir) SecretsDir(stack string) string {
	return filepath.Join(d.StackDir(stack), "secrets")
}

// SecretPath is the file holding one secret of a stack.
func (d StateDir) SecretPath(stack, name string) string {
	return filepath.Join(d.SecretsDir(stack), name)
}

// EnsureSecrets generates each missing secret of st into its own 0600 file, and
// leaves existing ones alone: they are what the stack's data was created with.
func (d StateDir) EnsureSecrets(st Stack) error {
	for _, s := range st.secrets {
		path := d.SecretPath(st.Name, s.Name)
		fi, err := os.Stat(path)
		if err == nil {
			if fi.Mode().Perm()&0o077 != 0 {
				return fmt.Errorf("%w: secret %s is readable by others (mode %v): chmod 600 %s",
					ErrInvalidInput, path, fi.Mode().Perm(), path)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		v, err := s.generate()
		if err != nil {
			return fmt.Errorf("generating secret %s: %w", s.Name, err)
		}
		if err := writeFileAtomic(path, []byte(v), 0o600); err != nil {
			return fmt.Errorf("writing secret %s: %w", s.Name, err)
		}
	}
	return nil
}

// ReadSecret returns the value of one of a stack's secrets.
func (d StateDir) ReadSecret(stack, name string) (string, error) {
	v, err := ReadSecretFile(d.SecretPath(stack, name))
	if err != nil {
		return "", fmt.Errorf("reading secret %s of %s: %w", name, stack, err)
	}
	return v, nil
}

// ReadSecretFile returns the secret held in path, without surrounding white space.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// secretEnv reads the secrets of st present in dir into their compose variables.
// A missing secret is left out: only creating containers needs them, and Up
// generates them first.
func (st Stack) secretEnv(dir string, env map[string]string) error {
	for _, s := range st.secrets {
		v, err := ReadSecretFile(filepath.Join(dir, s.Name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading secret %s of %s: %w", s.Name, st.Name, err)
		}
		env[s.envVar()] = v
	}
	return nil
}

// WriteSecret replaces the secret in path, atomically and with mode 0600.
func WriteSecret(path, value string) error {
	return writeFileAtomic(path, []byte(value), 0o600)
}
