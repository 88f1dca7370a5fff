package https

import (
	"crypto/x509"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// TestClientTLS: a client of the stack's nginx verifies its certificate for
// the site's host name against the system's roots and the top of the chain
// stackctl gave nginx, in each mode; another certificate for the same name
// is refused; mode off is plain HTTP; no certificate yet says to run up.
func TestClientTLS(t *testing.T) {
	root := issue(t, "Test Root", nil, nil, now.AddDate(-1, 0, 0), now.AddDate(5, 0, 0))
	inter := issue(t, "Test Intermediate", nil, &root, now.AddDate(-1, 0, 0), now.AddDate(3, 0, 0))
	leaf := issue(t, "tracker.test", []string{"tracker.test", "www.tracker.test"}, &inter, now.AddDate(0, -1, 0), now.AddDate(0, 2, 0))
	stranger := issue(t, "tracker.test", []string{"tracker.test"}, nil, now.AddDate(0, -1, 0), now.AddDate(0, 2, 0))
	names := []string{"tracker.test", "www.tracker.test"}
	selfSigned, err := SelfSigned(names, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    Config
		// kept is what the state directory (or mode files' file) holds.
		kept   []byte
		served []*x509.Certificate
	}{
		{"self-signed", Config{Mode: ModeSelfSigned, Names: names}, selfSigned.ChainPEM, []*x509.Certificate{selfSigned.Leaf}},
		// A test CA's chain without its root: the intermediate is the anchor.
		{"acme", Config{Mode: ModeACME, Names: names}, cat(leaf.pem(), inter.pem()), []*x509.Certificate{leaf.cert, inter.cert}},
		{"files", Config{Mode: ModeFiles, Names: names}, cat(leaf.pem(), inter.pem(), root.pem()), []*x509.Certificate{leaf.cert, inter.cert}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c
			c.Dir = filepath.Join(t.TempDir(), "redmine", "tls")
			path := c.storedPath(storedCert)
			if c.Mode == ModeFiles {
				c.CertificateFile = filepath.Join(t.TempDir(), "cert.pem")
				path = c.CertificateFile
			}
			if err := state.WritePrivate(path, tc.kept); err != nil {
				t.Fatal(err)
			}
			cfg, err := c.ClientTLS()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ServerName != "tracker.test" || cfg.InsecureSkipVerify {
				t.Fatalf("ServerName %q, InsecureSkipVerify %v; want the url's host, verified", cfg.ServerName, cfg.InsecureSkipVerify)
			}
			inter := x509.NewCertPool()
			for _, c := range tc.served[1:] {
				inter.AddCert(c)
			}
			opts := x509.VerifyOptions{Roots: cfg.RootCAs, Intermediates: inter, DNSName: cfg.ServerName, CurrentTime: now}
			if _, err := tc.served[0].Verify(opts); err != nil {
				t.Errorf("the certificate nginx serves is refused: %v", err)
			}
			opts.Intermediates = nil
			if _, err := stranger.cert.Verify(opts); err == nil {
				t.Error("another certificate for the same name is trusted")
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		if cfg, err := (Config{Mode: ModeOff}).ClientTLS(); cfg != nil || err != nil {
			t.Errorf("mode off: %v, %v; want plain HTTP", cfg, err)
		}
	})
	t.Run("none kept", func(t *testing.T) {
		c := Config{Mode: ModeSelfSigned, Names: names, Dir: t.TempDir()}
		if _, err := c.ClientTLS(); !errors.Is(err, errs.ErrNotRunning) {
			t.Errorf("no certificate kept: %v, want not running (run up)", err)
		}
	})
}
