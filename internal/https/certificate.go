package https

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// Files in Config.Dir: a certificate and key of each mode that makes one
// (so that a change of mode never serves the other's), and the ACME
// account's key.
const (
	storedCert       = "certificate.pem"
	storedKey        = "key.pem"
	storedAccountKey = "acme-account-key.pem"
	// storedDirectory names the ACME directory that issued mode acme's
	// certificate: another directory in the settings issues a new one.
	storedDirectory = "acme-directory"
)

// storedPath is mode's kept file name (self-signed-certificate.pem).
func (c Config) storedPath(name string) string { return filepath.Join(c.Dir, c.Mode+"-"+name) }

// A Challenger serves HTTP-01 answers on the site's plain HTTP port, at
// /.well-known/acme-challenge/TOKEN, until they are cleaned up.
type Challenger interface {
	Present(ctx context.Context, token, keyAuth string) error
	CleanUp(ctx context.Context, token string) error
}

// Certificate returns what nginx serves in c's mode: mode files' files once
// checked (see Check); in modes self-signed and acme the certificate kept in
// Dir, or a new one when there is none, it is due (see NeedsRenewal) or
// force is set: generated, or issued by the ACME CA with ch serving its
// challenges. renewed says a new one was made.
func (c Config) Certificate(ctx context.Context, ch Challenger, force bool, logf func(string, ...any)) (b Bundle, renewed bool, err error) {
	now := time.Now()
	switch c.Mode {
	case ModeFiles:
		b, err := c.Files(now)
		return b, false, err
	case ModeSelfSigned, ModeACME:
	default:
		return Bundle{}, false, fmt.Errorf("%w: tls.mode %q serves no certificate", errs.ErrInvalidInput, c.Mode)
	}
	if len(c.Names) == 0 {
		return Bundle{}, false, fmt.Errorf("%w: tls.mode %s needs a host name: set url (https://HOST) or tls.names", errs.ErrInvalidInput, c.Mode)
	}
	kept, err := c.stored(now)
	switch {
	case err == nil && !force && !NeedsRenewal(kept.Leaf, c.Names, now):
		return kept, false, nil
	case err != nil && !errors.Is(err, errNone):
		return Bundle{}, false, err
	case err == nil:
		logf("https: the certificate for %v ends %s: renewing it", kept.Leaf.DNSNames, kept.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if c.Mode == ModeSelfSigned {
		logf("https: making a self-signed certificate for %v, valid for a year", c.Names)
		b, err = SelfSigned(c.Names, now)
	} else {
		b, err = c.issue(ctx, ch, logf)
	}
	if err != nil {
		return Bundle{}, false, err
	}
	// Key first: a certificate is never kept without its key.
	if err := state.WritePrivate(c.storedPath(storedKey), b.KeyPEM); err != nil {
		return Bundle{}, false, err
	}
	if err := state.WritePrivate(c.storedPath(storedCert), b.ChainPEM); err != nil {
		return Bundle{}, false, err
	}
	if c.Mode == ModeACME {
		if err := state.WritePrivate(filepath.Join(c.Dir, storedDirectory), []byte(c.ACME.directory()+"\n")); err != nil {
			return Bundle{}, false, err
		}
	}
	return b, true, nil
}

// Files reads and checks mode files' certificate and key, for c's names at now.
func (c Config) Files(now time.Time) (Bundle, error) {
	cert, err := os.ReadFile(c.CertificateFile)
	if err != nil {
		return Bundle{}, fmt.Errorf("%w: tls.certificate_file: %v", errs.ErrInvalidInput, err)
	}
	key, err := state.ReadPrivate(c.KeyFile)
	if err != nil {
		return Bundle{}, fmt.Errorf("%w: tls.key_file: %v", errs.ErrInvalidInput, err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	return Check(cert, key, c.CertificateFile, c.KeyFile, c.Names, roots, now)
}

// stored is the certificate and key of c's mode kept in Dir; errNone when
// there are none, or in mode acme when another ACME directory issued them.
func (c Config) stored(now time.Time) (Bundle, error) {
	if c.Mode == ModeACME {
		dir, err := state.ReadPrivate(filepath.Join(c.Dir, storedDirectory))
		if errors.Is(err, fs.ErrNotExist) || err == nil && strings.TrimSpace(string(dir)) != c.ACME.directory() {
			return Bundle{}, errNone
		}
		if err != nil {
			return Bundle{}, err
		}
	}
	key, err := state.ReadPrivate(c.storedPath(storedKey))
	if errors.Is(err, fs.ErrNotExist) {
		return Bundle{}, errNone
	}
	if err != nil {
		return Bundle{}, err
	}
	chain, err := state.ReadPrivate(c.storedPath(storedCert))
	if errors.Is(err, fs.ErrNotExist) {
		return Bundle{}, errNone
	}
	if err != nil {
		return Bundle{}, err
	}
	certs, err := parseCerts(chain, c.storedPath(storedCert))
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{ChainPEM: chain, KeyPEM: key, Leaf: certs[0]}
	if c.Mode == ModeACME {
		b.Issuers = c.ACME.issuers(certs, now)
	}
	return b, nil
}

// Verify checks, before anything changes, what of c can be: mode files'
// certificate and key (see Check). The other modes make their certificate
// as they apply.
func (c Config) Verify(now time.Time) error {
	if c.Mode != ModeFiles {
		return nil
	}
	_, err := c.Files(now)
	return err
}
