package signing

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Namespace is the SSHSIG namespace of a backup manifest's signature: a
// signature made for anything else (a git commit, a file) does not verify as one.
const Namespace = "stackctl-backup"

// The SSHSIG format, as OpenSSH's PROTOCOL.sshsig defines it.
const (
	sigMagic   = "SSHSIG"
	sigVersion = 1
	sigHash    = "sha512"
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	// maxSignature bounds what Verify parses: an ed25519 signature is 300 bytes armored.
	maxSignature = 16 << 10
)

// sigBlob is the signature's wire form after the magic.
type sigBlob struct {
	Version   uint32
	PublicKey []byte
	Namespace string
	Reserved  string
	Hash      string
	Signature []byte
}

// signedData is what the key signs: the message's hash, bound to the namespace.
type signedData struct {
	Namespace string
	Reserved  string
	Hash      string
	Digest    []byte
}

func toSign(namespace string, msg []byte) []byte {
	sum := sha512.Sum512(msg)
	return append([]byte(sigMagic), ssh.Marshal(signedData{Namespace: namespace, Hash: sigHash, Digest: sum[:]})...)
}

// sign signs msg with signer, returning an armored SSHSIG signature.
func sign(signer ssh.Signer, namespace string, msg []byte) ([]byte, error) {
	sig, err := signer.Sign(rand.Reader, toSign(namespace, msg))
	if err != nil {
		return nil, err
	}
	blob := append([]byte(sigMagic), ssh.Marshal(sigBlob{
		Version: sigVersion, PublicKey: signer.PublicKey().Marshal(),
		Namespace: namespace, Hash: sigHash, Signature: ssh.Marshal(sig),
	})...)
	var b strings.Builder
	b.WriteString(armorBegin + "\n")
	enc := base64.StdEncoding.EncodeToString(blob)
	for len(enc) > 70 {
		b.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	b.WriteString(enc + "\n" + armorEnd + "\n")
	return []byte(b.String()), nil
}

// verify checks the armored SSHSIG signature armored over msg in namespace,
// and returns the key that made it.
func verify(armored []byte, namespace string, msg []byte) (ssh.PublicKey, error) {
	if len(armored) > maxSignature {
		return nil, fmt.Errorf("the signature is %d bytes, more than one can be", len(armored))
	}
	text := strings.TrimSpace(string(armored))
	if !strings.HasPrefix(text, armorBegin) || !strings.HasSuffix(text, armorEnd) {
		return nil, errors.New("not an SSH signature")
	}
	body := strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimPrefix(text, armorBegin), armorEnd)), "")
	blob, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("the signature's encoding: %v", err)
	}
	if !bytes.HasPrefix(blob, []byte(sigMagic)) {
		return nil, errors.New("not an SSH signature")
	}
	var sb sigBlob
	if err := ssh.Unmarshal(blob[len(sigMagic):], &sb); err != nil {
		return nil, fmt.Errorf("the signature's form: %v", err)
	}
	if sb.Version != sigVersion {
		return nil, fmt.Errorf("signature version %d, this stackctl reads version %d", sb.Version, sigVersion)
	}
	if sb.Namespace != namespace {
		// Printed escaped by the caller: it comes from outside.
		return nil, fmt.Errorf("the signature is for %q, not %q", sb.Namespace, namespace)
	}
	if sb.Hash != sigHash {
		return nil, fmt.Errorf("the signature's hash is %q, not %s", sb.Hash, sigHash)
	}
	pub, err := ssh.ParsePublicKey(sb.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("the signature's key: %v", err)
	}
	if pub.Type() != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("the signature's key is %s: stackctl signs and checks with ed25519 keys only", pub.Type())
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(sb.Signature, &sig); err != nil {
		return nil, fmt.Errorf("the signature's form: %v", err)
	}
	if err := pub.Verify(toSign(namespace, msg), &sig); err != nil {
		return nil, errors.New("the signature does not match the signed content")
	}
	return pub, nil
}
