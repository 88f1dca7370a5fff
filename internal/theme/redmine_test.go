package theme

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// badKeeper fails where it is told to, and records what it was told.
type badKeeper struct {
	keeper
	proposeErr, acceptErr error
}

func (k *badKeeper) Propose() (string, error) {
	if k.proposeErr != nil {
		return "", k.proposeErr
	}
	return k.keeper.Propose()
}

func (k *badKeeper) Accepted(pw string) error {
	k.keeper.Accepted(pw)
	return k.acceptErr
}

// TestLogin: the login form is filled and sent with its token, and each way
// Redmine can turn the administrator away is an ErrLogin that says what to do.
func TestLogin(t *testing.T) {
	for _, tc := range []struct {
		name     string
		r        *redmine
		password string
		keeper   PasswordKeeper
		want     string // "" for a login that works
	}{
		{name: "right password", r: &redmine{password: "s3cret"}, password: "s3cret"},
		{name: "wrong password", r: &redmine{password: "s3cret"}, password: "guess",
			want: "Redmine refused the password for admin: check --admin-password-file"},
		{name: "forced change without a keeper", r: &redmine{password: "s3cret", forceChange: true}, password: "s3cret",
			want: "Redmine demands a new password for admin: log in once in a browser and change it"},
		{name: "forced change without a form", r: &redmine{password: "s3cret", forceChange: true, noForm: true}, password: "s3cret",
			keeper: &keeper{}, want: "demands a new password but shows no form at"},
		{name: "forced change, no password made", r: &redmine{password: "s3cret", forceChange: true}, password: "s3cret",
			keeper: &badKeeper{proposeErr: errors.New("disk full")}, want: "making a new password: disk full"},
		{name: "forced change taken, not kept", r: &redmine{password: "s3cret", forceChange: true}, password: "s3cret",
			keeper: &badKeeper{acceptErr: errors.New("read-only file system")},
			want:   "Redmine took a new password, but keeping it failed: read-only file system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := tc.r.serve(t, tc.password)
			if tc.keeper != nil {
				c.Passwords = tc.keeper
			}
			err := c.Login(context.Background())
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Login: %v", err)
				}
				if tc.r.logins != 1 {
					t.Fatalf("Redmine saw %d login posts, want 1", tc.r.logins)
				}
				return
			}
			if !errors.Is(err, ErrLogin) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Login = %v, want ErrLogin saying %q", err, tc.want)
			}
		})
	}
}

// TestLoginForcedChangeUsesNewPassword: once Redmine took the new password,
// the client uses it, and sudo mode, which asks for it, lets it through.
func TestLoginForcedChangeUsesNewPassword(t *testing.T) {
	r := &redmine{password: "old-secret", forceChange: true, sudo: true, themes: []string{"harbor"}}
	c, _ := r.serve(t, "old-secret")
	k := &keeper{}
	c.Passwords = k
	ctx := context.Background()
	if err := c.Login(ctx); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if r.password != "new-secret" || k.accepted != 1 {
		t.Fatalf("Redmine's password is %q, keeper %+v: want the proposed one, accepted", r.password, *k)
	}
	if _, err := c.ThemeOptions(ctx); err != nil {
		t.Fatalf("ThemeOptions through sudo mode after the change: %v", err)
	}
}

// TestLoginUnreachable: no answer at all names the stack to check.
func TestLoginUnreachable(t *testing.T) {
	srv := httptest.NewServer(&redmine{})
	srv.Close()
	c, err := NewClient(srv.URL, nil, "admin", "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(context.Background()); !errors.Is(err, ErrLogin) || !strings.Contains(err.Error(), "is the stack up? ('stackctl ps redmine')") {
		t.Fatalf("Login = %v, want ErrLogin naming 'stackctl ps redmine'", err)
	}
}

