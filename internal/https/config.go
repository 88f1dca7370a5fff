package https

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// Modes of tls.mode.
const (
	ModeOff        = "off"
	ModeFiles      = "files"
	ModeSelfSigned = "self-signed"
	ModeACME       = "acme"
)

// DefaultDirectory is Let's Encrypt's ACME directory, tls.acme.directory's default.
const DefaultDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// Config is a site's HTTPS, as its settings say. Its zero value is mode off.
type Config struct {
	// Mode is off, files, self-signed or acme ("" is off).
	Mode string
	// Names are the host names the certificate covers: the url's host first,
	// then tls.names.
	Names []string
	// Origin is where plain HTTP redirects to (https://host[:port], the
	// site's url); "" redirects to the host asked for, on HTTPSPort.
	Origin string
	// HTTPSPort is the published HTTPS port, for a redirect without Origin.
	HTTPSPort string
	// CertificateFile and KeyFile are mode files' PEM files.
	CertificateFile, KeyFile string
	// ACME is mode acme's CA and account.
	ACME ACME
	// Dir is the stack's private directory for keys and certificates
	// (state.Dir.TLSDir): the ACME account key, a self-signed or issued
	// certificate and its key, each mode 0600.
	Dir string
}

// ACME is the CA and account of mode acme.
type ACME struct {
	Email string
	// Directory is the CA's ACME directory URL ("": DefaultDirectory).
	Directory string
	// AccountKeyFile is the operator's account key; "": stackctl makes one in Dir.
	AccountKeyFile string
	// CAFile is a PEM bundle of CAs trusted, beside the system's, for the
	// directory's own TLS (a test CA).
	CAFile string
}

// On says whether nginx serves HTTPS.
func (c Config) On() bool { return c.Mode != "" && c.Mode != ModeOff }

// Bundle is a certificate nginx serves, with its key.
type Bundle struct {
	// ChainPEM is the certificate, then its intermediates.
	ChainPEM []byte
	// KeyPEM is its private key.
	KeyPEM []byte
	// Leaf is the certificate itself.
	Leaf *x509.Certificate
	// Issuers are the certificates above Leaf up to its root, when a chain to
	// a trusted root was found: what nginx verifies OCSP responses with.
	Issuers []*x509.Certificate
}

// renewBefore is how long before its end a certificate is renewed: 30 days,
// or a third of its lifetime when that is shorter (a short-lived certificate
// would otherwise be renewed on every run, and run into the CA's rate limits).
func renewBefore(leaf *x509.Certificate) time.Duration {
	return min(30*24*time.Hour, leaf.NotAfter.Sub(leaf.NotBefore)/3)
}

// NeedsRenewal says whether leaf is due for renewal at now (see renewBefore),
// or does not cover every one of names.
func NeedsRenewal(leaf *x509.Certificate, names []string, now time.Time) bool {
	if now.Add(renewBefore(leaf)).After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return true
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			return true
		}
	}
	return false
}

// parseCerts returns every CERTIFICATE block of b, in order.
func parseCerts(b []byte, what string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: certificate %d: %v", errs.ErrInvalidInput, what, len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s holds no PEM certificate", errs.ErrInvalidInput, what)
	}
	return out, nil
}

// encodeCerts is certs as PEM, in order.
func encodeCerts(certs []*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}
