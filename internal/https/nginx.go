package https

import (
	"fmt"
	"path"
	"strings"
)

// The files stackctl keeps in nginx's TLS directory (a volume nginx's site
// includes *.conf of, inside its plain HTTP server): with mode off there are
// none, and nginx serves plain HTTP exactly as without this package.
const (
	FileServer  = "https.conf"
	FileACME    = "acme.conf"
	FileChain   = "fullchain.pem"
	FileKey     = "key.pem"
	FileIssuers = "issuers.pem"
	// ChallengeDir holds HTTP-01 answers, one file a token.
	ChallengeDir = "acme-challenge"
)

// Files lists every file of the TLS directory stackctl writes, so that what
// a mode does not write is removed.
var Files = []string{FileServer, FileACME, FileChain, FileKey, FileIssuers}

// Port is where nginx listens for HTTPS inside the edge's network namespace,
// with reuseport as on its plain HTTP port, so that a new nginx starts beside
// the old one on both.
const Port = 8443

// HSTSMaxAge is a year, in seconds: the Strict-Transport-Security max-age.
const HSTSMaxAge = 365 * 24 * 60 * 60

// ciphers are Mozilla's intermediate TLS 1.2 suites without the DHE ones,
// which would need a dhparam file for clients that have the ECDHE ones
// anyway; TLS 1.3's own suites are not configurable and all good.
const ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" +
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

// NginxFiles are the files of nginx's TLS directory dir (inside its
// container) that serve b in c's mode, by name: the certificate chain, its
// key, the issuers OCSP responses are verified with (only when the
// certificate names an OCSP responder), the HTTPS configuration and, in mode
// acme, the challenge location.
func (c Config) NginxFiles(dir string, b Bundle) map[string]string {
	staple := len(b.Leaf.OCSPServer) > 0 && len(b.Issuers) > 0
	out := map[string]string{
		FileChain:  string(b.ChainPEM),
		FileKey:    string(b.KeyPEM),
		FileServer: c.ServerConf(dir, staple),
	}
	if staple {
		out[FileIssuers] = string(encodeCerts(b.Issuers))
	}
	if c.Mode == ModeACME {
		out[FileACME] = ACMEConf(dir)
	}
	return out
}

// ServerConf is the HTTPS part of nginx's Redmine server, included in it:
// the HTTPS port, the certificate, TLS 1.2 and 1.3 with Mozilla's
// intermediate ciphers, no session tickets (their keys would never rotate
// in a long-running nginx, undoing forward secrecy), OCSP stapling when
// staple says the certificate has a responder, HSTS on HTTPS answers,
// cookies marked Secure and SameSite=Lax, and
// plain HTTP redirected to HTTPS (see nginx-site.conf: every route but the
// health check and ACME's challenges).
func (c Config) ServerConf(dir string, staple bool) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# Written by stackctl from the site's tls settings (mode %s). Do not edit: see docs/https.md.", c.Mode)
	w("listen %d ssl reuseport;", Port)
	w("ssl_certificate %s;", path.Join(dir, FileChain))
	w("ssl_certificate_key %s;", path.Join(dir, FileKey))
	w("ssl_protocols TLSv1.2 TLSv1.3;")
	w("ssl_ciphers %s;", ciphers)
	w("ssl_prefer_server_ciphers off;")
	w("ssl_ecdh_curve X25519:prime256v1:secp384r1;")
	w("ssl_session_cache shared:TLS:10m;")
	w("ssl_session_timeout 1d;")
	w("ssl_session_tickets off;")
	if staple {
		w("ssl_stapling on;")
		w("ssl_stapling_verify on;")
		w("ssl_trusted_certificate %s;", path.Join(dir, FileIssuers))
	}
	w("")
	w("# HSTS on HTTPS only: a header with an empty value is not sent.")
	w(`set $hsts "";`)
	w("if ($scheme = https) {")
	w(`    set $hsts "max-age=%d";`, HSTSMaxAge)
	w("}")
	w("add_header Strict-Transport-Security $hsts always;")
	w("# Cookies (Redmine's session) sent back over HTTPS only, and not with requests")
	w("# from other sites: Rails, behind a proxy, sets neither.")
	w("proxy_cookie_flags ~ secure samesite=lax;")
	w("if ($scheme = http) {")
	w(`    set $https_redirect "%s";`, c.redirectTo())
	w("}")
	return b.String()
}

// redirectTo is the origin plain HTTP redirects to: the site's url, else
// the host asked for on the published HTTPS port.
func (c Config) redirectTo() string {
	if c.Origin != "" {
		return strings.TrimSuffix(c.Origin, "/")
	}
	if c.HTTPSPort == "" || c.HTTPSPort == "443" {
		return "https://$host"
	}
	return "https://$host:" + c.HTTPSPort
}

// ACMEConf serves the HTTP-01 answers stackctl writes into dir's
// ChallengeDir, on plain HTTP, before any certificate exists.
func ACMEConf(dir string) string {
	return "# Written by stackctl: ACME's HTTP-01 challenges (tls.mode acme). Do not edit: see docs/https.md.\n" +
		"location ^~ /.well-known/acme-challenge/ {\n" +
		"    alias " + path.Join(dir, ChallengeDir) + "/;\n" +
		"    default_type text/plain;\n" +
		"    access_log off;\n" +
		"}\n"
}
