package https

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// update reports -update: rewrite the golden files. A test helper linked in
// may define the flag already; share it.
var update = func() func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
	return func() bool { return flag.Lookup("update").Value.String() == "true" }
}()

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// issued is a certificate made by the test, with its key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (i issued) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.cert.Raw})
}

func (i issued) keyPEM(t *testing.T) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// issue makes a certificate: a CA when names is nil, signed by parent (itself when nil).
func issue(t *testing.T, cn string, names []string, parent *issued, from, to time.Time) issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: from, NotAfter: to,
		DNSNames: names, BasicConstraintsValid: true, IsCA: names == nil,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	signer, signKey := tmpl, crypto.Signer(key)
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, key.Public(), signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return issued{c, key}
}

func cat(bs ...[]byte) []byte {
	return []byte(strings.Join(func() []string {
		var s []string
		for _, b := range bs {
			s = append(s, string(b))
		}
		return s
	}(), ""))
}

// TestCheck is mode files' refusals: each names what is wrong, with exit 2's error.
func TestCheck(t *testing.T) {
	year := now.AddDate(1, 0, 0)
	root := issue(t, "Test Root", nil, nil, now.AddDate(-1, 0, 0), now.AddDate(5, 0, 0))
	inter := issue(t, "Test Intermediate", nil, &root, now.AddDate(-1, 0, 0), now.AddDate(3, 0, 0))
	leaf := issue(t, "tracker.example.org", []string{"tracker.example.org", "www.tracker.example.org"}, &inter, now.AddDate(0, -1, 0), year)
	other := issue(t, "other", []string{"tracker.example.org"}, &inter, now.AddDate(0, -1, 0), year)
	expired := issue(t, "tracker.example.org", []string{"tracker.example.org"}, &inter, now.AddDate(-1, 0, 0), now.AddDate(0, 0, -2))
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	names := []string{"tracker.example.org", "www.tracker.example.org"}

	for _, tc := range []struct {
		name      string
		cert, key []byte
		names     []string
		roots     *x509.CertPool
		want      string // "" for accepted
	}{
		{"complete chain", cat(leaf.pem(), inter.pem()), leaf.keyPEM(t), names, roots, ""},
		{"chain with its own root", cat(leaf.pem(), inter.pem(), root.pem()), leaf.keyPEM(t), names, nil, ""},
		{"mismatched key", cat(leaf.pem(), inter.pem()), other.keyPEM(t), names, roots, "key.pem is not the key of the certificate in cert.pem"},
		{"expired", cat(expired.pem(), inter.pem()), expired.keyPEM(t), names[:1], roots, "expired on " + now.AddDate(0, 0, -2).Format(time.DateOnly)},
		{"wrong host", cat(other.pem(), inter.pem()), other.keyPEM(t), names, roots, "does not cover www.tracker.example.org (it covers tracker.example.org)"},
		{"incomplete chain", leaf.pem(), leaf.keyPEM(t), names, roots, "the chain in cert.pem does not verify"},
		{"untrusted root", cat(leaf.pem(), inter.pem()), leaf.keyPEM(t), names, x509.NewCertPool(), "does not verify"},
		{"no certificate", leaf.keyPEM(t), leaf.keyPEM(t), names, roots, "cert.pem holds no PEM certificate"},
		{"no key", cat(leaf.pem(), inter.pem()), leaf.pem(), names, roots, "key.pem holds no PEM private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Check(tc.cert, tc.key, "cert.pem", "key.pem", tc.names, tc.roots, now)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(b.Issuers) != 2 || !b.Issuers[1].Equal(root.cert) {
					t.Errorf("issuers %d, want the intermediate and the root", len(b.Issuers))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if !errors.Is(err, errs.ErrInvalidInput) {
				t.Errorf("%v is not invalid input (exit 2)", err)
			}
		})
	}
}

// TestSelfSigned is mode self-signed's certificate: ECDSA P-256, every name,
// a year, verifiable by a client that trusts it alone.
func TestSelfSigned(t *testing.T) {
	names := []string{"tracker.lan", "www.tracker.lan", "192.168.1.5"}
	b, err := SelfSigned(names, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Leaf.PublicKey.(*ecdsa.PublicKey); !ok || b.Leaf.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Errorf("key %T, want ECDSA P-256", b.Leaf.PublicKey)
	}
	if got := b.Leaf.NotAfter.Sub(now); got != selfSignedValidity {
		t.Errorf("valid for %s after now, want a year", got)
	}
	pool := x509.NewCertPool()
	pool.AddCert(b.Leaf)
	if _, err := Check(b.ChainPEM, b.KeyPEM, "cert", "key", names, pool, now); err != nil {
		t.Errorf("the self-signed certificate does not pass mode files' checks with itself trusted: %v", err)
	}
	if NeedsRenewal(b.Leaf, names, now) {
		t.Error("a new certificate needs renewal")
	}
}

