package catalog

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Secret is a value stackctl generates once per stack and hands to containers
// only as a file (compose secrets, *_FILE variables), never as an environment
// value, so it stays out of compose files, image layers and 'docker inspect'.
type Secret struct {
	Name string
	// Generate returns a fresh random value.
	Generate func() (string, error)
}

// AdminPassword names the secret that holds a stack's administrator password.
const AdminPassword = "admin_password"

var (
	secretDBPassword    = Secret{"db_password", random(32, base64.RawURLEncoding.EncodeToString)}
	secretKeyBase       = Secret{"secret_key_base", random(64, hex.EncodeToString)}
	secretAdminPassword = Secret{AdminPassword, random(18, base64.RawURLEncoding.EncodeToString)}
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

// EnvVar is the variable that carries the secret's value to compose, in-process.
func (s Secret) EnvVar() string { return "STACKCTL_SECRET_" + strings.ToUpper(s.Name) }

// NewAdminPassword returns a fresh administrator password, made as stackctl
// makes the first one: for a password Redmine forces to be changed.
func NewAdminPassword() (string, error) { return secretAdminPassword.Generate() }