// TestLoginNoForm: a page that is not Redmine's login names the URL and its status.
func TestLoginNoForm(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, nil, "admin", "x")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Login(context.Background())
	if !errors.Is(err, ErrLogin) || !strings.Contains(err.Error(), srv.URL+"/login has no login form (HTTP 404)") {
		t.Fatalf("Login = %v, want ErrLogin naming the page and HTTP 404", err)
	}
}

// TestThemeOptions: the values of the theme select, in Redmine's order,
// through sudo mode; and each way the settings stay closed.
func TestThemeOptions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		r        *redmine
		login    bool // log in first
		password string
		// sudoWith, when set, is the password the client holds by the time
		// sudo mode asks (it changed under the session).
		sudoWith string
		want     []string
		is       error
		says     string
	}{
		{name: "offered", r: &redmine{password: "pw", themes: []string{"alternate", "classic", "harbor"}}, login: true, password: "pw",
			want: []string{"", "alternate", "classic", "harbor"}},
		{name: "sudo mode", r: &redmine{password: "pw", sudo: true, themes: []string{"harbor"}}, login: true, password: "pw",
			want: []string{"", "harbor"}},
		{name: "sudo mode refuses", r: &redmine{password: "pw", sudo: true}, password: "pw", login: true, sudoWith: "stale",
			is: ErrLogin, says: "sudo mode refused the administrator's password"},
		{name: "not an administrator", r: &redmine{password: "pw", notAdmin: true}, login: true, password: "pw",
			is: ErrLogin, says: "admin may not open the settings (HTTP 403): is it an administrator?"},
		{name: "not logged in", r: &redmine{password: "pw"}, password: "pw",
			is: ErrLogin, says: "admin may not open the settings (HTTP 200)"},
		{name: "no theme select", r: &redmine{password: "pw", noSelect: true}, login: true, password: "pw",
			is: ErrNotOffered, says: "shows no settings[ui_theme] select"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := tc.r.serve(t, tc.password)
			ctx := context.Background()
			if tc.login {
				if err := c.Login(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if tc.sudoWith != "" {
				c.password = tc.sudoWith
			}
			got, err := c.ThemeOptions(ctx)
			if tc.is == nil {
				if err != nil || !slices.Equal(got, tc.want) {
					t.Fatalf("ThemeOptions = %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("ThemeOptions = %q, %v; want %v saying %q", got, err, tc.is, tc.says)
			}
		})
	}
}

// TestApplySendsTheFormAsABrowser: applying a theme changes settings[ui_theme]
// and sends every other field as Redmine showed it, so no other setting moves.
func TestApplySendsTheFormAsABrowser(t *testing.T) {
	r := &redmine{password: "pw", themes: []string{"classic", "harbor"}, applied: "classic"}
	c, _ := r.serve(t, "pw")
	ctx := context.Background()
	if err := c.Login(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, "harbor"); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for key, want := range map[string][]string{
		"authenticity_token":           {csrf},
		"settings[ui_theme]":           {"harbor"},
		"settings[default_language]":   {"en"},
		"settings[gravatar_enabled]":   {"0", "1"}, // hidden 0, then the checked box
		"settings[thumbnails_enabled]": {"0"},      // the unchecked box sends nothing
		"settings[text_formatting]":    {"common_mark"},
		"settings[welcome_text]":       {"Welcome to the tracker"},
		"commit":                       nil, // a submit button is not a value
		"q":                            nil, // the search form is another form
	} {
		if got := r.posted[key]; !slices.Equal(got, want) {
			t.Errorf("the Display form sent %s = %q, want %q", key, got, want)
		}
	}
	if r.applied != "harbor" {
		t.Fatalf("Redmine's default theme is %q after Apply, want harbor", r.applied)
	}
}

func TestApplyRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *redmine
		is   error
		says string
	}{
		{name: "server error", r: &redmine{password: "pw", themes: []string{"harbor"}, applyStatus: 500},
			is: ErrNotApplied, says: "Redmine answered HTTP 500 to the Display settings"},
		{name: "no theme field", r: &redmine{password: "pw", noSelect: true},
			is: ErrNotApplied, says: "has no form with settings[ui_theme]"},
		{name: "not an administrator", r: &redmine{password: "pw", notAdmin: true},
			is: ErrLogin, says: "is it an administrator?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := tc.r.serve(t, "pw")
			ctx := context.Background()
			if err := c.Login(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Apply(ctx, "harbor"); !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Apply = %v, want %v saying %q", err, tc.is, tc.says)
			}
		})
	}
}

