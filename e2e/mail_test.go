package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/moby/moby/client"
)

// mailAtTheFront is issue 16's mail demonstration, on TestTLS's stack
// (HTTPS at url, so that links in mails are https), with real servers the
// test starts on the host's side of the stack's network, where Redmine's
// container reaches them: an authenticating SMTP server (go-smtp, AUTH
// PLAIN) and Debian's dovecot serving one IMAP mailbox.
//   - mail on: up hands Redmine over with no failed request from a probe;
//   - 'stackctl mail test' sends Redmine's test mail, which the SMTP server
//     receives from the settings' from address, linking to the https url;
//   - an issue made through the API sends its notification, with the
//     issue's https link;
//   - a mail put into the IMAP mailbox becomes an issue of the project
//     mail.imap.project names;
//   - neither password is in 'docker inspect', the stack's logs or its
//     compose configuration;
//   - a wrong SMTP password: 'mail test' fails with the server's own message.
func mailAtTheFront(t *testing.T, api client.APIClient, siteDir string, env []string, settings, origin string, c *http.Client, password string) {
	gateway := networkGateway(t, api, redmineProject(t)+"_default")
	sink := startSMTP(t, gateway, "redmine@tracker.test", "smtp-"+randomHex(t))
	box := startDovecot(t, gateway, "issues@tracker.test", "imap-"+randomHex(t))
	writePrivate(t, filepath.Join(siteDir, "smtp.pw"), []byte(sink.password+"\n"))
	writePrivate(t, filepath.Join(siteDir, "imap.pw"), []byte(box.password+"\n"))
	writeFile(t, filepath.Join(siteDir, "stackctl.yaml"), settings+fmt.Sprintf(`mail:
  smtp: {host: %s, port: %d, security: none, user: %s, password_file: smtp.pw, from: redmine@tracker.test}
  imap: {host: %s, port: %d, security: none, user: %s, password_file: imap.pw, interval: 1m, project: https-forms}
`, gateway, sink.port, sink.user, gateway, box.port, box.user))

	before := appContainer(t, api)
	p := startClientProbe(c, origin+"/")
	mustRunIn(t, siteDir, env, "up", "redmine", "--timeout", "15m")
	n, failures := p.stop()
	t.Logf("up with mail: %d probe requests, %d failed", n, len(failures))
	if len(failures) > 0 {
		t.Errorf("%d of %d probe requests failed while up turned mail on: %v", len(failures), n, failures)
	}
	if appContainer(t, api) == before {
		t.Error("Redmine was not handed over to a new container for the mail settings")
	}

	t.Run("mail test", func(t *testing.T) {
		r := mustRunIn(t, siteDir, env, "mail", "test", "ops@tracker.test")
		m := sink.wait(t, time.Minute, func(m received) bool { return m.to("ops@tracker.test") })
		if m.from != "redmine@tracker.test" || m.subject != "Redmine test" || !strings.Contains(m.text, origin+"/") {
			t.Errorf("test mail from %q, subject %q, want from redmine@tracker.test, Redmine test, linking to %s/:\n%s", m.from, m.subject, origin, m.text)
		}
		if !strings.Contains(r.stdout, "ops@tracker.test") {
			t.Errorf("mail test says %q, want the address it sent to", r.stdout)
		}
	})
	rm := &redmine{t: t, base: origin + "/", password: password, client: c}
	t.Run("notification of a new issue", func(t *testing.T) {
		// The admin makes the issue and is its author: notified of it, if
		// told to be about their own changes.
		rm.do("PUT", "/users/1.json", `{"user": {"mail_notification": "all"}, "pref": {"no_self_notified": "0"}}`, http.StatusNoContent)
		var made struct{ Issue struct{ ID int } }
		rm.json(rm.do("POST", "/issues.json", `{"issue": {"project_id": "https-forms", "subject": "notify me by mail"}}`, http.StatusCreated), &made)
		m := sink.wait(t, 2*time.Minute, func(m received) bool { return strings.Contains(m.subject, "notify me by mail") })
		link := fmt.Sprintf("%s/issues/%d", origin, made.Issue.ID)
		if !strings.Contains(m.text, link) || !m.to("admin@example.net") {
			t.Errorf("notification to %v, want admin@example.net, linking to %s:\n%s", m.rcpt, link, m.text)
		}
	})
	t.Run("an issue from the mailbox", func(t *testing.T) {
		subject := "made from a mail " + randomHex(t)
		box.deliver(t, fmt.Sprintf("From: Admin <admin@example.net>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@e2e.test>\r\n\r\nThis issue came in by IMAP.\r\n",
			box.user, subject, time.Now().Format(time.RFC1123Z), randomHex(t)))
		deadline := time.Now().Add(3 * time.Minute)
		for {
			var list struct {
				Issues []struct{ Subject, Description string }
			}
			rm.json(rm.do("GET", "/projects/https-forms/issues.json?sort=id:desc&limit=10&status_id=*", "", http.StatusOK), &list)
			found := false
			for _, i := range list.Issues {
				found = found || i.Subject == subject && strings.Contains(i.Description, "came in by IMAP")
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no issue %q in project https-forms 3 minutes after the mail was put in the mailbox", subject)
			}
			time.Sleep(5 * time.Second)
		}
		if left := box.count(t); left != 0 {
			t.Errorf("%d mails left in the mailbox, want the one taken deleted", left)
		}
	})
	t.Run("no password leaks", func(t *testing.T) {
		ctx := context.Background()
		seen := map[string]string{}
		raw, err := api.ContainerInspect(ctx, appContainer(t, api), client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		seen["docker inspect"] = string(raw.Raw)
		seen["stackctl logs"] = mustRunIn(t, siteDir, env, "logs", "redmine", "--tail", "all").stdout
		seen["stackctl config"] = mustRunIn(t, siteDir, env, "config", "redmine").stdout
		for what, text := range seen {
			for _, pw := range []string{sink.password, box.password} {
				if strings.Contains(text, pw) {
					t.Errorf("%s holds a mail password", what)
				}
			}
		}
	})
	t.Run("a wrong SMTP password", func(t *testing.T) {
		writePrivate(t, filepath.Join(siteDir, "smtp.pw"), []byte("not-the-password\n"))
		mustRunIn(t, siteDir, env, "up", "redmine", "--timeout", "15m")
		r := stackctlIn(t, siteDir, env, "mail", "test", "ops@tracker.test")
		if r.code != 1 || !strings.Contains(r.stderr, "535") || !strings.Contains(r.stderr, "Authentication failed") {
			t.Errorf("mail test with a wrong password: exit %d, want 1 with the server's own 535 Authentication failed:\n%s", r.code, r.stderr)
		}
	})
}

// appContainer is the ID of the Redmine container that serves, in either slot.
func appContainer(t *testing.T, api client.APIClient) string {
	t.Helper()
	return runningOne(t, api, "Redmine", func(s string) bool { return s == "redmine" || s == "redmine-b" })
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// networkGateway is the host's address on a Docker network: where the
// network's containers reach a server of the host.
func networkGateway(t *testing.T, api client.APIClient, network string) string {
	t.Helper()
	res, err := api.NetworkInspect(context.Background(), network, client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.Is4() {
			return c.Gateway.String()
		}
	}
	t.Fatalf("network %s has no IPv4 gateway", network)
	return ""
}

// received is one mail the SMTP server took.
type received struct {
	from          string
	rcpt          []string
	subject, text string
}

func (m received) to(addr string) bool {
	for _, r := range m.rcpt {
		if r == addr {
			return true
		}
	}
	return false
}

// smtpSink is an SMTP server that takes mail only after AUTH PLAIN as user.
type smtpSink struct {
	user, password string
	port           int
	mu             sync.Mutex
	got            []received
	arrived        chan struct{}
}

func startSMTP(t *testing.T, host, user, password string) *smtpSink {
	t.Helper()
	k := &smtpSink{user: user, password: password, arrived: make(chan struct{}, 1)}
	s := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{sink: k}, nil }))
	s.Domain = "mail.tracker.test"
	// Plain text on the test's own network: the password is the test's.
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = time.Minute, time.Minute
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	k.port = l.Addr().(*net.TCPAddr).Port
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return k
}

