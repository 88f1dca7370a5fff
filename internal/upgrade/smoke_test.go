package upgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
)

// fakeRedmine answers what the check through nginx reads, as Redmine and
// nginx answer it: the login form, a session, the REST API with basic
// authentication, attachments, the home page and its theme's stylesheet.
type fakeRedmine struct {
	password string
	// pass, when set, closes the site for maintenance: only a request that
	// carries it gets through (nginx's 503 otherwise).
	pass string
	// issues are the newest issues first, with their attachments' names.
	issues []fakeIssue
	// home is the home page; theme links served, by path.
	home   string
	sheets map[string]bool
	// account answers /my/account without a session (Redmine: a redirect to /login).
	account int
	// dropSession: the login is taken but its session cookie lost on the way.
	dropSession bool
	// lost says the attachments are listed but their files are gone.
	lost bool

	posted []string // the login forms posted
}

type fakeIssue struct {
	id          int
	subject     string
	attachments []string
}

const session = "session-ok"

func (f *fakeRedmine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.pass != "" && r.Header.Get(catalog.MaintenanceHeader) != f.pass {
		http.Error(w, "closed for maintenance", http.StatusServiceUnavailable)
		return
	}
	if strings.HasSuffix(r.URL.Path, ".json") || strings.HasPrefix(r.URL.Path, "/attachments/") || r.URL.Path == "/" {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != f.password {
			http.Error(w, "", http.StatusUnauthorized)
			return
		}
	}
	switch {
	case r.URL.Path == "/login" && r.Method == http.MethodGet:
		fmt.Fprint(w, `<form action="/login" method="post"><input type="hidden" name="authenticity_token" value="tok3n" autocomplete="off" />`)
	case r.URL.Path == "/login" && r.Method == http.MethodPost:
		_ = r.ParseForm()
		f.posted = append(f.posted, r.PostForm.Encode())
		if r.PostForm.Get("authenticity_token") != "tok3n" || r.PostForm.Get("username") != "admin" || r.PostForm.Get("password") != f.password {
			// Redmine renders the form again, with its error.
			fmt.Fprint(w, `<div class="flash error">Invalid user or password</div><form action="/login" method="post">`)
			return
		}
		if !f.dropSession {
			http.SetCookie(w, &http.Cookie{Name: "_redmine_session", Value: session, Path: "/"})
		}
		http.Redirect(w, r, "/my/page", http.StatusFound)
	case r.URL.Path == "/my/page":
		fmt.Fprint(w, "my page")
	case r.URL.Path == "/my/account":
		if c, err := r.Cookie("_redmine_session"); err == nil && c.Value == session {
			fmt.Fprint(w, `<div id="loggedas">Logged in as <a class="user active" href="/users/1">admin</a></div>`)
			return
		}
		if f.account == http.StatusFound {
			http.Redirect(w, r, "/login?back_url=%2Fmy%2Faccount", http.StatusFound)
			return
		}
		http.Error(w, "", f.account)
	case r.URL.Path == "/login":
		fmt.Fprint(w, `<form action="/login" method="post"><input type="hidden" name="authenticity_token" value="tok3n" autocomplete="off" />`)
	case r.URL.Path == "/issues.json":
		limit := 25
		fmt.Sscan(r.URL.Query().Get("limit"), &limit)
		var items []string
		for i, is := range f.issues {
			if i < limit {
				items = append(items, fmt.Sprintf(`{"id":%d,"subject":%q}`, is.id, is.subject))
			}
		}
		fmt.Fprintf(w, `{"issues":[%s],"total_count":%d}`, strings.Join(items, ","), len(f.issues))
	case strings.HasPrefix(r.URL.Path, "/issues/"):
		var id int
		fmt.Sscanf(r.URL.Path, "/issues/%d.json", &id)
		for _, is := range f.issues {
			if is.id != id {
				continue
			}
			var as []string
			for i, name := range is.attachments {
				as = append(as, fmt.Sprintf(`{"id":%d,"filename":%q,"content_url":"http://%s/attachments/download/%d/%s"}`, id*10+i, name, r.Host, id*10+i, name))
			}
			fmt.Fprintf(w, `{"issue":{"id":%d,"attachments":[%s]}}`, id, strings.Join(as, ","))
			return
		}
		http.NotFound(w, r)
	case strings.HasPrefix(r.URL.Path, "/attachments/download/") && f.lost:
		http.NotFound(w, r)
	case strings.HasPrefix(r.URL.Path, "/attachments/download/"):
		fmt.Fprint(w, "content of "+r.URL.Path)
	case r.URL.Path == "/":
		fmt.Fprint(w, f.home)
	case f.sheets[r.URL.Path]:
		fmt.Fprint(w, "body { color: blue }")
	default:
		http.NotFound(w, r)
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func serve(t *testing.T, f *fakeRedmine) stack.Front {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return stack.Front{URL: srv.URL + "/", Open: srv.URL + "/"}
}

const oceanHome = `<html><head><link rel="stylesheet" media="all" href="/themes/ocean/stylesheets/application.css?1700000000" /></head></html>`

// TestSmokeRead: the sample is the newest issue, the last attachment of the
// newest issue that has one (its content hashed) and the theme the home page
// is styled with, whose stylesheet must load.
func TestSmokeRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    *fakeRedmine
		want sample
	}{
		{
			name: "issues, attachments and a theme",
			f: &fakeRedmine{password: "pw", home: oceanHome, sheets: map[string]bool{"/themes/ocean/stylesheets/application.css": true},
				issues: []fakeIssue{{id: 12, subject: "Newest"}, {id: 11, subject: "Older", attachments: []string{"a.txt", "b.png"}}, {id: 9, attachments: []string{"c.txt"}}}},
			want: sample{Issue: "#12 Newest", Attachment: "#111 b.png: " + sum("content of /attachments/download/111/b.png"), Theme: "ocean"},
		},
		{
			name: "an empty Redmine with its default theme",
			f:    &fakeRedmine{password: "pw", home: `<link href="/stylesheets/application.css" rel="stylesheet" />`},
			want: sample{},
		},
		{
			name: "through maintenance with the pass",
			f:    &fakeRedmine{password: "pw", pass: "p4ss", home: "<html></html>", issues: []fakeIssue{{id: 1, subject: "Only"}}},
			want: sample{Issue: "#1 Only"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSmoke(serve(t, tc.f), tc.f.password, tc.f.pass)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("sample %+v\n      want %+v", got, tc.want)
			}
		})
	}
}

