package signing

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/stackctl/stackctl/internal/errs"
)

// ErrUntrusted: an archive is unsigned, or signed by a key not trusted here.
var ErrUntrusted = errors.New("backup archive not signed by a trusted key")

// Trust is whose archives may be restored: a state directory's own key, the
// keys its trusted-keys file lists, and those the operator names for one
// command; unsigned archives only when the operator says so.
type Trust struct {
	// Unsigned accepts an archive with no signature (one made before stackctl
	// signed its archives): it is still checked for damage.
	Unsigned bool
	// listFile is where the listed keys come from, for messages.
	listFile string
	own      string
	keys     map[string]bool // by fingerprint
	listed   int
	given    int
	// anyone: every signer, and no signature, is accepted.
	anyone bool
}

// AnySigner trusts every archive, signed or not: for what copies or lists
// archives, never for what restores one.
func AnySigner() *Trust { return &Trust{Unsigned: true, anyone: true} }

// NewTrust trusts own (nil: none yet) and the keys listed in listFile.
func NewTrust(own *PublicKey, listFile string, listed []PublicKey) *Trust {
	t := &Trust{listFile: listFile, keys: map[string]bool{}}
	if own != nil {
		t.own = own.Fingerprint()
		t.keys[t.own] = true
	}
	for _, k := range listed {
		t.keys[k.Fingerprint()] = true
	}
	t.listed = len(listed)
	return t
}

// ParseTrustedKeys reads a trusted-keys file's content: one authorized_keys
// line each, '#' starting a comment; path names it in errors.
func ParseTrustedKeys(data []byte, path string) ([]PublicKey, error) {
	var out []PublicKey
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParsePublicKey(line)
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %v", errs.ErrInvalidInput, path, n+1, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// Add trusts the key spec names, for this command: its fingerprint
// (SHA256:…, as a refusal prints it), its authorized_keys line, or a file
// holding that line (a .pub file).
func (t *Trust) Add(spec string) error {
	spec = strings.TrimSpace(spec)
	if t.keys == nil {
		t.keys = map[string]bool{}
	}
	if fp, ok := strings.CutPrefix(spec, "SHA256:"); ok {
		if len(fp) != 43 || strings.Trim(fp, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != "" {
			return fmt.Errorf("%w: --trust-key %s: not a key's SHA-256 fingerprint (SHA256: and 43 characters)", errs.ErrInvalidInput, spec)
		}
		t.keys[spec] = true
		t.given++
		return nil
	}
	line := spec
	if !strings.HasPrefix(spec, "ssh-") {
		b, err := os.ReadFile(spec)
		if err != nil {
			return fmt.Errorf("%w: --trust-key %s: neither a fingerprint (SHA256:…), a public key line nor a readable file: %v", errs.ErrInvalidInput, spec, err)
		}
		line = strings.TrimSpace(string(b))
	}
	k, err := ParsePublicKey(line)
	if err != nil {
		return fmt.Errorf("%w: --trust-key %s: %v", errs.ErrInvalidInput, spec, err)
	}
	t.keys[k.Fingerprint()] = true
	t.given++
	return nil
}

// Check says whether an archive signed by signer (nil: unsigned) may be restored.
func (t *Trust) Check(signer *PublicKey) error {
	if t.anyone {
		return nil
	}
	if signer == nil {
		if t.Unsigned {
			return nil
		}
		return fmt.Errorf("%w: the archive is not signed (made by a stackctl from before archives were signed, or not by stackctl): "+
			"if you know where it comes from, pass --trust-unsigned", ErrUntrusted)
	}
	fp := signer.Fingerprint()
	if t.keys[fp] {
		return nil
	}
	return fmt.Errorf("%w: the archive is signed by key %s, which is not trusted here (%s): "+
		"if a stackctl of yours made it (another host, another state directory), first check that 'stackctl signing-key' prints that fingerprint there "+
		"(the archive's own word for where it comes from proves nothing), then pass --trust-key %s, or add that key's line to %s",
		ErrUntrusted, signer.Claimed(), t.describe(), fp, t.trustedKeysPath())
}

// describe says what is trusted, for a refusal.
func (t *Trust) describe() string {
	var parts []string
	if t.own != "" {
		parts = append(parts, "this state directory's own key "+t.own)
	}
	if t.listed > 0 {
		parts = append(parts, fmt.Sprintf("%d keys in %s", t.listed, t.trustedKeysPath()))
	}
	if t.given > 0 {
		parts = append(parts, fmt.Sprintf("%d given with --trust-key", t.given))
	}
	if len(parts) == 0 {
		return "no key is"
	}
	return "trusted: " + strings.Join(parts, ", ")
}

func (t *Trust) trustedKeysPath() string {
	if t.listFile == "" {
		return "the state directory's trusted-keys file"
	}
	return t.listFile
}
