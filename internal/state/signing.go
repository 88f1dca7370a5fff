package state

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/signing"
)

// Files of a state directory that say where its archives come from.
const (
	// SigningKeyFile is the key the state directory signs its archives with;
	// its public half is beside it as SigningKeyFile.pub, an authorized_keys line.
	SigningKeyFile = "signing-key"
	// TrustedKeysFile lists the keys, besides its own, whose archives the
	// state directory restores: one authorized_keys line each.
	TrustedKeysFile = "trusted-keys"
)

// SigningKey is the key d signs its archives with, made (named comment) on
// first use, private as every secret in d.
func (d Dir) SigningKey(comment string) (*signing.Key, error) {
	path := filepath.Join(string(d), SigningKeyFile)
	k, err := LoadSigningKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, private, err := signing.NewKey(comment)
	if err != nil {
		return nil, err
	}
	k.Path = path
	if err := ensureDir(string(d)); err != nil {
		return nil, err
	}
	// Written aside under a name of its own and linked into place: of two
	// backups making the key at once, one key wins, and the other signs with it.
	tmp, err := writeAside(string(d), SigningKeyFile+".new.*", private)
	if err != nil {
		return nil, fmt.Errorf("making the signing key %s: %w", path, err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); errors.Is(err, fs.ErrExist) {
		return LoadSigningKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("making the signing key %s: %w", path, err)
	}
	// The public half, for the operator to copy; the private key is what counts.
	if err := atomicfile.WriteFile(path+".pub", []byte(k.Public.String()+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s.pub: %w", path, err)
	}
	return k, nil
}

// LoadSigningKey reads an OpenSSH ed25519 private key without a passphrase
// from path, which must be private (the operator's own key, or a state
// directory's); fs.ErrNotExist when there is none. The comment comes from
// the public half beside it, when there is one.
func LoadSigningKey(path string) (*signing.Key, error) {
	data, err := readPrivate(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("signing key: %w", err)
	}
	k, err := signing.ParseKey(data, path)
	if err != nil {
		return nil, err
	}
	if line, err := os.ReadFile(path + ".pub"); err == nil {
		if p, err := signing.ParsePublicKey(string(trimNewline(line))); err == nil && p.Fingerprint() == k.Public.Fingerprint() {
			k.Public.Comment = p.Comment
		}
	}
	return k, nil
}

// writeAside writes data to a new private file in dir named after pattern
// (as os.CreateTemp takes it), synced, and returns its path.
func writeAside(dir, pattern string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Trust is whose archives d restores: its own key, once made, and the keys
// its trusted-keys file lists. That file need not be secret, but whoever may
// write it decides what is restored: it must be yours and not writable by others.
func (d Dir) Trust() (*signing.Trust, error) {
	var own *signing.PublicKey
	if k, err := LoadSigningKey(filepath.Join(string(d), SigningKeyFile)); err == nil {
		own = &k.Public
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	path := filepath.Join(string(d), TrustedKeysFile)
	data, err := readGuarded(path)
	if errors.Is(err, fs.ErrNotExist) {
		return signing.NewTrust(own, path, nil), nil
	}
	if err != nil {
		return nil, err
	}
	listed, err := signing.ParseTrustedKeys(data, path)
	if err != nil {
		return nil, err
	}
	return signing.NewTrust(own, path, listed), nil
}

// readGuarded reads path, a file that others may read but only you may write.
func readGuarded(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%w: %s is a symbolic link, not a regular file", errs.ErrInvalidInput, path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", errs.ErrInvalidInput, path)
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%w: %s belongs to uid %d, not to you: whoever writes it decides which archives are restored", errs.ErrInvalidInput, path, sys.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("%w: %s may be written by others (mode %v): whoever writes it decides which archives are restored: chmod go-w %s",
			errs.ErrInvalidInput, path, fi.Mode().Perm(), path)
	}
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// TrustedKeysPath is d's trusted-keys file.
func (d Dir) TrustedKeysPath() string { return filepath.Join(string(d), TrustedKeysFile) }