// TestNeedsRenewal is the renewal decision: 30 days before the end, a third
// of the lifetime for a short-lived certificate, and a name not covered.
func TestNeedsRenewal(t *testing.T) {
	long := issue(t, "a", []string{"a.test"}, nil, now.AddDate(0, 0, -60), now.AddDate(0, 0, 30))
	short := issue(t, "a", []string{"a.test"}, nil, now.Add(-2*time.Hour), now.Add(4*time.Hour)) // 6 h: renew with 2 h left
	for _, tc := range []struct {
		name  string
		leaf  *x509.Certificate
		at    time.Time
		names []string
		want  bool
	}{
		{"31 days left", long.cert, now.AddDate(0, 0, -1), []string{"a.test"}, false},
		{"29 days left", long.cert, now.AddDate(0, 0, 1), []string{"a.test"}, true},
		{"expired", long.cert, now.AddDate(0, 0, 31), []string{"a.test"}, true},
		{"short-lived, 4 h left", short.cert, now, []string{"a.test"}, false},
		{"short-lived, 1 h left", short.cert, now.Add(3 * time.Hour), []string{"a.test"}, true},
		{"a new name", long.cert, now.AddDate(0, 0, -1), []string{"a.test", "b.test"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NeedsRenewal(tc.leaf, tc.names, tc.at); got != tc.want {
				t.Errorf("NeedsRenewal = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSelfSignedKeptAndRenewed is Certificate in mode self-signed: made once,
// kept 0600 in the state directory, the same one served again, a new one
// for a new name.
func TestSelfSignedKeptAndRenewed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "redmine", "tls")
	c := Config{Mode: ModeSelfSigned, Names: []string{"tracker.lan"}, Dir: dir}
	logf := func(string, ...any) {}
	first, renewed, err := c.Certificate(t.Context(), nil, false, logf)
	if err != nil || !renewed {
		t.Fatalf("first: renewed %v, %v", renewed, err)
	}
	for _, f := range []string{storedCert, storedKey} {
		fi, err := os.Stat(c.storedPath(f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", f, fi, err)
		}
	}
	again, renewed, err := c.Certificate(t.Context(), nil, false, logf)
	if err != nil || renewed || !again.Leaf.Equal(first.Leaf) {
		t.Errorf("second: renewed %v, same %v, %v; want the kept certificate", renewed, again.Leaf.Equal(first.Leaf), err)
	}
	c.Names = append(c.Names, "www.tracker.lan")
	grown, renewed, err := c.Certificate(t.Context(), nil, false, logf)
	if err != nil || !renewed || grown.Leaf.VerifyHostname("www.tracker.lan") != nil {
		t.Errorf("a new name: renewed %v, %v; want a new certificate covering it", renewed, err)
	}
}

// TestServerConf is the nginx configuration of HTTPS (golden files): with
// and without OCSP stapling, redirecting to the site's url or to the host asked for.
func TestServerConf(t *testing.T) {
	const dir = "/etc/nginx/tls"
	for _, tc := range []struct {
		name   string
		c      Config
		staple bool
	}{
		{"url", Config{Mode: ModeFiles, Origin: "https://tracker.example.org"}, true},
		{"no-url", Config{Mode: ModeSelfSigned, HTTPSPort: "8443"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, "server-"+tc.name+".conf", tc.c.ServerConf(dir, tc.staple))
		})
	}
	golden(t, "acme.conf", ACMEConf(dir))
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update() {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run go test -update", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from what is rendered; run go test -update if the change is meant:\n%s", path, got)
	}
}

// TestNginxFiles says which files each mode writes: issuers only with an
// OCSP responder, the challenge location only in mode acme.
func TestNginxFiles(t *testing.T) {
	b, err := SelfSigned([]string{"tracker.lan"}, now)
	if err != nil {
		t.Fatal(err)
	}
	files := Config{Mode: ModeSelfSigned}.NginxFiles("/etc/nginx/tls", b)
	if _, ok := files[FileIssuers]; ok || strings.Contains(files[FileServer], "ssl_stapling") {
		t.Error("stapling without an OCSP responder")
	}
	if _, ok := files[FileACME]; ok {
		t.Error("the challenge location outside mode acme")
	}
	b.Leaf.OCSPServer, b.Issuers = []string{"http://ocsp.example.org"}, []*x509.Certificate{b.Leaf}
	files = Config{Mode: ModeACME}.NginxFiles("/etc/nginx/tls", b)
	if _, ok := files[FileIssuers]; !ok || !strings.Contains(files[FileServer], "ssl_stapling_verify on;") {
		t.Error("no stapling with an OCSP responder")
	}
	if files[FileACME] == "" {
		t.Error("no challenge location in mode acme")
	}
}