// TestCheckApplied: the home page must link the theme's stylesheet and carry
// its body class (a name with a space in its underscored spelling).
func TestCheckApplied(t *testing.T) {
	for _, tc := range []struct {
		name      string
		id        string
		applied   string
		bodyClass string
		says      string // "" when applied
	}{
		{name: "applied", id: "harbor", applied: "harbor"},
		// Redmine 6 renders 'theme-' + name.tr(' ', '_'), the name humanized:
		// purple_mine is "Purple mine", _dark_blue "Dark blue".
		{name: "applied, name with an underscore", id: "purple_mine", applied: "purple_mine"},
		{name: "applied, name with a leading underscore", id: "_dark_blue", applied: "_dark_blue", bodyClass: "theme-Dark_blue"},
		// Redmine 5's "theme-Purple mine", two classes.
		{name: "applied, name with a space before Redmine 6", id: "purple_mine", applied: "purple_mine", bodyClass: "theme-Purple mine"},
		{name: "another theme's words", id: "purple_mine", applied: "purple_mine", bodyClass: "theme-Purple classic-mine",
			says: `lacks theme-Purple_mine`},
		{name: "another theme", id: "harbor", applied: "classic", says: "the home page links no stylesheet under themes/harbor/"},
		{name: "default theme", id: "harbor", says: "the home page links no stylesheet under themes/harbor/"},
		{name: "stylesheet without the class", id: "harbor", applied: "harbor", bodyClass: "theme-Classic",
			says: `<body class="theme-Classic project-none controller-welcome action-index"> lacks theme-Harbor`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &redmine{password: "pw", applied: tc.applied, bodyClass: tc.bodyClass}
			c, _ := r.serve(t, "pw")
			err := c.CheckApplied(context.Background(), Theme{ID: tc.id})
			if tc.says == "" {
				if err != nil {
					t.Fatalf("CheckApplied: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNotApplied) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("CheckApplied = %v, want ErrNotApplied saying %q", err, tc.says)
			}
		})
	}
}

func TestCheckAppliedUnreachable(t *testing.T) {
	srv := httptest.NewServer(&redmine{})
	srv.Close()
	c, _ := NewClient(srv.URL, nil, "admin", "x")
	if err := c.CheckApplied(context.Background(), Theme{ID: "harbor"}); !errors.Is(err, ErrNotApplied) {
		t.Fatalf("CheckApplied = %v, want ErrNotApplied", err)
	}
}

// TestPin: over HTTPS the pin is the served certificate's public key, as
// Chromium's --ignore-certificate-errors-spki-list takes it; over HTTP, none.
func TestPin(t *testing.T) {
	r := &redmine{password: "pw"}
	plain, _ := r.serve(t, "pw")
	if err := plain.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pin := plain.Pin(); pin != "" {
		t.Errorf("Pin over plain HTTP = %q, want none", pin)
	}

	srv := httptest.NewTLSServer(r)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, srv.Client().Transport, "admin", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if pin := c.Pin(); pin != "" {
		t.Errorf("Pin before any request = %q, want none", pin)
	}
	if err := c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(srv.Certificate().RawSubjectPublicKeyInfo)
	if want := base64.StdEncoding.EncodeToString(sum[:]); c.Pin() != want {
		t.Fatalf("Pin = %q, want %q (the served key's SHA-256)", c.Pin(), want)
	}
}

func TestNewClientBadURL(t *testing.T) {
	if _, err := NewClient("http://[::1", nil, "admin", "x"); err == nil {
		t.Fatal("NewClient of a malformed URL: no error")
	}
}
