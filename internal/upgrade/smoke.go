package upgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
)

// sample is what the smoke check reads through the front, before the upgrade
// and after the switch, and compares: the newest issue, one attachment of the
// newest issues that have one, and the theme the pages are styled with.
type sample struct {
	Issue      string // "#12 Subject"
	Attachment string // "#3 name: sha256"
	Theme      string // the stylesheet directory the home page links, "" for Redmine's default
}

// smoke reads a sample of the stack at base (its URL, through the front) as
// its administrator: a login through the form, as a browser does it, then the
// REST API. pass, when set, goes with every request through maintenance.
type smoke struct {
	base, password, pass string
	client               *http.Client
}

// newSmoke reads the stack through its front, trusting the certificate
// stackctl gave nginx as it is now.
func newSmoke(front stack.Front, password, pass string) (*smoke, error) {
	rt, err := front.Transport()
	if err != nil {
		return nil, err
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	s := &smoke{base: strings.TrimSuffix(front.URL, "/"), password: password, pass: pass}
	s.client = &http.Client{Jar: jar, Timeout: 60 * time.Second, Transport: passing{rt, pass}}
	return s, nil
}

// passing adds the maintenance pass to every request.
type passing struct {
	rt   http.RoundTripper
	pass string
}

func (p passing) RoundTrip(req *http.Request) (*http.Response, error) {
	if p.pass != "" {
		req = req.Clone(req.Context())
		req.Header.Set(catalog.MaintenanceHeader, p.pass)
	}
	return p.rt.RoundTrip(req)
}

func (s *smoke) get(ctx context.Context, path string, basic bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return nil, err
	}
	if basic {
		req.SetBasicAuth("admin", s.password)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

var (
	authenticityToken = regexp.MustCompile(`name="authenticity_token" value="([^"]+)"`)
	themeStylesheet   = regexp.MustCompile(`<link[^>]+href="[^"]*/themes/([^/"]+)/[^"]*\.css[^"]*"`)
)

// login signs in through the login form and checks the session holds.
func (s *smoke) login(ctx context.Context) error {
	page, err := s.get(ctx, "/login", false)
	if err != nil {
		return err
	}
	m := authenticityToken.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("the login page has no form")
	}
	form := url.Values{"username": {"admin"}, "password": {s.password}, "authenticity_token": {string(m[1])}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := s.loggedIn(ctx, req); err != nil {
		return fmt.Errorf("logging in as admin through the form: %w", err)
	}
	return nil
}

// read takes the sample.
func (s *smoke) read(ctx context.Context) (sample, error) {
	var out sample
	var issues struct {
		Issues []struct {
			ID      int
			Subject string
		}
	}
	b, err := s.get(ctx, "/issues.json?status_id=*&sort=id:desc&limit=1", true)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(b, &issues); err != nil {
		return out, fmt.Errorf("reading the newest issue: %w", err)
	}
	if len(issues.Issues) > 0 {
		out.Issue = fmt.Sprintf("#%d %s", issues.Issues[0].ID, issues.Issues[0].Subject)
	}
	if out.Attachment, err = s.attachment(ctx); err != nil {
		return out, err
	}
	home, err := s.get(ctx, "/", true)
	if err != nil {
		return out, err
	}
	if m := themeStylesheet.FindSubmatch(home); m != nil {
		out.Theme = string(m[1])
		link := regexp.MustCompile(`href="([^"]*/themes/` + regexp.QuoteMeta(out.Theme) + `/[^"]*\.css[^"]*)"`).FindSubmatch(home)
		if link == nil {
			return out, fmt.Errorf("the home page links theme %s oddly", out.Theme)
		}
		if _, err := s.get(ctx, strings.TrimPrefix(string(link[1]), s.base), false); err != nil {
			return out, fmt.Errorf("the theme's stylesheet: %w", err)
		}
	}
	return out, nil
}

// attachment reads the newest attachment of the newest issues, in full, and
// says which it is and its hash; "" when none of them has one.
func (s *smoke) attachment(ctx context.Context) (string, error) {
	var issues struct {
		Issues []struct{ ID int }
	}
	b, err := s.get(ctx, "/issues.json?status_id=*&sort=id:desc&limit=25", true)
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &issues); err != nil {
		return "", err
	}
	for _, is := range issues.Issues {
		var one struct {
			Issue struct {
				Attachments []struct {
					ID         int
					Filename   string
					ContentURL string `json:"content_url"`
				}
			}
		}
		b, err := s.get(ctx, fmt.Sprintf("/issues/%d.json?include=attachments", is.ID), true)
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal(b, &one); err != nil {
			return "", err
		}
		if len(one.Issue.Attachments) == 0 {
			continue
		}
		a := one.Issue.Attachments[len(one.Issue.Attachments)-1]
		u, err := url.Parse(a.ContentURL)
		if err != nil {
			return "", err
		}
		content, err := s.get(ctx, u.Path, true)
		if err != nil {
			return "", fmt.Errorf("reading attachment %s: %w", a.Filename, err)
		}
		sum := sha256.Sum256(content)
		return fmt.Sprintf("#%d %s: %s", a.ID, a.Filename, hex.EncodeToString(sum[:])), nil
	}
	return "", nil
}
