package theme

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/html"
)

// Client is an administrator's browser session on Redmine: cookies, CSRF tokens
// and the forms Redmine puts in the way (forced password change, sudo mode).
type Client struct {
	base     *url.URL
	user     string
	password string
	// Passwords makes and keeps the password the client sets when Redmine
	// demands a change; without it such a demand is an error.
	Passwords PasswordKeeper
	http      *http.Client
	// served is the certificate the site answered with over HTTPS, verified
	// by the transport: what a browser of stackctl's may trust (Pin).
	served *x509.Certificate
}

// Pin is the base64 SHA-256 of the public key of the certificate the site
// served over HTTPS, as the client verified it (Chromium's
// --ignore-certificate-errors-spki-list takes it); "" over plain HTTP or
// before the first request.
func (c *Client) Pin() string {
	if c.served == nil {
		return ""
	}
	sum := sha256.Sum256(c.served.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// NewClient returns a client of the Redmine at baseURL, reached through rt
// (nil: http.DefaultTransport), logging in as user.
func NewClient(baseURL string, rt http.RoundTripper, user, password string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	return &Client{base: u, user: user, password: password, http: &http.Client{Transport: rt, Jar: jar, Timeout: 60 * time.Second}}, nil
}

// page is a fetched HTML page and where it ended up after redirects.
type page struct {
	url  *url.URL
	doc  *html.Node
	code int
}

func (c *Client) get(ctx context.Context, p string) (*page, error) {
	ref, err := url.Parse(p)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base.ResolveReference(ref).String(), nil)
	if err != nil {
		return nil, err
	}
	return c.do(req)
}

func (c *Client) submit(ctx context.Context, f *form) (*page, error) {
	ref, err := url.Parse(f.action)
	if err != nil {
		return nil, fmt.Errorf("form action %q: %w", f.action, err)
	}
	target := f.page.url.ResolveReference(ref)
	var req *http.Request
	if f.method == http.MethodGet {
		target.RawQuery = f.values.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(f.values.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if err != nil {
		return nil, err
	}
	return c.do(req)
}

func (c *Client) do(req *http.Request) (*page, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		c.served = resp.TLS.PeerCertificates[0]
	}
	doc, err := html.Parse(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", req.URL.Path, err)
	}
	return &page{url: resp.Request.URL, doc: doc, code: resp.StatusCode}, nil
}

// Login signs in through the login form and gets past a forced password change.
func (c *Client) Login(ctx context.Context) error {
	p, err := c.get(ctx, "/login")
	if err != nil {
		return fmt.Errorf("%w: %v: is the stack up? ('stackctl ps redmine')", ErrLogin, err)
	}
	f := p.formWith("username")
	if f == nil {
		return fmt.Errorf("%w: %s has no login form (HTTP %d)", ErrLogin, p.url, p.code)
	}
	f.values.Set("username", c.user)
	f.values.Set("password", c.password)
	p, err = c.submit(ctx, f)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLogin, err)
	}
	if p.formWith("username") != nil && p.formWith("password") != nil && strings.HasSuffix(p.url.Path, "/login") {
		return fmt.Errorf("%w: Redmine refused the password for %s: check --admin-password-file (stackctl's is in the state directory, secrets/admin_password)",
			ErrLogin, c.user)
	}
	if strings.HasSuffix(p.url.Path, "/my/password") {
		return c.changePassword(ctx, p)
	}
	return nil
}

// PasswordKeeper makes and keeps the password a client sets when Redmine
// demands a change. Propose returns a new password, kept aside where it
// survives a crash; Accepted makes it the password once Redmine has taken it,
// Refused drops it once Redmine has shown the form again. Without an answer
// neither is called: the new password may be the working one, and stays aside.
type PasswordKeeper interface {
	Propose() (string, error)
	Accepted(password string) error
	Refused()
}

// changePassword answers Redmine's forced password change with a password from
// c.Passwords, kept only once Redmine has accepted it.
func (c *Client) changePassword(ctx context.Context, p *page) error {
	if c.Passwords == nil {
		return fmt.Errorf("%w: Redmine demands a new password for %s: log in once in a browser and change it", ErrLogin, c.user)
	}
	f := p.formWith("new_password")
	if f == nil {
		return fmt.Errorf("%w: Redmine demands a new password but shows no form at %s", ErrLogin, p.url)
	}
	pw, err := c.Passwords.Propose()
	if err != nil {
		return fmt.Errorf("%w: making a new password: %v", ErrLogin, err)
	}
	f.values.Set("password", c.password)
	f.values.Set("new_password", pw)
	f.values.Set("new_password_confirmation", pw)
	answer, err := c.submit(ctx, f)
	if err != nil {
		// Redmine may have taken it before the answer was lost: it stays aside.
		return fmt.Errorf("%w: no answer to the new password (%v): Redmine may have taken it, so it is kept aside", ErrLogin, err)
	}
	if answer.formWith("new_password") != nil {
		c.Passwords.Refused()
		return fmt.Errorf("%w: Redmine did not accept the new password; the old one is kept", ErrLogin)
	}
	if err := c.Passwords.Accepted(pw); err != nil {
		return fmt.Errorf("%w: Redmine took a new password, but keeping it failed: %v", ErrLogin, err)
	}
	c.password = pw
	return nil
}

