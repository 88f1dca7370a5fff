package https

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// issue has the ACME CA issue a certificate for c's names, with the
// account's key (made and kept in Dir when the settings name none), ch
// serving the HTTP-01 challenges.
func (c Config) issue(ctx context.Context, ch Challenger, logf func(string, ...any)) (Bundle, error) {
	dir := c.ACME.directory()
	key, err := c.accountKey(logf)
	if err != nil {
		return Bundle{}, err
	}
	roots, err := c.ACME.roots()
	if err != nil {
		return Bundle{}, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	u := &user{email: c.ACME.Email, key: key}
	cfg := lego.NewConfig(u)
	cfg.CADirURL = dir
	cfg.UserAgent = "stackctl"
	cfg.HTTPClient = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	cl, err := lego.NewClient(cfg)
	if err != nil {
		return Bundle{}, fmt.Errorf("%w: ACME directory %s: %v", errs.ErrUnavailable, dir, err)
	}
	// The account the key already has, else a new one: agreeing to the CA's
	// terms is what choosing mode acme means.
	if u.reg, err = cl.Registration.ResolveAccountByKey(ctx); err != nil {
		logf("https: registering an ACME account for %s at %s", c.ACME.Email, dir)
		if u.reg, err = cl.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
			return Bundle{}, fmt.Errorf("registering an ACME account at %s: %w", dir, err)
		}
	}
	if err := cl.Challenge.SetHTTP01Provider(provider{ch}); err != nil {
		return Bundle{}, err
	}
	logf("https: asking %s for a certificate for %v (HTTP-01, served by nginx)", dir, c.Names)
	res, err := cl.Certificate.Obtain(ctx, certificate.ObtainRequest{Domains: c.Names, Bundle: true, KeyType: certcrypto.EC256})
	if err != nil {
		return Bundle{}, fmt.Errorf("obtaining a certificate for %v from %s: %w", c.Names, dir, err)
	}
	certs, err := parseCerts(res.Certificate, "the certificate the CA issued")
	if err != nil {
		return Bundle{}, err
	}
	return Bundle{ChainPEM: res.Certificate, KeyPEM: res.PrivateKey, Leaf: certs[0], Issuers: c.ACME.issuers(certs, time.Now())}, nil
}

// directory is the ACME directory's URL: the settings', else Let's Encrypt's.
func (a ACME) directory() string {
	if a.Directory == "" {
		return DefaultDirectory
	}
	return a.Directory
}

// issuers are the certificates above an issued certificate (certs[0]): its
// chain up to a root of the system's or ca_file's, else the intermediates
// the CA sent (a CA whose root is trusted nowhere here, such as a test one).
func (a ACME) issuers(certs []*x509.Certificate, now time.Time) []*x509.Certificate {
	if roots, err := a.roots(); err == nil {
		// An expired one is due anyway: verified as of its last valid moment.
		if last := certs[0].NotAfter.Add(-time.Second); now.After(last) {
			now = last
		}
		if v, err := verify(certs, roots, now); err == nil {
			return v[1:]
		}
	}
	return certs[1:]
}

// accountKey is the ACME account's key: the operator's file, else the one
// kept in Dir, else a new ECDSA P-256 key kept there.
func (c Config) accountKey(logf func(string, ...any)) (crypto.Signer, error) {
	path, mine := c.ACME.AccountKeyFile, true
	if path == "" {
		path, mine = filepath.Join(c.Dir, storedAccountKey), false
	}
	b, err := state.ReadPrivate(path)
	if err == nil {
		return parseKey(b, path)
	}
	if mine || !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: tls.acme.account_key_file: %v", errs.ErrInvalidInput, err)
	}
	logf("https: making an ACME account key in %s", path)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := state.WritePrivate(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, err
	}
	return k, nil
}

// roots are the system's CAs and CAFile's, which the ACME directory's TLS is
// verified with.
func (a ACME) roots() (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if a.CAFile == "" {
		return pool, nil
	}
	b, err := os.ReadFile(a.CAFile)
	if err != nil {
		return nil, fmt.Errorf("%w: tls.acme.ca_file: %v", errs.ErrInvalidInput, err)
	}
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: tls.acme.ca_file %s holds no PEM certificate", errs.ErrInvalidInput, a.CAFile)
	}
	return pool, nil
}

// user is the ACME account as lego asks for it.
type user struct {
	email string
	key   crypto.Signer
	reg   *acme.ExtendedAccount
}

func (u *user) GetEmail() string                       { return u.email }
func (u *user) GetRegistration() *acme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer           { return u.key }

// provider is lego's HTTP-01 provider over a Challenger.
type provider struct{ ch Challenger }

func (p provider) Present(ctx context.Context, _, token, keyAuth string) error {
	return p.ch.Present(ctx, token, keyAuth)
}

func (p provider) CleanUp(ctx context.Context, _, token, _ string) error {
	return p.ch.CleanUp(ctx, token)
}
