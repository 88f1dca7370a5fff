package theme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// keeper records what the client told it.
type keeper struct{ proposed, accepted, refused int }

func (k *keeper) Propose() (string, error) { k.proposed++; return "new-secret", nil }
func (k *keeper) Accepted(string) error    { k.accepted++; return nil }
func (k *keeper) Refused()                 { k.refused++ }

// forcedChange is the part of Redmine a forced password change goes through:
// the login form, then the password form, which accepts or shows itself again.
func forcedChange(accept bool) http.Handler {
	const login = `<form action="/login" method="post"><input name="username"><input name="password" type="password"></form>`
	const change = `<form action="/my/password" method="post"><input name="password" type="password">` +
		`<input name="new_password" type="password"><input name="new_password_confirmation" type="password"></form>`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/login" && r.Method == http.MethodGet:
			fmt.Fprint(w, login)
		case r.URL.Path == "/login":
			http.Redirect(w, r, "/my/password", http.StatusFound)
		case r.URL.Path == "/my/password" && (r.Method == http.MethodGet || !accept):
			fmt.Fprint(w, change)
		case r.URL.Path == "/my/account":
			fmt.Fprint(w, "<p>Password was successfully updated.</p>")
		default:
			http.Redirect(w, r, "/my/account", http.StatusFound)
		}
	})
}

// login is a client of a Redmine served by h, as admin with "old-secret", with a recording keeper.
func login(t *testing.T, h http.Handler) (*Client, *keeper) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, nil, "admin", "old-secret")
	if err != nil {
		t.Fatal(err)
	}
	k := &keeper{}
	c.Passwords = k
	return c, k
}

// TestForcedPasswordChange: the new password is kept only once Redmine has
// taken it; refused, the old one stays; with no answer, neither is decided.
func TestForcedPasswordChange(t *testing.T) {
	for _, accept := range []bool{true, false} {
		t.Run(fmt.Sprint("accepted=", accept), func(t *testing.T) {
			c, k := login(t, forcedChange(accept))
			err := c.Login(context.Background())
			if accept {
				if err != nil || k.accepted != 1 || k.refused != 0 || c.password != "new-secret" {
					t.Fatalf("accepted change: %v, keeper %+v, password %q", err, *k, c.password)
				}
				return
			}
			if !errors.Is(err, ErrLogin) || !strings.Contains(err.Error(), "old one is kept") || k.accepted != 0 || k.refused != 1 || c.password != "old-secret" {
				t.Fatalf("refused change: %v, keeper %+v, password %q", err, *k, c.password)
			}
		})
	}
}

// TestForcedPasswordChangeWithoutAnswer: the connection drops after the new
// password was sent: the keeper is told nothing, so the new one stays aside.
func TestForcedPasswordChangeWithoutAnswer(t *testing.T) {
	inner := forcedChange(true)
	c, k := login(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/my/password" && r.Method == http.MethodPost {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		inner.ServeHTTP(w, r)
	}))
	if err := c.Login(context.Background()); !errors.Is(err, ErrLogin) || !strings.Contains(err.Error(), "kept aside") {
		t.Fatalf("Login: %v, want ErrLogin saying the new password is kept aside", err)
	}
	if k.accepted != 0 || k.refused != 0 {
		t.Fatalf("keeper %+v: neither Accepted nor Refused may be called without an answer", *k)
	}
}
