package stack

import (
	"cmp"
	"fmt"
	"net/http"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/https"
)

// Front is how stackctl reaches a stack's own front (nginx) from the host,
// and the URL it tells the operator: every request stackctl makes to a
// stack (up's wait, check-theme, upgrade's checks) goes through it, so that
// with HTTPS on none speaks plain HTTP to the HTTPS port.
type Front struct {
	// URL is where stackctl's requests go: the recorded listen address, over
	// https when nginx serves HTTPS there.
	URL string
	// Open is the URL an operator opens: with HTTPS on, the site's url when
	// it has one; else URL.
	Open string
	// tls is the site's tls settings, with Dir, when nginx serves HTTPS.
	tls *https.Config
}

// Front describes st's front as last started (its recorded listen address)
// under the site's settings.
func (r Runner) Front() (Front, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return Front{}, err
	}
	return r.front(cmp.Or(rec.Listen, catalog.DefaultListen))
}

// front describes st's front published on listen.
func (r Runner) front(listen string) (Front, error) {
	st := r.Stack
	plain, err := catalog.EntryURL(listen)
	if err != nil {
		return Front{}, err
	}
	// The nginx stack serves no HTTPS (loading it with tls settings fails).
	if g := st.Generations; !r.Overrides.HTTPS || g == nil || g.TLSDir == "" {
		return Front{URL: plain, Open: plain}, nil
	}
	c := r.HTTPS
	c.Dir = r.State.TLSDir(st.Name)
	f := Front{tls: &c}
	if f.URL, err = catalog.HTTPSURL(listen); err != nil {
		return Front{}, err
	}
	f.Open = f.URL
	if r.HTTPS.Origin != "" {
		f.Open = r.HTTPS.Origin + "/"
	}
	return f, nil
}

// Transport is an HTTP transport to f: http.DefaultTransport for plain
// HTTP; with HTTPS, one that verifies nginx's certificate for the site's
// host name against the system's roots and the chain stackctl gave nginx
// (see https.Config.ClientTLS), whatever address it connects to.
func (f Front) Transport() (http.RoundTripper, error) {
	if f.tls == nil {
		return http.DefaultTransport, nil
	}
	cfg, err := f.tls.ClientTLS()
	if err != nil {
		return nil, fmt.Errorf("reaching %s over HTTPS: %w", f.URL, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return tr, nil
}