// wait returns the first mail that matches, waiting up to d for it.
func (k *smtpSink) wait(t *testing.T, d time.Duration, match func(received) bool) received {
	t.Helper()
	deadline := time.After(d)
	for {
		k.mu.Lock()
		for _, m := range k.got {
			if match(m) {
				k.mu.Unlock()
				return m
			}
		}
		k.mu.Unlock()
		select {
		case <-k.arrived:
		case <-deadline:
			t.Fatalf("no matching mail within %s; the SMTP server took %d", d, len(k.got))
		}
	}
}

type smtpSession struct {
	sink   *smtpSink
	authed bool
	from   string
	rcpt   []string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != s.sink.user || password != s.sink.password {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.rcpt = append(s.rcpt, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	got := received{from: s.from, rcpt: s.rcpt, subject: subject, text: textOf(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)}
	s.sink.mu.Lock()
	s.sink.got = append(s.sink.got, got)
	s.sink.mu.Unlock()
	select {
	case s.sink.arrived <- struct{}{}:
	default: // a waiter wakes on any arrival; one pending is enough
	}
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.rcpt = "", nil }
func (s *smtpSession) Logout() error { return nil }

// textOf is a mail body's text, its parts decoded and joined.
func textOf(contentType, encoding string, body io.Reader) string {
	mt, params, _ := mime.ParseMediaType(contentType)
	if strings.HasPrefix(mt, "multipart/") {
		var out strings.Builder
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err != nil {
				return out.String()
			}
			out.WriteString(textOf(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p))
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		b, _ := io.ReadAll(body)
		return decodeBase64Lines(b)
	}
	b, _ := io.ReadAll(body)
	return string(b)
}

func decodeBase64Lines(b []byte) string {
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		return string(b)
	}
	return string(raw)
}

// mailbox is one IMAP mailbox of a dovecot the test runs.
type mailbox struct {
	user, password string
	port           int
	home           string
	n              int
}

// startDovecot runs Debian's dovecot in the foreground with a configuration
// of the test's own (no system configuration read), IMAP only on host, one
// user whose mail is a Maildir under a temporary directory.
func startDovecot(t *testing.T, host, user, password string) *mailbox {
	t.Helper()
	out, err := exec.Command("dovecot", "--version").Output()
	if err != nil {
		t.Fatalf("dovecot: %v: install Debian's dovecot-imapd (scripts/bootstrap does)", err)
	}
	if v := strings.TrimSpace(string(out)); !strings.HasPrefix(v, "2.3.") {
		t.Fatalf("dovecot %s: this test writes dovecot 2.3's configuration", v)
	}
	// Traversable by the mail user (nobody) and dovecot's own users, which
	// t.TempDir's parent (0700) is not.
	dir, err := os.MkdirTemp("", "stackctl-dovecot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &mailbox{user: user, password: password, home: filepath.Join(dir, "home")}
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(b.home, "Maildir", d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{b.home, filepath.Join(b.home, "Maildir"), filepath.Join(b.home, "Maildir", "cur"), filepath.Join(b.home, "Maildir", "new"), filepath.Join(b.home, "Maildir", "tmp")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "users"), fmt.Sprintf("%s:{PLAIN}%s::::::\n", user, password))
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	b.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(dir, "dovecot.conf")
	writeFile(t, conf, fmt.Sprintf(`protocols = imap
listen = %[1]s
base_dir = %[2]s/run
state_dir = %[2]s/state
log_path = /dev/stderr
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[2]s/users
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=%[3]s
}
service imap-login {
  inet_listener imap {
    address = %[1]s
    port = %[4]d
  }
  inet_listener imaps {
    port = 0
  }
}
`, host, dir, b.home, b.port))
	cmd := exec.Command("dovecot", "-F", "-c", conf)
	var logs lockedBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("dovecot's log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(b.port)), time.Second)
		if err == nil {
			greeting, _ := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if strings.HasPrefix(greeting, "* OK") {
				return b
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dovecot does not answer IMAP on %s:%d:\n%s", host, b.port, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// deliver puts a mail into the mailbox as a delivery agent does: written
// in tmp, renamed into new.
func (b *mailbox) deliver(t *testing.T, msg string) {
	t.Helper()
	b.n++
	name := fmt.Sprintf("%d.e2e%d.tracker.test", time.Now().UnixNano(), b.n)
	tmp := filepath.Join(b.home, "Maildir", "tmp", name)
	writeFile(t, tmp, msg)
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(b.home, "Maildir", "new", name)); err != nil {
		t.Fatal(err)
	}
}

// count counts the mails in the mailbox, seen or not (new/ and cur/): a
// mail taken by Redmine is flagged deleted and expunged.
func (b *mailbox) count(t *testing.T) int {
	t.Helper()
	n := 0
	for _, d := range []string{"new", "cur"} {
		es, err := os.ReadDir(filepath.Join(b.home, "Maildir", d))
		if err != nil {
			t.Fatal(err)
		}
		n += len(es)
	}
	return n
}
