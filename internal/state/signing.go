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

// SigningKey is the key d signs its archives with, made on first use
// (named stackctl@HOST:DIR), private as every secret in d.
func (d Dir) SigningKey() (*signing.Key, error) {
	comment := keyComment(filepath.Join(string(d), SigningKeyFile))
	path := filepath.Join(string(d), SigningKeyFile)
	k, err := LoadSigningKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, private, err := signing.NewKey(comment)
	if err != nil {
		return nil, fmt.Errorf("making the signing key %s: %w", path, err)
	}
	k.Path = path
	if err := ensureDir(string(d)); err != nil {
		return nil, err
	}
	// Made aside, synced, and put in place only where there is none: of two
	// backups making the key at once, one key wins, and the other signs with it.
	f, err := atomicfile.Create(path, 0o600)
	if err != nil {
		return nil, fmt.Errorf("making the signing key %s: %w", path, err)
	}
	if _, err := f.Write(private); err != nil {
		f.Abort()
		return nil, fmt.Errorf("making the signing key %s: %w", path, err)
	}
	if err := f.CommitNew(); errors.Is(err, fs.ErrExist) {
		return LoadSigningKey(path)
	} else if err != nil {
		return nil, fmt.Errorf("making the signing key %s: %w", path, err)
	}
	if err := writePublic(k); err != nil {
		return nil, err
	}
	return k, nil
}

// writePublic writes k's public half beside it, for the operator to copy:
// the private key is what counts, and the public half is made again from it.
func writePublic(k *signing.Key) error {
	if err := atomicfile.WriteFile(k.Path+".pub", []byte(k.Public.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing %s.pub: %w", k.Path, err)
	}
	return nil
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
	line, err := os.ReadFile(path + ".pub")
	if err == nil {
		if p, err := signing.ParsePublicKey(strings.TrimSpace(string(line))); err == nil && p.Fingerprint() == k.Public.Fingerprint() {
			k.Public.Comment = p.Comment
		}
	} else if errors.Is(err, fs.ErrNotExist) && filepath.Base(path) == SigningKeyFile {
		// A state directory's key whose making stopped before its public half.
		k.Public.Comment = keyComment(path)
		if err := writePublic(k); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// keyComment names the key of the state directory holding path, as the
// comment of its public half.
func keyComment(path string) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("stackctl@%s:%s", host, filepath.Dir(path))
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
	f, err := openChecked(path, guarded)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// guarded refuses a file that another user owns or that others may write:
// whoever writes the trusted-keys file decides which archives are restored.
func guarded(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", errs.ErrInvalidInput, path)
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to you: whoever writes it decides which archives are restored", errs.ErrInvalidInput, path, sys.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: %s may be written by others (mode %v): whoever writes it decides which archives are restored: chmod go-w %s",
			errs.ErrInvalidInput, path, fi.Mode().Perm(), path)
	}
	return nil
}

// TrustedKeysPath is d's trusted-keys file.
func (d Dir) TrustedKeysPath() string { return filepath.Join(string(d), TrustedKeysFile) }