// settingsPage fetches Administration → Settings → Display, confirming the
// password where Redmine's sudo mode asks for it.
func (c *Client) settingsPage(ctx context.Context) (*page, error) {
	p, err := c.get(ctx, "/settings?tab=display")
	if err != nil {
		return nil, err
	}
	if f := p.formWith("sudo_password"); f != nil {
		f.values.Set("sudo_password", c.password)
		if p, err = c.submit(ctx, f); err != nil {
			return nil, err
		}
		if p.formWith("sudo_password") != nil {
			return nil, fmt.Errorf("%w: Redmine's sudo mode refused the administrator's password", ErrLogin)
		}
	}
	if p.code == http.StatusForbidden || strings.HasSuffix(p.url.Path, "/login") {
		return nil, fmt.Errorf("%w: %s may not open the settings (HTTP %d): is it an administrator?", ErrLogin, c.user, p.code)
	}
	return p, nil
}

// ThemeOptions lists the values of settings[ui_theme] on the Display settings.
func (c *Client) ThemeOptions(ctx context.Context) ([]string, error) {
	p, err := c.settingsPage(ctx)
	if err != nil {
		return nil, err
	}
	sel := find(p.doc, func(n *html.Node) bool { return n.Data == "select" && attr(n, "name") == "settings[ui_theme]" })
	if sel == nil {
		return nil, fmt.Errorf("%w: %s shows no settings[ui_theme] select", ErrNotOffered, p.url)
	}
	var opts []string
	walk(sel, func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "option" {
			opts = append(opts, attr(n, "value"))
		}
	})
	return opts, nil
}

// Apply selects theme id as Redmine's default through the Display settings form.
func (c *Client) Apply(ctx context.Context, id string) error {
	p, err := c.settingsPage(ctx)
	if err != nil {
		return err
	}
	f := p.formWith("settings[ui_theme]")
	if f == nil {
		return fmt.Errorf("%w: %s has no form with settings[ui_theme]", ErrNotApplied, p.url)
	}
	f.values.Set("settings[ui_theme]", id)
	if p, err = c.submit(ctx, f); err != nil {
		return fmt.Errorf("%w: submitting the Display settings: %v", ErrNotApplied, err)
	}
	if p.code >= 400 {
		return fmt.Errorf("%w: Redmine answered HTTP %d to the Display settings", ErrNotApplied, p.code)
	}
	return nil
}

// CheckApplied fetches the home page and checks that it links t's stylesheet and
// carries t's body class.
func (c *Client) CheckApplied(ctx context.Context, t Theme) error {
	p, err := c.get(ctx, "/")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotApplied, err)
	}
	link := find(p.doc, func(n *html.Node) bool {
		return n.Data == "link" && attr(n, "rel") == "stylesheet" && strings.Contains(attr(n, "href"), "/themes/"+t.ID+"/")
	})
	if link == nil {
		return fmt.Errorf("%w: the home page links no stylesheet under themes/%s/", ErrNotApplied, t.ID)
	}
	body := find(p.doc, func(n *html.Node) bool { return n.Data == "body" })
	classes := strings.Fields(attr(body, "class"))
	for _, want := range t.BodyClasses() {
		if hasBodyClass(classes, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: <body class=%q> lacks %s", ErrNotApplied, attr(body, "class"), t.BodyClasses()[0])
}

// form is an HTML form's action, method and the values a browser would send.
type form struct {
	page   *page
	action string
	method string
	values url.Values
}

// formWith returns the first form holding a field called name, or nil.
func (p *page) formWith(name string) *form {
	var out *form
	walk(p.doc, func(n *html.Node) {
		if out != nil || n.Type != html.ElementNode || n.Data != "form" {
			return
		}
		if find(n, func(c *html.Node) bool { return attr(c, "name") == name }) == nil {
			return
		}
		f := &form{page: p, action: attr(n, "action"), method: strings.ToUpper(attr(n, "method")), values: url.Values{}}
		if f.method == "" {
			f.method = http.MethodGet
		}
		if f.action == "" {
			f.action = p.url.RequestURI()
		}
		walk(n, func(c *html.Node) { f.addField(c) })
		out = f
	})
	return out
}

// addField records what a browser submits for one control, untouched.
func (f *form) addField(n *html.Node) {
	name := attr(n, "name")
	if n.Type != html.ElementNode || name == "" {
		return
	}
	switch n.Data {
	case "input":
		switch attr(n, "type") {
		case "submit", "button", "image", "file":
			return
		case "checkbox", "radio":
			if !hasAttr(n, "checked") {
				return
			}
		}
		f.values.Add(name, attr(n, "value"))
	case "textarea":
		var b strings.Builder
		walk(n, func(c *html.Node) {
			if c.Type == html.TextNode {
				b.WriteString(c.Data)
			}
		})
		f.values.Add(name, b.String())
	case "select":
		walk(n, func(o *html.Node) {
			if o.Type == html.ElementNode && o.Data == "option" && hasAttr(o, "selected") {
				f.values.Add(name, attr(o, "value"))
			}
		})
	}
}

func walk(n *html.Node, fn func(*html.Node)) {
	fn(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	var out *html.Node
	walk(n, func(c *html.Node) {
		if out == nil && c.Type == html.ElementNode && match(c) {
			out = c
		}
	})
	return out
}

func attr(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}
