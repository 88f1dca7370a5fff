package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// tlsHost is the url's host of TestTLS, and tlsAlias its other name
// (tls.names): both resolve to loopback, for the test's clients through
// their dialer and for Pebble through the test's DNS server.
const (
	tlsHost  = "tracker.test"
	tlsAlias = "www.tracker.test"
)

// pebbleValidity is how long Pebble's certificates live: short, so that one
// is due for renewal (a third of its lifetime left) a minute after it is
// issued, and long enough that 'stackctl renew' finishes well before it ends.
const pebbleValidity = 180 * time.Second

// TestTLS is issue 16's HTTPS demonstration, on one Redmine stack of a site
// made by 'stackctl init' (settings apply there):
//   - tls.mode self-signed: HTTPS for url's host and tls.names with a client
//     that trusts only the certificate stackctl kept in its state directory,
//     TLS 1.2 or later only, HSTS; plain HTTP answers 301 to https; a login
//     and an issue made through Redmine's HTML forms over HTTPS, with no
//     authenticity-token error, Redmine linking back with https and the host;
//     stackctl's own clients over HTTPS too: check-theme finds the theme
//     offered, status names the site's url;
//   - tls.mode files: a mismatched key, an expired certificate and a wrong
//     host name each refused by up with exit 2 and a message naming it,
//     nothing changed (the same containers, the same certificate served);
//   - tls.mode acme against Pebble, run in this test on loopback, its CA
//     trusted only by the test's client and by stackctl through
//     tls.acme.ca_file: a certificate issued through HTTP-01 answered by the
//     stack's nginx on its published HTTP port, served, then renewed by
//     'stackctl renew' once due, while a probe every 100 ms sees no failure.
func TestTLS(t *testing.T) {
	shares(t)
	api := dockerAPI(t)
	siteDir := t.TempDir()
	state := t.TempDir()
	mustRunIn(t, siteDir, []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + state, "STACKCTL_DIR=", "STACKCTL_ROOT="}, "init")
	env := []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + state, "STACKCTL_DIR=" + siteDir, "STACKCTL_ROOT="}
	freshStack(t, env, "redmine")

	httpsPort, httpPort := freePort(t), freePort(t)
	origin := fmt.Sprintf("https://%s:%d", tlsHost, httpsPort)
	plain := fmt.Sprintf("http://%s:%d", tlsHost, httpPort)
	common := fmt.Sprintf("version: 1\nurl: %s\nlisten: 127.0.0.1:%d\nhttp_listen: 127.0.0.1:%d\n", origin, httpsPort, httpPort)
	settings := func(tlsSection string) { writeFile(t, filepath.Join(siteDir, "stackctl.yaml"), common+tlsSection) }

	// Self-signed.
	settings("tls:\n  mode: self-signed\n  names: [" + tlsAlias + "]\n")
	up := mustRunIn(t, siteDir, env, "up", "redmine", "--profile", "debian", "--timeout", "15m")
	if got := strings.TrimSpace(up.stdout); got != origin+"/" {
		t.Errorf("up printed %q, want the site's url %s/", got, origin)
	}
	selfSigned := pemCerts(t, filepath.Join(instanceState(t, state), "redmine", "tls", "self-signed-certificate.pem"))
	c := tlsClient(selfSigned[0], nil)
	resp, _ := fetch(t, c, origin+"/")
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("GET %s/: %s over %v, want 200 over TLS 1.2 or later", origin, resp.Status, resp.TLS)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("HSTS %q, want max-age=31536000 (a year)", got)
	}
	login, _ := fetch(t, c, origin+"/login")
	securityHeaders(t, login, true)
	if r, _ := fetch(t, c, fmt.Sprintf("https://%s:%d/", tlsAlias, httpsPort)); r.StatusCode != http.StatusOK {
		t.Errorf("over HTTPS as %s (tls.names): %s, want 200", tlsAlias, r.Status)
	}
	old := tlsClient(selfSigned[0], &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if r, err := old.Get(origin + "/"); err == nil {
		r.Body.Close()
		t.Errorf("TLS 1.1 was accepted: want TLS 1.2 and 1.3 only")
	}
	r, _ := fetch(t, c, plain+"/projects?set_filter=1")
	if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != origin+"/projects?set_filter=1" {
		t.Errorf("plain HTTP: %s to %q, want 301 to %s/projects?set_filter=1", r.Status, r.Header.Get("Location"), origin)
	}
	if r.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	if r, _ := fetch(t, c, plain+"/healthz"); r.StatusCode != http.StatusOK {
		t.Errorf("plain HTTP's health check: %s, want 200, not a redirect", r.Status)
	}
	password := readSecrets(t, filepath.Join(instanceState(t, state), "redmine", "secrets"))["admin_password"]
	formsOverHTTPS(t, selfSigned[0], origin, password)
	stackctlOverHTTPS(t, siteDir, env, origin, httpsPort)
	if r := mustRunIn(t, siteDir, env, "renew", "redmine"); !strings.Contains(r.stderr, "not due: nothing changed") {
		t.Errorf("renew of a new self-signed certificate does not say it is not due:\n%s", r.stderr)
	}

	// Files: each refused before anything changes.
	before, served := containerIDs(t, api, redmineProject(t)), servedCert(t, c, origin)
	root := makeCert(t, "stackctl test root", nil, nil, time.Now().Add(-time.Hour), time.Now().AddDate(1, 0, 0))
	good := makeCert(t, tlsHost, []string{tlsHost, tlsAlias}, &root, time.Now().Add(-time.Hour), time.Now().AddDate(0, 3, 0))
	expired := makeCert(t, tlsHost, []string{tlsHost, tlsAlias}, &root, time.Now().AddDate(0, -3, 0), time.Now().AddDate(0, 0, -1))
	elsewhere := makeCert(t, "other.test", []string{"other.test"}, &root, time.Now().Add(-time.Hour), time.Now().AddDate(0, 3, 0))
	for _, tc := range []struct {
		name string
		cert certKey
		key  crypto.Signer
		want string
	}{
		{"mismatched key", good, elsewhere.key, "key.pem is not the key of the certificate in"},
		{"expired", expired, expired.key, "expired on " + time.Now().AddDate(0, 0, -1).UTC().Format(time.DateOnly)},
		{"wrong host", elsewhere, elsewhere.key, "does not cover " + tlsHost},
	} {
		t.Run("files/"+tc.name, func(t *testing.T) {
			writePrivate(t, filepath.Join(siteDir, "cert.pem"), append(tc.cert.pem(), root.pem()...))
			writePrivate(t, filepath.Join(siteDir, "key.pem"), keyPEM(t, tc.key))
			settings("tls:\n  mode: files\n  certificate_file: cert.pem\n  key_file: key.pem\n  names: [" + tlsAlias + "]\n")
			r := stackctlIn(t, siteDir, env, "up", "redmine")
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("up: exit %d, want 2 saying %q:\n%s", r.code, tc.want, r.stderr)
			}
			if ids := containerIDs(t, api, redmineProject(t)); ids != before {
				t.Errorf("containers changed: %s, were %s", ids, before)
			}
			if got := servedCert(t, c, origin); got != served {
				t.Error("nginx serves another certificate after a refused up")
			}
		})
	}

	// ACME, from Pebble.
	pebbleRoot, directory, caFile := startPebble(t, httpPort)
	acme := "tls:\n  mode: acme\n  names: [" + tlsAlias + "]\n  acme:\n    email: admin@" + tlsHost +
		"\n    directory: " + directory + "\n    ca_file: " + caFile + "\n"
	settings(acme)
	mustRunIn(t, siteDir, env, "up", "redmine", "--timeout", "15m")
	ac := tlsClient(pebbleRoot, nil)
	resp, _ = fetch(t, ac, origin+"/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/ with Pebble's certificate: %s, want 200", origin, resp.Status)
	}
	issued := resp.TLS.PeerCertificates[0]
	if life := issued.NotAfter.Sub(issued.NotBefore); life > pebbleValidity {
		t.Fatalf("Pebble's certificate lives %s, want %s at most", life, pebbleValidity)
	}
	if r, _ := fetch(t, ac, plain+"/.well-known/acme-challenge/none"); r.StatusCode != http.StatusNotFound {
		t.Errorf("plain HTTP's challenge path: %s, want 404 from nginx, not a redirect", r.Status)
	}
	// Due once a third of its lifetime is left.
	due := issued.NotAfter.Add(-issued.NotAfter.Sub(issued.NotBefore) / 3).Add(5 * time.Second)
	t.Logf("waiting %s until the certificate is due", time.Until(due).Round(time.Second))
	time.Sleep(time.Until(due))
	p := startClientProbe(ac, origin+"/")
	renew := mustRunIn(t, siteDir, env, "renew", "redmine")
	time.Sleep(time.Second)
	n, failures := p.stop()
	t.Logf("renew: %d probe requests, %d failed", n, len(failures))
	if !strings.Contains(renew.stderr, "renewed") {
		t.Errorf("renew of a due certificate does not say it renewed:\n%s", renew.stderr)
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d probe requests failed during renew: %v", len(failures), n, failures)
	}
	resp, _ = fetch(t, ac, origin+"/")
	if now := resp.TLS.PeerCertificates[0]; now.SerialNumber.Cmp(issued.SerialNumber) == 0 || !now.NotAfter.After(issued.NotAfter) {
		t.Errorf("after renew nginx serves serial %x until %s; want a new certificate beyond %s", now.SerialNumber, now.NotAfter, issued.NotAfter)
	}

	// Mail, over this HTTPS front.
	mailAtTheFront(t, api, siteDir, env, common+acme, origin, ac, password)
}

