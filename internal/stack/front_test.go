package stack

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/state"
)

// TestFront: with TLS off stackctl reaches the stack over plain HTTP with the
// default transport; with self-signed HTTPS, over https at the recorded
// listen address, verifying the certificate for the site's host name against
// the one stackctl kept, and refusing another made for the same name.
func TestFront(t *testing.T) {
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	runner := func(t *testing.T, c https.Config) Runner {
		return Runner{Stack: st, State: state.Dir(t.TempDir()), Overrides: catalog.Overrides{HTTPS: c.On()}, HTTPS: c}
	}
	record := func(t *testing.T, r Runner, listen string) {
		t.Helper()
		if err := r.State.Save(st.Name, state.State{Profile: catalog.ProfileUpstream, Listen: listen}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("off", func(t *testing.T) {
		r := runner(t, https.Config{Mode: https.ModeOff})
		record(t, r, "0.0.0.0:8080")
		f, err := r.Front()
		if err != nil {
			t.Fatal(err)
		}
		if f.URL != "http://localhost:8080/" || f.Open != f.URL {
			t.Errorf("URL %q, Open %q; want http://localhost:8080/ for both", f.URL, f.Open)
		}
		if rt, err := f.Transport(); err != nil || rt != http.DefaultTransport {
			t.Errorf("transport %T, %v; want http.DefaultTransport", rt, err)
		}
	})

	t.Run("self-signed", func(t *testing.T) {
		const origin = "https://tracker.test:8443"
		c := https.Config{Mode: https.ModeSelfSigned, Names: []string{"tracker.test"}, Origin: origin}
		r := runner(t, c)
		// Made and kept where up keeps it, and served by a server whose
		// address is not the name: ServerName must say it.
		kept := c
		kept.Dir = r.State.TLSDir(st.Name)
		srv := serveTLS(t, kept)
		listen := strings.TrimPrefix(srv.URL, "https://")
		record(t, r, listen)

		f, err := r.Front()
		if err != nil {
			t.Fatal(err)
		}
		if f.URL != "https://"+listen+"/" || f.Open != origin+"/" {
			t.Errorf("URL %q, Open %q; want https://%s/ and the site's url %s/", f.URL, f.Open, listen, origin)
		}
		rt, err := f.Transport()
		if err != nil {
			t.Fatal(err)
		}
		tr := rt.(*http.Transport)
		if cfg := tr.TLSClientConfig; cfg == nil || cfg.ServerName != "tracker.test" || cfg.InsecureSkipVerify {
			t.Fatalf("TLS configuration %+v: want ServerName tracker.test, verified", cfg)
		}
		client := &http.Client{Transport: rt, Timeout: 10 * time.Second}
		resp, err := client.Get(f.URL)
		if err != nil {
			t.Fatalf("GET %s with the kept certificate served: %v", f.URL, err)
		}
		resp.Body.Close()

		// Another self-signed certificate for the same name: refused.
		other := https.Config{Mode: https.ModeSelfSigned, Names: c.Names, Dir: t.TempDir()}
		stranger := serveTLS(t, other)
		_, err = client.Get(stranger.URL)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("GET %s serving another certificate: %v; want an unknown authority", stranger.URL, err)
		}
		if err := waitHTTP(t.Context(), stranger.URL, rt, time.Second); err == nil {
			t.Error("up's wait accepts another certificate")
		}
		if err := waitHTTP(t.Context(), f.URL, rt, 5*time.Second); err != nil {
			t.Errorf("up's wait: %v", err)
		}
	})
}

// serveTLS serves HTTPS on loopback with c's self-signed certificate, made
// (or kept) in c.Dir.
func serveTLS(t *testing.T, c https.Config) *httptest.Server {
	t.Helper()
	b, _, err := c.Certificate(t.Context(), nil, false, func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(b.ChainPEM, b.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are meant
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}
