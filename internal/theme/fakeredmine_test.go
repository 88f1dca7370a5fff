package theme

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// pages are the Redmine pages the fake serves, from testdata/redmine.
var pages = template.Must(template.ParseGlob(filepath.Join("testdata", "redmine", "*.html")))

// csrf is the authenticity token the fake puts in its forms and wants back.
const csrf = "tok-4f1c2a"

// redmine is a fake Redmine on loopback: the pages an administrator's browser
// goes through to reach Administration → Settings → Display and back to the
// home page. It keeps a session cookie and refuses a form without its
// authenticity token, as Rails does.
type redmine struct {
	password string
	themes   []string // offered in the Display settings
	applied  string   // the default theme, as the home page shows it

	sudo        bool   // the settings ask for the password again first
	notAdmin    bool   // the user may not open the settings (HTTP 403)
	noSelect    bool   // the Display settings lack the theme select
	forceChange bool   // the login leads to a forced password change
	noForm      bool   // ... whose page shows no form
	applyStatus int    // the answer to the Display form; 0: saved, redirect back
	ignoreApply bool   // the Display form is answered as saved, but nothing changes
	bodyClass   string // the home page's theme class; "": as Redmine makes it

	mu     sync.Mutex
	sudoed bool
	posted url.Values // what the Display form sent
	logins int
}

// serve starts r on loopback and returns a client logging in as admin with
// password, and the base URL as check-theme shows it.
func (r *redmine) serve(t *testing.T, password string) (*Client, string) {
	t.Helper()
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, nil, "admin", password)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv.URL + "/"
}

func (r *redmine) render(w http.ResponseWriter, code int, name string, data map[string]any) {
	data["Token"] = csrf
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = pages.ExecuteTemplate(w, name, data)
}

func (r *redmine) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := req.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.Method == http.MethodPost && req.PostForm.Get("authenticity_token") != csrf {
		http.Error(w, "Invalid form authenticity token.", http.StatusUnprocessableEntity)
		return
	}
	_, err := req.Cookie("_redmine_session")
	session := err == nil
	switch p := req.URL.Path; {
	case p == "/login" && req.Method == http.MethodGet:
		r.render(w, http.StatusOK, "login.html", map[string]any{"Back": req.URL.Query().Get("back_url")})
	case p == "/login":
		r.logins++
		if req.PostForm.Get("username") != "admin" || req.PostForm.Get("password") != r.password {
			r.render(w, http.StatusOK, "login.html", map[string]any{"Flash": "Invalid user or password"})
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "_redmine_session", Value: "admin", Path: "/"})
		if r.forceChange {
			http.Redirect(w, req, "/my/password", http.StatusFound)
			return
		}
		http.Redirect(w, req, "/my/page", http.StatusFound)
	case p == "/my/password" && req.Method == http.MethodPost:
		f := req.PostForm
		if f.Get("password") != r.password || f.Get("new_password") == "" || f.Get("new_password") != f.Get("new_password_confirmation") {
			r.render(w, http.StatusOK, "password.html", map[string]any{"Form": true})
			return
		}
		r.password, r.forceChange = f.Get("new_password"), false
		http.Redirect(w, req, "/my/account", http.StatusFound)
	case p == "/my/password":
		r.render(w, http.StatusOK, "password.html", map[string]any{"Form": !r.noForm})
	case p == "/my/page" || p == "/my/account":
		w.Write([]byte("<html><body><h2>My page</h2></body></html>"))
	case !session && (p == "/settings" || p == "/settings/edit"):
		http.Redirect(w, req, "/login?back_url="+url.QueryEscape(req.URL.String()), http.StatusFound)
	case p == "/settings" && r.notAdmin:
		http.Error(w, "You are not authorized to access this page.", http.StatusForbidden)
	case p == "/settings":
		if r.sudo && !r.sudoed {
			if req.Method != http.MethodPost || req.PostForm.Get("sudo_password") != r.password {
				flash := ""
				if req.Method == http.MethodPost {
					flash = "Invalid password"
				}
				r.render(w, http.StatusOK, "sudo.html", map[string]any{"Flash": flash})
				return
			}
			r.sudoed = true
		}
		if r.noSelect {
			w.Write([]byte(`<html><body><form action="/settings/edit" method="post"><input name="settings[app_title]" value="Redmine"></form></body></html>`))
			return
		}
		r.render(w, http.StatusOK, "settings.html", map[string]any{"Themes": r.themes, "Applied": r.applied})
	case p == "/settings/edit" && req.Method == http.MethodPost:
		r.posted = req.PostForm
		if r.applyStatus != 0 {
			http.Error(w, "Internal error", r.applyStatus)
			return
		}
		if !r.ignoreApply {
			r.applied = req.PostForm.Get("settings[ui_theme]")
		}
		http.Redirect(w, req, "/settings?tab=display", http.StatusFound)
	case p == "/":
		class := r.bodyClass
		if class == "" && r.applied != "" {
			class = "theme-" + strings.ReplaceAll(Theme{ID: r.applied}.Name(), " ", "_")
		}
		r.render(w, http.StatusOK, "home.html", map[string]any{"Applied": r.applied, "BodyClass": class})
	default:
		http.NotFound(w, req)
	}
}
