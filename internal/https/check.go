package https

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// Check checks a certificate chain and its key as nginx would serve them, for
// names at now: the key is the certificate's, the certificate is valid now,
// it covers every name, and the chain verifies to a root of roots (the
// system's, for mode files) or to the chain's own last certificate when that
// is a self-signed root the operator ships. Every problem found is reported,
// each naming what is wrong. certWhat and keyWhat name the files in messages.
func Check(certPEM, keyPEM []byte, certWhat, keyWhat string, names []string, roots *x509.CertPool, now time.Time) (Bundle, error) {
	certs, err := parseCerts(certPEM, certWhat)
	if err != nil {
		return Bundle{}, err
	}
	key, err := parseKey(keyPEM, keyWhat)
	if err != nil {
		return Bundle{}, err
	}
	leaf := certs[0]
	var ps []string
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		ps = append(ps, fmt.Sprintf("%s is not the key of the certificate in %s (%s): give the key the certificate was issued for", keyWhat, certWhat, leaf.Subject))
	}
	switch {
	case now.After(leaf.NotAfter):
		ps = append(ps, fmt.Sprintf("the certificate in %s expired on %s: renew it", certWhat, leaf.NotAfter.UTC().Format(time.DateOnly)))
	case now.Before(leaf.NotBefore):
		ps = append(ps, fmt.Sprintf("the certificate in %s is not valid before %s", certWhat, leaf.NotBefore.UTC().Format(time.RFC3339)))
	}
	for _, n := range names {
		if leaf.VerifyHostname(n) != nil {
			ps = append(ps, fmt.Sprintf("the certificate in %s does not cover %s (it covers %s): get one for every name of url and tls.names",
				certWhat, n, strings.Join(covered(leaf), ", ")))
		}
	}
	var issuers []*x509.Certificate
	if len(ps) == 0 {
		chain, err := verify(certs, roots, now)
		if err != nil {
			ps = append(ps, fmt.Sprintf("the chain in %s does not verify (%v): the file must hold the certificate, then every intermediate up to a trusted root", certWhat, err))
		} else {
			issuers = chain[1:]
		}
	}
	if len(ps) > 0 {
		return Bundle{}, fmt.Errorf("%w: tls.mode files: %s", errs.ErrInvalidInput, strings.Join(ps, "; "))
	}
	return Bundle{ChainPEM: encodeCerts(certs), KeyPEM: keyPEM, Leaf: leaf, Issuers: issuers}, nil
}

// verify verifies certs (the leaf, then intermediates) to roots, or to the
// last of certs when it is a self-signed root, for a TLS server at now.
func verify(certs []*x509.Certificate, roots *x509.CertPool, now time.Time) ([]*x509.Certificate, error) {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if roots == nil {
		roots = x509.NewCertPool()
	} else {
		roots = roots.Clone()
	}
	if last := certs[len(certs)-1]; len(certs) > 1 && bytes.Equal(last.RawIssuer, last.RawSubject) && last.CheckSignatureFrom(last) == nil {
		roots.AddCert(last)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	return chains[0], nil
}

// covered lists the names a certificate is for.
func covered(c *x509.Certificate) []string {
	out := append([]string(nil), c.DNSNames...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	if len(out) == 0 {
		return []string{"no names"}
	}
	return out
}

// parseKey reads a PEM private key (PKCS #8, EC or PKCS #1).
func parseKey(b []byte, what string) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%w: %s holds no PEM private key", errs.ErrInvalidInput, what)
		}
		if !strings.HasSuffix(blk.Type, "PRIVATE KEY") {
			continue
		}
		var k any
		var err error
		switch blk.Type {
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		default:
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", errs.ErrInvalidInput, what, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%w: %s: %T is not a signing key", errs.ErrInvalidInput, what, k)
		}
		return s, nil
	}
}

// errNone is a stored certificate or key not found: the mode makes one.
var errNone = errors.New("none stored")
