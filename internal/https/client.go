package https

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// ClientTLS is the TLS configuration of stackctl's own requests to the
// stack's nginx, which it reaches at the published address rather than by
// the site's name: the certificate is verified for ServerName, the site's
// host (Names[0]: the url's host, else the first of tls.names; with neither,
// the address's host), against the system's roots and the last certificate
// of the chain nginx was given. That is mode self-signed's certificate
// itself, the top of mode acme's chain (a test CA's root is trusted nowhere
// else) and of the operator's files. Mode off has none: plain HTTP.
func (c Config) ClientTLS() (*tls.Config, error) {
	if !c.On() {
		return nil, nil
	}
	chain, what, err := c.servedChain()
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(chain, what)
	if err != nil {
		return nil, err
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	roots.AddCert(certs[len(certs)-1])
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if len(c.Names) > 0 {
		cfg.ServerName = c.Names[0]
	}
	return cfg, nil
}

// servedChain is the certificate chain nginx serves in c's mode, and the
// file it is read from: the operator's in mode files, else the one kept in
// Dir (private, as the key beside it).
func (c Config) servedChain() ([]byte, string, error) {
	if c.Mode == ModeFiles {
		b, err := os.ReadFile(c.CertificateFile)
		if err != nil {
			return nil, "", fmt.Errorf("%w: tls.certificate_file: %v", errs.ErrInvalidInput, err)
		}
		return b, c.CertificateFile, nil
	}
	path := c.storedPath(storedCert)
	b, err := state.ReadPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("%w: no certificate of tls.mode %s in %s: nginx serves no HTTPS in this mode yet: run 'stackctl up redmine'",
			errs.ErrNotRunning, c.Mode, c.Dir)
	}
	return b, path, err
}
