package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// loggedIn posts the login form and checks that Redmine took it: without
// following redirects, since a refused or anonymous request ends on /login,
// which answers 200 too. The post must send somewhere other than /login, and
// /my/account must answer itself, as the page of a user logged in.
func (s *smoke) loggedIn(ctx context.Context, post *http.Request) error {
	c := *s.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(post)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("POST /login: %s, not the redirect of a login Redmine took (wrong password?)", resp.Status)
	}
	if to, err := resp.Location(); err != nil || onLogin(to) {
		return fmt.Errorf("POST /login: sent back to the login form (%s)", resp.Header.Get("Location"))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/my/account", nil)
	if err != nil {
		return err
	}
	resp, err = c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		if to, err := resp.Location(); err == nil && onLogin(to) {
			return fmt.Errorf("GET /my/account: %s to the login form: the session does not hold", resp.Status)
		}
		return fmt.Errorf("GET /my/account: %s", resp.Status)
	}
	// Redmine's layout names the user logged in; an anonymous page does not.
	if !bytes.Contains(body, []byte(`id="loggedas"`)) {
		return fmt.Errorf("GET /my/account: the page names no user logged in")
	}
	return nil
}

// onLogin says whether u is Redmine's login form.
func onLogin(u *url.URL) bool { return u.Path == "/login" }
