package state

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/signing"
)

// A state directory makes its signing key once, privately, however many
// backups ask for it at once, and trusts it.
func TestSigningKey(t *testing.T) {
	d := Dir(filepath.Join(t.TempDir(), "state"))
	keys := make([]*signing.Key, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := d.SigningKey()
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k == nil || k.Public.Fingerprint() != keys[0].Public.Fingerprint() {
			t.Fatalf("two keys made: %v", keys)
		}
	}
	path := filepath.Join(string(d), SigningKeyFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the key: %v %v", fi, err)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil || strings.TrimSpace(string(pub)) != keys[0].Public.String() {
		t.Errorf("the public half: %q %v", pub, err)
	}
	again, err := d.SigningKey()
	if err != nil || again.Public.String() != keys[0].Public.String() {
		t.Errorf("loaded again: %v %v", again, err)
	}
	tr, err := d.Trust()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Check(&keys[0].Public); err != nil {
		t.Errorf("its own key: %v", err)
	}
	// A key others may read is refused, as every secret is.
	os.Chmod(path, 0o644)
	if _, err := d.SigningKey(); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("a key open to others: %v", err)
	}
}

// The trusted-keys file is read only when no one else may write it.
func TestTrustedKeys(t *testing.T) {
	d := Dir(t.TempDir())
	other, _, err := signing.NewKey("other host")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(string(d), TrustedKeysFile)
	if err := os.WriteFile(file, []byte("# the old host\n"+other.Public.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := d.Trust()
	if err != nil || tr.Check(&other.Public) != nil {
		t.Fatalf("a listed key: %v", err)
	}
	os.Chmod(file, 0o666)
	if _, err := d.Trust(); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "written by others") {
		t.Errorf("a file others may write: %v", err)
	}
	os.Remove(file)
	os.Symlink("/etc/passwd", file)
	if _, err := d.Trust(); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("a symbolic link: %v", err)
	}
}