// formsOverHTTPS logs in and makes a project and an issue through Redmine's
// HTML forms over HTTPS, as a browser does (its Origin and Referer headers
// too): every form takes its authenticity token, and Redmine's redirects
// name https and the site's host, so Redmine sees the scheme and host.
func formsOverHTTPS(t *testing.T, cert *x509.Certificate, origin, password string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := tlsClient(cert, nil)
	c.Jar = jar
	submit := func(page, action string, fields url.Values, want string) string {
		t.Helper()
		_, body := fetch(t, c, origin+page)
		// The token of the form that posts to action, as a browser sends it.
		form := regexp.MustCompile(`(?s)<form[^>]*action="` + regexp.QuoteMeta(action) + `"[^>]*>.*?</form>`).FindString(body)
		m := authenticityToken.FindStringSubmatch(form)
		if m == nil {
			t.Fatalf("no form posting to %s with an authenticity token on %s:\n%.500s", action, page, body)
		}
		fields.Set("authenticity_token", m[1])
		req, err := http.NewRequest(http.MethodPost, origin+action, strings.NewReader(fields.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		req.Header.Set("Referer", origin+page)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound || bytes.Contains(b, []byte("Invalid form authenticity token")) || !strings.HasPrefix(loc, origin+want) {
			t.Fatalf("POST %s: %s to %q, want 302 to %s%s...\n%.800s", action, resp.Status, loc, origin, want, b)
		}
		return loc
	}
	submit("/login", "/login", url.Values{"username": {"admin"}, "password": {password}}, "/")
	if r, _ := fetch(t, c, origin+"/my/account"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET /my/account after the login over HTTPS: %s, want 200", r.Status)
	}
	submit("/projects/new", "/projects", url.Values{
		"project[name]": {"HTTPS"}, "project[identifier]": {"https-forms"}, "project[is_public]": {"1"},
	}, "/projects/https-forms")
	_, page := fetch(t, c, origin+"/projects/https-forms/issues/new")
	fields := url.Values{"issue[subject]": {"made through the forms over HTTPS"}}
	if m := trackerOption.FindStringSubmatch(page); m != nil {
		fields.Set("issue[tracker_id]", m[1])
	}
	issue := submit("/projects/https-forms/issues/new", "/projects/https-forms/issues", fields, "/issues/")
	if r, body := fetch(t, c, issue); r.StatusCode != http.StatusOK || !strings.Contains(body, "made through the forms over HTTPS") {
		t.Errorf("GET %s: %s, want the new issue", issue, r.Status)
	}
}

// proxiedHeaders are the security headers nginx sets on every answer; Rails
// sends three of them too.
var proxiedHeaders = []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Permissions-Policy", "Cross-Origin-Opener-Policy"}

// securityHeadersOnce fails unless each of nginx's security headers is in
// resp once (twice is a TLS scanner's finding, and two values may disagree).
func securityHeadersOnce(t *testing.T, resp *http.Response) {
	t.Helper()
	for _, h := range proxiedHeaders {
		if v := resp.Header.Values(h); len(v) != 1 {
			t.Errorf("%s %s: %s sent %d times %q, want once", resp.Request.Method, resp.Request.URL.Path, h, len(v), v)
		}
	}
}

// securityHeaders checks a page Redmine answers through nginx (one that sets
// its session cookie): each security header once, HSTS once over HTTPS, and
// every cookie Secure with one SameSite=Lax over HTTPS (issue 30:
// testssl.sh's findings), none Secure over plain HTTP, where a browser would
// not send it back.
func securityHeaders(t *testing.T, resp *http.Response, https bool) {
	t.Helper()
	securityHeadersOnce(t, resp)
	if n := len(resp.Header.Values("Strict-Transport-Security")); https && n != 1 || !https && n != 0 {
		t.Errorf("%s: Strict-Transport-Security sent %d times over %s", resp.Request.URL, n, resp.Request.URL.Scheme)
	}
	set := resp.Header.Values("Set-Cookie")
	if len(set) == 0 {
		t.Fatalf("%s sets no cookie: want Redmine's session", resp.Request.URL)
	}
	for _, line := range set {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Errorf("%s: cookie %q: %v", resp.Request.URL, line, err)
			continue
		}
		lax := c.SameSite == http.SameSiteLaxMode && strings.Count(strings.ToLower(line), "samesite") == 1
		if https && (!c.Secure || !lax) {
			t.Errorf("%s: cookie %q, want it Secure with one SameSite=Lax", resp.Request.URL, line)
		}
		if !https && c.Secure {
			t.Errorf("%s: cookie %q is Secure over plain HTTP", resp.Request.URL, line)
		}
	}
}

// stackctlOverHTTPS: stackctl's own clients of the stack reach it over
// HTTPS at its published address, trusting the certificate it kept for the
// site's host name: check-theme logs in and finds the theme offered, and
// status names the site's url.
func stackctlOverHTTPS(t *testing.T, siteDir string, env []string, origin string, httpsPort int) {
	t.Helper()
	r := mustRunIn(t, siteDir, env, "check-theme", "--theme", "harbor")
	at := fmt.Sprintf("at https://127.0.0.1:%d/settings?tab=display", httpsPort)
	if !strings.Contains(r.stdout, "harbor       settings    ok") || !strings.Contains(r.stdout, at) {
		t.Errorf("check-theme over HTTPS: want harbor offered %s:\n%s", at, r.stdout)
	}
	// Chromium trusts the key of the certificate stackctl verified.
	shot := filepath.Join(t.TempDir(), "harbor.png")
	r = mustRunIn(t, siteDir, env, "check-theme", "--theme", "harbor", "--apply", "--screenshot", shot)
	if b, err := os.ReadFile(shot); err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) || !strings.Contains(r.stdout, "screenshot  ok") {
		t.Errorf("check-theme --screenshot over HTTPS: %v; want a PNG and the layer ok:\n%s", err, r.stdout)
	}
	if dir := os.Getenv("STACKCTL_E2E_ARTIFACTS"); dir != "" {
		if b, err := os.ReadFile(shot); err == nil {
			os.WriteFile(filepath.Join(dir, "https-screenshot.png"), b, 0o644)
		}
	}
	var s struct {
		URL     string `json:"url"`
		Running bool   `json:"running"`
	}
	if err := json.Unmarshal([]byte(mustRunIn(t, siteDir, env, "status", "redmine", "--json").stdout), &s); err != nil {
		t.Fatal(err)
	}
	if s.URL != origin+"/" || !s.Running {
		t.Errorf("status: url %q, running %v; want the site's url %s/, running", s.URL, s.Running, origin)
	}
}