// TestSmokeReadFails: what the sample cannot be read from fails the check,
// with the request that failed.
func TestSmokeReadFails(t *testing.T) {
	for _, tc := range []struct {
		name     string
		f        *fakeRedmine
		password string
		pass     string
		want     string
	}{
		{name: "closed for maintenance", f: &fakeRedmine{password: "pw", pass: "p4ss"}, password: "pw",
			want: "GET /issues.json?status_id=*&sort=id:desc&limit=1: 503 Service Unavailable"},
		{name: "wrong pass", f: &fakeRedmine{password: "pw", pass: "p4ss"}, password: "pw", pass: "other", want: "503"},
		{name: "wrong password", f: &fakeRedmine{password: "pw"}, password: "nope", want: "401 Unauthorized"},
		{name: "theme's stylesheet missing", f: &fakeRedmine{password: "pw", home: oceanHome}, password: "pw",
			want: "the theme's stylesheet: GET /themes/ocean/stylesheets/application.css?1700000000: 404 Not Found"},
		// Listed, but its download answers 404: the files volume lost it.
		{name: "attachment gone", f: &fakeRedmine{password: "pw", lost: true, issues: []fakeIssue{{id: 4, attachments: []string{"x.pdf"}}}}, password: "pw",
			want: "reading attachment x.pdf: GET /attachments/download/40/x.pdf: 404 Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSmoke(serve(t, tc.f), tc.password, tc.pass)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.read(context.Background())
			if err == nil {
				t.Fatalf("read %+v", got)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestSmokeLogin: the login goes through the form, with its token, and the
// session it opens must hold.
func TestSmokeLogin(t *testing.T) {
	t.Run("logged in", func(t *testing.T) {
		f := &fakeRedmine{password: "pw", pass: "p4ss", account: http.StatusForbidden}
		s, err := newSmoke(serve(t, f), "pw", "p4ss")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.login(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(f.posted) != 1 || f.posted[0] != "authenticity_token=tok3n&password=pw&username=admin" {
			t.Errorf("posted %q, want the form's token with admin's credentials", f.posted)
		}
	})
	// Redmine sends an anonymous request to the login form, which answers
	// 200: a check that follows redirects would pass any of these.
	for _, tc := range []struct {
		name string
		f    *fakeRedmine
		says string
	}{
		{"wrong password", &fakeRedmine{password: "other", account: http.StatusFound}, "POST /login: 200 OK, not the redirect of a login Redmine took"},
		{"session lost, sent to the login form", &fakeRedmine{password: "pw", account: http.StatusFound, dropSession: true},
			"GET /my/account: 302 Found to the login form: the session does not hold"},
		{"session refused", &fakeRedmine{password: "pw", account: http.StatusForbidden, dropSession: true}, "GET /my/account: 403 Forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSmoke(serve(t, tc.f), "pw", "")
			if err != nil {
				t.Fatal(err)
			}
			err = s.login(context.Background())
			if err == nil || !strings.Contains(err.Error(), "logging in as admin through the form: "+tc.says) {
				t.Errorf("err = %v, want it to say %q", err, tc.says)
			}
		})
	}
	t.Run("an anonymous page", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				http.Redirect(w, r, "/my/page", http.StatusFound)
				return
			}
			fmt.Fprint(w, `<input type="hidden" name="authenticity_token" value="t" /><a href="/login">Sign in</a>`)
		}))
		t.Cleanup(srv.Close)
		s, err := newSmoke(stack.Front{URL: srv.URL}, "pw", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.login(context.Background()); err == nil || !strings.Contains(err.Error(), "the page names no user logged in") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("no form", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>maintenance</html>") }))
		t.Cleanup(srv.Close)
		s, err := newSmoke(stack.Front{URL: srv.URL}, "pw", "")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.login(context.Background()); err == nil || err.Error() != "the login page has no form" {
			t.Errorf("err = %v", err)
		}
	})
}

// TestPassing: the pass goes with every request through maintenance, on a
// copy: the caller's request is left as it was.
func TestPassing(t *testing.T) {
	var got []string
	rt := passing{rt: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.Header.Get(catalog.MaintenanceHeader))
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
	}), pass: "p4ss"}
	req := httptest.NewRequest(http.MethodGet, "http://localhost/", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get(catalog.MaintenanceHeader) != "" {
		t.Error("the caller's request was changed")
	}
	rt.pass = ""
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "p4ss" || got[1] != "" {
		t.Errorf("headers sent %q, want the pass, then none", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestUpgradeSmoke: after the switch, the new version must show what the old
// one showed; other data fails the check, naming both.
func TestUpgradeSmoke(t *testing.T) {
	f := &fakeRedmine{password: "pw", pass: "p4ss", account: http.StatusForbidden, home: "<html></html>", issues: []fakeIssue{{id: 7, subject: "Kept"}}}
	front := serve(t, f)
	u := &upgrade{}
	if err := u.smoke(context.Background(), plan{front: front, admin: "pw", before: sample{Issue: "#7 Kept"}}, "p4ss"); err != nil {
		t.Errorf("same data: %v", err)
	}
	err := u.smoke(context.Background(), plan{front: front, admin: "pw", before: sample{Issue: "#8 Lost"}}, "p4ss")
	if err == nil || !strings.Contains(err.Error(), "the new version shows other data than the old: before {Issue:#8 Lost") ||
		!strings.Contains(err.Error(), "after {Issue:#7 Kept") {
		t.Errorf("other data: %v", err)
	}
	if err := u.smoke(context.Background(), plan{front: front, admin: "wrong", before: sample{Issue: "#7 Kept"}}, "p4ss"); err == nil {
		t.Error("a login that fails passed the check")
	}
}
