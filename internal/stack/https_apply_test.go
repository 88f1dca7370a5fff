package stack

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/state"
)

// TestApplyHTTPS: renew puts what the tls settings say into the front's
// TLS directory and reloads nginx only when it changes it: the same
// certificate again is left alone, a forced renewal replaces it, mode off
// removes it, and a configuration nginx refuses leaves it serving as before.
func TestApplyHTTPS(t *testing.T) {
	st := mustRedmine()
	e := newScripted()
	e.tls = map[string]string{}
	r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	if err := r.State.Save(st.Name, state.State{Profile: catalog.ProfileUpstream, Listen: "127.0.0.1:8443", Active: 1}); err != nil {
		t.Fatal(err)
	}
	off := https.Config{Mode: https.ModeOff}
	selfSigned := https.Config{Mode: https.ModeSelfSigned, Names: []string{"tracker.test"}}
	var served map[string]string
	for _, tc := range []struct {
		name               string
		c                  https.Config
		force, refused     bool
		renewed, reloaded  bool
		serves, sameAsLast bool
		mode               string
		failsWith          string
	}{
		{name: "off, never on", c: off, mode: https.ModeOff},
		{name: "on", c: selfSigned, mode: https.ModeSelfSigned, renewed: true, reloaded: true, serves: true},
		{name: "on again", c: selfSigned, mode: https.ModeSelfSigned, serves: true, sameAsLast: true},
		{name: "forced", c: selfSigned, force: true, mode: https.ModeSelfSigned, renewed: true, reloaded: true, serves: true},
		{name: "off, refused by nginx", c: off, refused: true, mode: https.ModeOff, serves: true, sameAsLast: true,
			failsWith: "nginx refused its HTTPS configuration (tls.mode off), and serves as before"},
		{name: "off", c: off, mode: https.ModeOff, reloaded: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.HTTPS, e.refuseTLS = tc.c, tc.refused
			res, err := r.ApplyHTTPS(t.Context(), tc.force)
			if tc.failsWith != "" {
				if err == nil || !strings.Contains(err.Error(), tc.failsWith) {
					t.Fatalf("ApplyHTTPS: %v, want %q", err, tc.failsWith)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if res.Mode != tc.mode || res.Renewed != tc.renewed || res.Reloaded != tc.reloaded || (res.NotAfter != "") != (tc.mode != https.ModeOff) {
				t.Errorf("result %+v, want mode %s renewed %v reloaded %v", res, tc.mode, tc.renewed, tc.reloaded)
			}
			if serves := e.tls[tlsStamp] != ""; serves != tc.serves {
				t.Errorf("the front's TLS directory %v: serves HTTPS %v, want %v", slicesKeys(e.tls), serves, tc.serves)
			}
			if tc.serves && (e.tls[https.FileKey] == "" || e.tls[https.FileChain] == "" || !strings.Contains(e.tls[https.FileServer], "ssl_certificate")) {
				t.Errorf("the front's TLS directory lacks the key, chain or configuration: %v", slicesKeys(e.tls))
			}
			if same := maps.Equal(e.tls, served); same != tc.sameAsLast && len(e.tls) > 0 {
				t.Errorf("the TLS directory unchanged: %v, want %v", same, tc.sameAsLast)
			}
			served = maps.Clone(e.tls)
		})
	}
}

// slicesKeys names a directory's files, for messages.
func slicesKeys(m map[string]string) []string {
	var out []string
	for k := range maps.Keys(m) {
		out = append(out, k)
	}
	return out
}

// TestApplyHTTPSRefuses: a stack without HTTPS refuses tls settings and
// accepts mode off; a front that does not run cannot be given a certificate.
func TestApplyHTTPSRefuses(t *testing.T) {
	nginx, _ := catalog.LookupStack("nginx")
	r := Runner{Stack: nginx, Compose: &fakeCompose{ps: []api.ContainerSummary{}}, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
	if res, err := r.ApplyHTTPS(t.Context(), false); err != nil || res.Mode != https.ModeOff || res.Reloaded {
		t.Errorf("nginx, mode off: %+v, %v", res, err)
	}
	r.HTTPS = https.Config{Mode: https.ModeSelfSigned, Names: []string{"tracker.test"}}
	if _, err := r.ApplyHTTPS(t.Context(), false); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "apply to the redmine stack") {
		t.Errorf("nginx with tls on: %v", err)
	}
	if _, err := r.For(mustRedmine()).ApplyHTTPS(t.Context(), false); !errors.Is(err, errs.ErrNotRunning) {
		t.Errorf("redmine not running: %v, want not running", err)
	}
}

// TestChallenger: ACME's HTTP-01 answers are served from the front: the
// challenge location is put in place once, then each answer written and
// cleaned up by token; a token that is no base64url name is never written.
func TestChallenger(t *testing.T) {
	st := mustRedmine()
	e := newScripted()
	e.tls = map[string]string{}
	ch := &challenger{r: Runner{Stack: st, Engine: e}, st: st, front: "c-nginx"}
	if err := ch.Present(t.Context(), "../etc/passwd", "x"); err == nil {
		t.Error("a token with a path was written")
	}
	for _, token := range []string{"tok-1", "tok_2"} {
		if err := ch.Present(t.Context(), token, "auth-"+token); err != nil {
			t.Fatal(err)
		}
	}
	if e.tls[https.FileACME] != https.ACMEConf(st.Generations.TLSDir) {
		t.Errorf("acme.conf = %q", e.tls[https.FileACME])
	}
	if e.challenges["tok-1"] != "auth-tok-1" || e.challenges["tok_2"] != "auth-tok_2" {
		t.Errorf("answers served %v", e.challenges)
	}
	if err := ch.CleanUp(t.Context(), "tok-1"); err != nil {
		t.Fatal(err)
	}
	if err := ch.CleanUp(t.Context(), "../x"); err != nil {
		t.Errorf("clean-up of a token never written: %v", err)
	}
	if _, ok := e.challenges["tok-1"]; ok || len(e.challenges) != 1 {
		t.Errorf("after clean-up: %v", e.challenges)
	}
	// A second challenger on a front that has the location already leaves it.
	before := maps.Clone(e.tls)
	again := &challenger{r: Runner{Stack: st, Engine: e}, st: st, front: "c-nginx"}
	if err := again.Present(t.Context(), "tok-3", "a"); err != nil || !maps.Equal(before, e.tls) {
		t.Errorf("present with the location there: %v; directory %v", err, slicesKeys(e.tls))
	}
}