var trackerOption = regexp.MustCompile(`name="issue\[tracker_id\]"[^>]*>\s*<option[^>]*value="(\d+)"`)

// tlsClient is an HTTP client that trusts only root, reaches every host name
// on loopback (the port kept), and follows no redirect. extra, when given,
// is the TLS configuration to start from.
func tlsClient(root *x509.Certificate, extra *tls.Config) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(root)
	cfg := &tls.Config{}
	if extra != nil {
		cfg = extra.Clone()
	}
	cfg.RootCAs = pool
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		TLSClientConfig: cfg,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}
	return &http.Client{
		Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetch GETs u with c, failing the test when no answer comes.
func fetch(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// servedCert is the SHA-256 of the certificate nginx serves at origin.
func servedCert(t *testing.T, c *http.Client, origin string) string {
	t.Helper()
	resp, _ := fetch(t, c, origin+"/")
	sum := sha256.Sum256(resp.TLS.PeerCertificates[0].Raw)
	return fmt.Sprintf("%x", sum)
}

// pemCerts reads the PEM certificates of path, which must be private.
func pemCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	b := privateFile(t, path)
	var out []*x509.Certificate
	for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no certificate", path)
	}
	return out
}

// certKey is a certificate the test made, with its key.
type certKey struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func (c certKey) pem() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

