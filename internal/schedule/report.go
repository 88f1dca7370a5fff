package schedule

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// Report is what a failed scheduled run says, to a webhook and in a mail.
type Report struct {
	Stack string `json:"stack"`
	// Job is what failed: a backup or an update.
	Job Kind `json:"job"`
	// Host is the machine's host name.
	Host     string    `json:"host"`
	Time     time.Time `json:"time"`
	ExitCode int       `json:"exit_code"`
	// Command is the job's command line.
	Command []string `json:"command"`
	// Output is the last lines the run printed, stdout and stderr as they came.
	Output []string `json:"output"`
}

// Notifier tells someone that a scheduled run failed.
type Notifier interface {
	Notify(ctx context.Context, r Report) error
	// String names the notifier for a log line, without its secrets.
	String() string
}

// Webhook POSTs the report as JSON to URL.
type Webhook struct {
	URL string
	// Client is the HTTP client; nil is one with a 30 s timeout.
	Client *http.Client
}

// Notify posts r; any answer but 2xx is an error. No error it returns holds
// the URL in any form: its user, path or query may be a token, and the error
// goes to the journal.
func (w Webhook) Notify(ctx context.Context, r Report) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		// The parser's reason quotes the part it choked on: not given.
		return fmt.Errorf("%w: %s: the URL does not parse: correct %s in the schedule's environment file, or schedule it again with --notify-webhook",
			errs.ErrInvalidInput, w, EnvWebhook)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "stackctl")
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %s", w, w.scrub(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", w, resp.Status)
	}
	return nil
}

// String is the webhook's scheme and host: its path and query may hold a token.
func (w Webhook) String() string {
	u, err := url.Parse(w.URL)
	if err != nil || u.Host == "" {
		return "the webhook"
	}
	return "the webhook at " + u.Scheme + "://" + u.Host
}

// scrub is the text of a failed POST without the URL's secret parts. The
// client's *url.Error holds the URL rewritten (the password as ***, a space
// as %20, or a redirect's target), so matching the URL as typed misses it:
// that URL is dropped, and its cause is then cleared of each secret part,
// as typed and as escaped, in case it quotes one (a Location header).
func (w Webhook) scrub(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	for _, s := range w.secrets() {
		msg = strings.ReplaceAll(msg, s, "<redacted>")
	}
	return msg
}

// secrets are the forms the URL's secret parts may be written in, longest
// first, so that a whole URL goes before the parts within it.
func (w Webhook) secrets() []string {
	out := []string{w.URL}
	if u, err := url.Parse(w.URL); err == nil {
		out = append(out, u.String(), u.Redacted(), u.Path, u.EscapedPath(), u.RawQuery, u.Fragment, u.EscapedFragment())
		if q, err := url.QueryUnescape(u.RawQuery); err == nil {
			out = append(out, q)
		}
		if u.User != nil {
			p, _ := u.User.Password()
			for _, s := range []string{u.User.Username(), p} {
				out = append(out, s, url.PathEscape(s), url.QueryEscape(s))
			}
			out = append(out, u.User.String())
		}
	}
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" || s == "/" })
	slices.SortFunc(out, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	return slices.Compact(out)
}

// SMTP is an SMTP server to send mail through, as the site's settings
// describe it (mail.smtp).
type SMTP struct {
	Host string
	// Port; 0 is the security's: 587 for starttls, 465 for tls, 25 for none.
	Port int
	// Security is starttls (the default), tls or none.
	Security string
	// User, when set, logs in with AUTH PLAIN, the password the first line
	// of PasswordFile, which must be private, read when the mail is sent.
	User         string
	PasswordFile string
	// From is the sender's address.
	From string
	// RootCAs verify the server's certificate; nil: the system's.
	RootCAs *x509.CertPool
}

// Mail mails the report to To through Server.
type Mail struct {
	Server SMTP
	To     string
}

func (m Mail) String() string {
	return fmt.Sprintf("the mail to %s through %s", m.To, net.JoinHostPort(m.Server.Host, strconv.Itoa(m.Server.port())))
}

func (s SMTP) port() int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.Security == "tls":
		return 465
	case s.Security == "none":
		return 25
	}
	return 587
}

// Notify sends r as a plain-text mail. net/smtp's PlainAuth refuses to send
// the password over a connection that is neither TLS nor to localhost.
func (m Mail) Notify(ctx context.Context, r Report) error {
	if err := m.send(ctx, r); err != nil {
		return fmt.Errorf("%s: %w", m, err)
	}
	return nil
}

func (m Mail) send(ctx context.Context, r Report) error {
	s := m.Server
	addr := net.JoinHostPort(s.Host, strconv.Itoa(s.port()))
	tlsConf := &tls.Config{ServerName: s.Host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
	d := net.Dialer{Timeout: 30 * time.Second}
	var conn net.Conn
	var err error
	if s.Security == "tls" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tlsConf}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(2 * time.Minute)
	}
	_ = conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if s.Security == "" || s.Security == "starttls" {
		if err := c.StartTLS(tlsConf); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if s.User != "" {
		password, err := state.ReadSecretFile(s.PasswordFile)
		if err != nil {
			return fmt.Errorf("reading the SMTP password: %w", err)
		}
		// Its first line, as the settings say and Redmine takes it.
		password, _, _ = strings.Cut(password, "\n")
		if err := c.Auth(smtp.PlainAuth("", s.User, password, s.Host)); err != nil {
			return fmt.Errorf("logging in as %s: %w", s.User, err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return err
	}
	if err := c.Rcpt(m.To); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(m.message(r)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message is the mail, headers and body, with CRLF line ends.
func (m Mail) message(r Report) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", m.Server.From, m.To)
	fmt.Fprintf(&b, "Subject: stackctl: the %s of stack %s on %s failed (exit %d)\r\n", r.Job, r.Stack, r.Host, r.ExitCode)
	fmt.Fprintf(&b, "Date: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", r.Time.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "The scheduled %s of stack %s on %s failed at %s with exit code %d.\r\n\r\n", r.Job, r.Stack, r.Host, r.Time.UTC().Format(time.RFC3339), r.ExitCode)
	fmt.Fprintf(&b, "Command: %s\r\n\r\nIts last lines:\r\n\r\n", strings.Join(r.Command, " "))
	for _, l := range r.Output {
		fmt.Fprintf(&b, "    %s\r\n", l)
	}
	return []byte(b.String())
}
