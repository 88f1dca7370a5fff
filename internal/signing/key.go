package signing

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/termsafe"
)

// PublicKey is a signer's public key and the comment that names it.
type PublicKey struct {
	Key     ssh.PublicKey
	Comment string
}

// Fingerprint is the key's SHA-256 fingerprint, as ssh-keygen -l prints it.
func (p PublicKey) Fingerprint() string { return ssh.FingerprintSHA256(p.Key) }

// String is the key as one authorized_keys line: type, key and comment.
func (p PublicKey) String() string {
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(p.Key)))
	if p.Comment != "" {
		line += " " + p.Comment
	}
	return line
}

// Name names the key in a message: its fingerprint and, escaped since it may
// come from an archive, its comment.
func (p PublicKey) Name() string {
	if p.Comment == "" {
		return p.Fingerprint()
	}
	return p.Fingerprint() + " (" + termsafe.String(p.Comment) + ")"
}

// Claimed names the key in a message about an archive it is not trusted
// for: its fingerprint, and the comment the archive gives it, said to be its word.
func (p PublicKey) Claimed() string {
	if p.Comment == "" {
		return p.Fingerprint()
	}
	return p.Fingerprint() + " (it calls itself " + termsafe.String(p.Comment) + ")"
}

// ParsePublicKey reads an authorized_keys line: an ed25519 key and its comment.
func ParsePublicKey(line string) (PublicKey, error) {
	if strings.ContainsAny(line, "\n\r") {
		return PublicKey{}, errors.New("a public key is one line")
	}
	key, comment, opts, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return PublicKey{}, fmt.Errorf("not an OpenSSH public key line (such as ssh-ed25519 AAAA… comment): %v", err)
	}
	if len(opts) > 0 || len(rest) > 0 {
		return PublicKey{}, errors.New("give one public key line alone, without options before it or lines after it")
	}
	if key.Type() != ssh.KeyAlgoED25519 {
		return PublicKey{}, fmt.Errorf("a %s key: stackctl signs and checks with ed25519 keys only", key.Type())
	}
	return PublicKey{Key: key, Comment: comment}, nil
}

// Key is a private signing key.
type Key struct {
	signer ssh.Signer
	Public PublicKey
	// Path is the file the key was read from.
	Path string
}

// Sign signs msg (a manifest's bytes), returning an armored SSHSIG signature.
func (k *Key) Sign(msg []byte) ([]byte, error) { return sign(k.signer, Namespace, msg) }

// Verify checks the armored signature sig over msg, and returns the key that made it.
func Verify(sig, msg []byte) (PublicKey, error) {
	key, err := verify(sig, Namespace, msg)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Key: key}, nil
}

// NewKey makes an ed25519 key named comment, and returns it with its private
// half in OpenSSH's file format, for the caller to keep privately.
func NewKey(comment string) (*Key, []byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, nil, err
	}
	k, err := fromPrivate(priv)
	if err != nil {
		return nil, nil, err
	}
	k.Public.Comment = comment
	return k, pem.EncodeToMemory(block), nil
}

// ParseKey reads an OpenSSH ed25519 private key without a passphrase, data,
// read from the file path (named in errors).
func ParseKey(data []byte, path string) (*Key, error) {
	raw, err := ssh.ParseRawPrivateKey(data)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("%w: signing key %s has a passphrase: stackctl signs unattended (schedules too); give it a key without one (ssh-keygen -t ed25519 -N '' -f FILE)", errs.ErrInvalidInput, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: signing key %s: %v", errs.ErrInvalidInput, path, err)
	}
	var priv ed25519.PrivateKey
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		priv = k
	case *ed25519.PrivateKey:
		priv = *k
	default:
		return nil, fmt.Errorf("%w: signing key %s is a %T: stackctl signs with ed25519 keys only (ssh-keygen -t ed25519)", errs.ErrInvalidInput, path, raw)
	}
	k, err := fromPrivate(priv)
	if err != nil {
		return nil, err
	}
	k.Path = path
	return k, nil
}

func fromPrivate(priv ed25519.PrivateKey) (*Key, error) {
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	return &Key{signer: signer, Public: PublicKey{Key: signer.PublicKey()}}, nil
}