// makeCert makes a certificate valid from from to to for names (host names
// or IP addresses): a CA when names is nil, signed by parent (by itself when nil).
func makeCert(t *testing.T, cn string, names []string, parent *certKey, from, to time.Time) certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: from, NotAfter: to,
		BasicConstraintsValid: true, IsCA: names == nil, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
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
	return certKey{c, key}
}

func keyPEM(t *testing.T, k crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writePrivate writes a file of mode 0600, as stackctl wants a secret file.
func writePrivate(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startPebble runs Pebble's ACME server in this process on loopback, for
// the rest of the test: its directory's own HTTPS from a certificate the
// test makes (written to caFile, for tls.acme.ca_file), HTTP-01 validated
// for real (no PEBBLE_VA_ALWAYS_VALID) on httpPort of the names, which a DNS
// server of the test resolves to 127.0.0.1, and certificates that live
// pebbleValidity. It returns the root Pebble issues under.
func startPebble(t *testing.T, httpPort int) (root *x509.Certificate, directory, caFile string) {
	t.Helper()
	// The process's environment, which pebble reads (not t.Setenv: this
	// test runs beside others, and none of them reads these).
	for k, v := range map[string]string{
		"PEBBLE_VA_ALWAYS_VALID": "0",
		"PEBBLE_VA_NOSLEEP":      "1", // validate at once, not after up to 15 s
		"PEBBLE_WFE_NONCEREJECT": "0", // no bad nonces on purpose: lego retries them, but the log is clearer
		"PEBBLE_AUTHZREUSE":      "0", // the renewal validates again through nginx
	} {
		os.Setenv(k, v)
		t.Cleanup(func() { os.Unsetenv(k) })
	}
	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Pebble's log:\n%s", logs.String())
		}
	})
	logger := log.New(logs, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "short-lived, for the renewal test", ValidityPeriod: uint64(pebbleValidity / time.Second)},
	})
	validator := va.New(logger, httpPort, 0, false, startDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)

	serving := makeCert(t, "pebble test directory", nil, nil, time.Now().Add(-time.Hour), time.Now().AddDate(0, 0, 1))
	leaf := makeCert(t, "127.0.0.1", []string{"127.0.0.1"}, &serving, time.Now().Add(-time.Hour), time.Now().AddDate(0, 0, 1))
	caFile = filepath.Join(t.TempDir(), "pebble-directory-ca.pem")
	writeFile(t, caFile, string(serving.pem()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:  front.Handler(),
		ErrorLog: logger,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{
			Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key, Leaf: leaf.cert,
		}}},
	}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return authority.GetRootCert(0).Cert, "https://" + ln.Addr().String() + wfe.DirectoryPath, caFile
}

// startDNS serves DNS on loopback for Pebble's validation: every name's A
// record is 127.0.0.1, and it has no other record (no AAAA, no CAA). Over TCP,
// which Pebble's resolver uses, and UDP on the same port.
func startDNS(t *testing.T) string {
	t.Helper()
	handler := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1),
				})
			}
		}
		w.WriteMsg(m)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*dns.Server{{Listener: ln, Handler: handler}, {PacketConn: pc, Handler: handler}} {
		go srv.ActivateAndServe()
		t.Cleanup(func() { srv.Shutdown() })
	}
	return ln.Addr().String()
}

// lockedBuffer is a log that Pebble's goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
