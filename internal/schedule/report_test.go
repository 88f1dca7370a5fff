package schedule

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/report"
)

// webhookServer is a real HTTP server that records the reports posted to it.
func webhookServer(t *testing.T, status int) (*httptest.Server, <-chan Report) {
	t.Helper()
	got := make(chan Report, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep Report
		if r.Method != http.MethodPost || r.URL.Path != "/hooks/s3cr3t" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook got %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		got <- rep
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// TestRunReportsFailure: a failed run keeps its exit code, passes its output
// through, and is reported to the webhook with its last lines.
func TestRunReportsFailure(t *testing.T) {
	srv, got := webhookServer(t, http.StatusNoContent)
	var output, log bytes.Buffer
	at := time.Date(2026, 3, 1, 2, 31, 5, 0, time.UTC)
	r := Run{
		Job:    Backup,
		Stack:  "redmine",
		Argv:   []string{"/bin/sh", "-c", `for i in $(seq 1 40); do echo "line $i"; done; echo "stack redmine is not running" >&2; exit 3`},
		Output: &output, Report: report.New(&log, report.Options{}),
		Notify: []Notifier{Webhook{URL: srv.URL + "/hooks/s3cr3t"}},
		Now:    func() time.Time { return at },
	}
	code, err := r.Do(context.Background())
	if err != nil || code != 3 {
		t.Fatalf("exit %d, %v; want 3", code, err)
	}
	if !strings.HasPrefix(output.String(), "line 1\n") || !strings.HasSuffix(output.String(), "line 40\nstack redmine is not running\n") {
		t.Errorf("output not passed through in order: %q", output.String())
	}
	rep := <-got
	host, _ := os.Hostname()
	if rep.Stack != "redmine" || rep.Job != Backup || rep.ExitCode != 3 || !rep.Time.Equal(at) || rep.Host != host || !slices.Equal(rep.Command, r.Argv) {
		t.Errorf("report %+v", rep)
	}
	if len(rep.Output) != TailLines || rep.Output[0] != "line 12" || rep.Output[TailLines-1] != "stack redmine is not running" {
		t.Errorf("report output %d lines: %q", len(rep.Output), rep.Output)
	}
	if want := "the failed backup of stack redmine is reported to the webhook at " + srv.URL; !strings.Contains(log.String(), want) || strings.Contains(log.String(), "s3cr3t") {
		t.Errorf("log %q: want %q, and no token", log.String(), want)
	}
}

// TestRunUpdateReportsFailure: a failed update is reported as one: the
// webhook's JSON names the job, and so does what the wrapper says.
func TestRunUpdateReportsFailure(t *testing.T) {
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	}))
	t.Cleanup(srv.Close)
	var log bytes.Buffer
	code, err := Run{Job: Update, Stack: "redmine", Argv: []string{"/bin/sh", "-c", "echo 'base debian-bookworm: mirror unreachable' >&2; exit 4"},
		Report: report.New(&log, report.Options{}), Notify: []Notifier{Webhook{URL: srv.URL + "/hooks/s3cr3t"}}}.Do(context.Background())
	if err != nil || code != 4 {
		t.Fatalf("exit %d, %v; want 4", code, err)
	}
	body := <-bodies
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	// The job beside every field a webhook had before it.
	for _, k := range []string{"stack", "host", "time", "exit_code", "command", "output"} {
		if _, ok := got[k]; !ok {
			t.Errorf("the report lacks %q: %s", k, body)
		}
	}
	if got["job"] != "update" || got["stack"] != "redmine" {
		t.Errorf("report %s, want job update of stack redmine", body)
	}
	if !strings.Contains(log.String(), "the failed update of stack redmine is reported to") {
		t.Errorf("log %q", log.String())
	}
}

// TestRunRefusesUnknownJob: a run says what it is, or does not start.
func TestRunRefusesUnknownJob(t *testing.T) {
	code, err := Run{Stack: "redmine", Argv: []string{"/bin/sh", "-c", "exit 0"}}.Do(context.Background())
	if !errors.Is(err, errs.ErrInvalidInput) || code != 0 {
		t.Fatalf("exit %d, %v; want refused", code, err)
	}
}

func TestRunSuccessReportsNothing(t *testing.T) {
	rec := &recorder{}
	code, err := Run{Job: Backup, Stack: "redmine", Argv: []string{"/bin/sh", "-c", "echo /backups/redmine.tar.zst"}, Notify: []Notifier{rec}}.Do(context.Background())
	if err != nil || code != 0 || len(rec.reports) != 0 {
		t.Fatalf("exit %d, %v, reports %v", code, err, rec.reports)
	}
}

// TestRunInterrupted: a stopped run ends its backup with SIGTERM and is
// reported all the same, with the shell's code for that signal.
func TestRunInterrupted(t *testing.T) {
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		// Stop the run once it has started, then take whatever else it says.
		line, _ := bufio.NewReader(pr).ReadString('\n')
		if line == "started\n" {
			cancel()
		}
		io.Copy(io.Discard, pr)
	}()
	code, err := Run{Job: Backup, Stack: "redmine", Argv: []string{"/bin/sh", "-c", "echo started; exec sleep 30"}, Notify: []Notifier{rec}, Output: pw}.Do(ctx)
	pw.Close()
	if err != nil || code != 128+15 {
		t.Fatalf("exit %d, %v; want 143", code, err)
	}
	if len(rec.reports) != 1 || rec.reports[0].ExitCode != 143 {
		t.Errorf("reports %+v", rec.reports)
	}
}

// TestRunReportFails: a report that fails is logged; the exit code stays the run's.
func TestRunReportFails(t *testing.T) {
	srv, got := webhookServer(t, http.StatusBadGateway)
	var log bytes.Buffer
	code, err := Run{Job: Backup, Stack: "redmine", Argv: []string{"/bin/sh", "-c", "exit 4"}, Report: report.New(&log, report.Options{}),
		Notify: []Notifier{Webhook{URL: srv.URL + "/hooks/s3cr3t"}}}.Do(context.Background())
	<-got
	if err != nil || code != 4 || !strings.Contains(log.String(), "502 Bad Gateway") || strings.Contains(log.String(), "s3cr3t") {
		t.Fatalf("exit %d, %v, log %q", code, err, log.String())
	}
}

// TestWebhookErrorsHoldNoSecret: whatever fails, the error names the host and
// holds no form of the URL's user, password, path or query, though Go's
// client rewrites the URL in its errors (the password as ***, a space as %20,
// a redirect's target) and a Location header may quote it.
func TestWebhookErrorsHoldNoSecret(t *testing.T) {
	const secretPart = "/hooks/T0 k3n/B0?key=s3cr3t%20v4lue"
	// Each server answers on a path of its own; the URL is made from its address.
	hangUp := func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	}
	redirectLoop := func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.String()+"&again=1", http.StatusTemporaryRedirect)
	}
	badLocation := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://[::1%zz/hooks/T0 k3n/B0?key=s3cr3t%20v4lue")
		w.WriteHeader(http.StatusTemporaryRedirect)
	}
	slow := func(w http.ResponseWriter, r *http.Request) {
		// Once the body is read, the server sees the client hang up.
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"closed", nil, "connection refused"},
		{"hangs up", hangUp, "EOF"},
		{"redirect loop", redirectLoop, "redirects"},
		{"bad Location", badLocation, "Location"},
		{"timeout", slow, "Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := strings.TrimPrefix(closed.URL, "http://")
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				t.Cleanup(srv.Close)
				addr = strings.TrimPrefix(srv.URL, "http://")
			}
			w := Webhook{URL: "http://al1ce:pa%20ss%40w0rd@" + addr + secretPart, Client: &http.Client{Timeout: 500 * time.Millisecond}}
			err := w.Notify(context.Background(), Report{})
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, "the webhook at http://"+addr) || !strings.Contains(msg, tc.want) {
				t.Errorf("%q: want it to name the host and say %q", msg, tc.want)
			}
			for _, secret := range []string{"al1ce", "pa ss", "pa%20ss", "w0rd", "***", "T0", "k3n", "s3cr3t", "v4lue"} {
				if strings.Contains(msg, secret) {
					t.Errorf("%q holds %q", msg, secret)
				}
			}
		})
	}
	// A URL that does not parse is not quoted either.
	err := Webhook{URL: "http://host/hooks/s3cr3t%zz"}.Notify(context.Background(), Report{})
	if !errors.Is(err, errs.ErrInvalidInput) || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "%zz") {
		t.Errorf("unparsable URL: %v", err)
	}
}

func TestRunCannotStart(t *testing.T) {
	if _, err := (Run{Job: Backup, Stack: "redmine", Argv: []string{"/nonexistent/stackctl"}}).Do(context.Background()); err == nil {
		t.Fatal("no error for a missing binary")
	}
}

type recorder struct {
	mu      sync.Mutex
	reports []Report
}

func (r *recorder) Notify(_ context.Context, rep Report) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, rep)
	return nil
}
func (r *recorder) String() string { return "the recorder" }

// mailServer is a real SMTP server on loopback (go-smtp) that offers
// STARTTLS with a test certificate, and AUTH PLAIN only after it.
type mailServer struct {
	addr     string
	pool     *x509.CertPool
	user     string
	password string
	mu       sync.Mutex
	mails    []mail
}

type mail struct {
	from, authed string
	to           []string
	data         string
	tls          bool
}

func startMailServer(t *testing.T, user, password string) *mailServer {
	t.Helper()
	// The server's certificate, made as 'tls: self-signed' makes nginx's.
	b, err := https.SelfSigned([]string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(b.ChainPEM, b.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ms := &mailServer{pool: x509.NewCertPool(), user: user, password: password}
	ms.pool.AddCert(b.Leaf)
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &mailSession{ms: ms, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0) // the failure cases drop connections on purpose
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ms
}

type mailSession struct {
	ms     *mailServer
	conn   *gosmtp.Conn
	authed string
	m      mail
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != s.ms.user || password != s.ms.password {
			return errors.New("invalid credentials")
		}
		s.authed = user
		return nil
	}), nil
}

func (s *mailSession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.ms.user != "" && s.authed == "" {
		return gosmtp.ErrAuthRequired
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.m = mail{from: from, authed: s.authed, tls: isTLS}
	return nil
}

func (s *mailSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.m.to = append(s.m.to, to)
	return nil
}

func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.m.data = string(b)
	s.ms.mu.Lock()
	s.ms.mails = append(s.ms.mails, s.m)
	s.ms.mu.Unlock()
	return err
}

func (s *mailSession) Reset()        {}
func (s *mailSession) Logout() error { return nil }

func (ms *mailServer) smtp(t *testing.T, security, password string) SMTP {
	t.Helper()
	host, port, _ := net.SplitHostPort(ms.addr)
	p, _ := strconv.Atoi(port)
	s := SMTP{Host: host, Port: p, Security: security, From: "tracker@example.org", RootCAs: ms.pool}
	if password != "" {
		s.User = ms.user
		s.PasswordFile = filepath.Join(t.TempDir(), "smtp-password")
		// The password alone on the first line, as the settings say; the rest is not sent.
		if err := os.WriteFile(s.PasswordFile, []byte(password+"\n# rotated 2026-03-01\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

var failed = Report{
	Stack: "redmine", Job: Backup, Host: "tracker1", Time: time.Date(2026, 3, 1, 2, 31, 5, 0, time.UTC), ExitCode: 4,
	Command: []string{"/usr/local/bin/stackctl", "backup-volumes", "redmine"},
	Output:  []string{"stackctl: cannot reach the Docker engine", "."},
}

// TestMailReport: the report reaches a real SMTP server over STARTTLS with
// AUTH PLAIN, the password read from its private file.
func TestMailReport(t *testing.T) {
	ms := startMailServer(t, "tracker@example.org", "pa55word")
	m := Mail{Server: ms.smtp(t, "starttls", "pa55word"), To: "ops@example.org"}
	if err := m.Notify(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	if len(ms.mails) != 1 {
		t.Fatalf("%d mails", len(ms.mails))
	}
	got := ms.mails[0]
	if !got.tls || got.authed != "tracker@example.org" || got.from != "tracker@example.org" || !slices.Equal(got.to, []string{"ops@example.org"}) {
		t.Errorf("mail %+v", got)
	}
	for _, want := range []string{
		"Subject: stackctl: the backup of stack redmine on tracker1 failed (exit 4)\r\n",
		"To: ops@example.org\r\n",
		"failed at 2026-03-01T02:31:05Z with exit code 4",
		"    stackctl: cannot reach the Docker engine\r\n",
		"    .\r\n",
	} {
		if !strings.Contains(got.data, want) {
			t.Errorf("the mail lacks %q:\n%s", want, got.data)
		}
	}
}

// TestMailReportNamesJob: a failed update's mail says so, where a backup's
// says backup.
func TestMailReportNamesJob(t *testing.T) {
	for _, tc := range []struct {
		job                   Kind
		subject, body, absent string
	}{
		{Backup, "Subject: stackctl: the backup of stack redmine on tracker1 failed (exit 4)\r\n", "The scheduled backup of stack redmine", "update"},
		{Update, "Subject: stackctl: the update of stack redmine on tracker1 failed (exit 4)\r\n", "The scheduled update of stack redmine", "backup"},
	} {
		t.Run(string(tc.job), func(t *testing.T) {
			r := failed
			r.Job = tc.job
			r.Command = []string{"/usr/local/bin/stackctl", tc.job.Command(), "redmine"}
			msg := string(Mail{Server: SMTP{From: "tracker@example.org"}, To: "ops@example.org"}.message(r))
			if !strings.Contains(msg, tc.subject) || !strings.Contains(msg, tc.body) || strings.Contains(msg, tc.absent) {
				t.Errorf("the mail of a failed %s:\n%s", tc.job, msg)
			}
		})
	}
}

func TestMailReportFailures(t *testing.T) {
	ms := startMailServer(t, "tracker@example.org", "pa55word")
	for _, tc := range []struct {
		name string
		smtp func() SMTP
		want string
	}{
		{"wrong password", func() SMTP { return ms.smtp(t, "starttls", "wr0ng") }, "logging in as tracker@example.org"},
		{"password file not private", func() SMTP {
			s := ms.smtp(t, "starttls", "pa55word")
			os.Chmod(s.PasswordFile, 0o644)
			return s
		}, "reading the SMTP password"},
		{"certificate not trusted", func() SMTP { s := ms.smtp(t, "starttls", "pa55word"); s.RootCAs = x509.NewCertPool(); return s }, "STARTTLS"},
		{"TLS from the start against a STARTTLS port", func() SMTP { return ms.smtp(t, "tls", "pa55word") }, "through 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := Mail{Server: tc.smtp(), To: "ops@example.org"}.Notify(ctx, failed)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want it to say %q", err, tc.want)
			}
			for _, secret := range []string{"pa55word", "wr0ng"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows the password: %v", err)
				}
			}
		})
	}
	if len(ms.mails) != 0 {
		t.Errorf("%d mails went through", len(ms.mails))
	}
}

// TestMailReportPlainLoopback: security none, no login, on loopback.
func TestMailReportPlainLoopback(t *testing.T) {
	ms := startMailServer(t, "", "")
	if err := (Mail{Server: ms.smtp(t, "none", ""), To: "ops@example.org"}).Notify(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	if len(ms.mails) != 1 || ms.mails[0].tls {
		t.Fatalf("mails %+v", ms.mails)
	}
}

func TestEnvFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "env")
	vars := [][2]string{{"A", "plain"}, {"B", "has space $HOME"}, {"C", "https://h/x?a=1&b=2#f"}}
	var b bytes.Buffer
	if err := writeEnv(&b, vars); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n# comment\n; another\nD=\"double quoted\"\n")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"A=plain", "B=has space $HOME", "C=https://h/x?a=1&b=2#f", "D=double quoted"}
	if !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	if err := writeEnv(io.Discard, [][2]string{{"E", "it's"}}); err == nil {
		t.Error("a value with a single quote was written")
	}
	os.Chmod(p, 0o644)
	if _, err := ReadEnvFile(p); err == nil {
		t.Error("an environment file others can read was read")
	}
	os.Remove(p)
	if err := os.WriteFile(p, []byte("not a variable\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadEnvFile(p); err == nil || !strings.Contains(err.Error(), p+":1") {
		t.Errorf("a bad line: %v", err)
	}
}

// TestEnvFileAsSystemd: a file is read as systemd's EnvironmentFile= reads
// it (src/basic/env-file.c): the value each case gives is systemd's.
func TestEnvFileAsSystemd(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"white space around key and value", "  A = b c  \n", []string{"A=b c"}},
		{"comments, only at a line's start", "# a\n  ; b\nA=x # not a comment\n", []string{"A=x # not a comment"}},
		{"backslash escapes unquoted", `A=a\\b\"c\ ` + "\n", []string{`A=a\b"c `}},
		{"line continuation", "A=one\\\ntwo\nB=x\n", []string{"A=onetwo", "B=x"}},
		{"single quotes keep all", `A='$HOME "x" # y'` + "\n", []string{`A=$HOME "x" # y`}},
		{"double quotes", `A="say \"hi\" $HOME"` + "\n", []string{`A=say "hi" $HOME`}},
		{"double quotes continued", "A=\"one \\\ntwo\"\n", []string{"A=one two"}},
		{"quoted and unquoted run together", `A="x" 'y'z w  ` + "\n", []string{"A=xyz w"}},
		{"a quote within a value is a character", `A=it's "so"` + "\n", []string{`A=it's "so"`}},
		{"empty values", "A=\nB=''\nC=\"\"\n", []string{"A=", "B=", "C="}},
		{"a later one wins in the environment", "A=1\nA=2\n", []string{"A=1", "A=2"}},
		{"CR LF line ends", "A=b\r\nB=c\r\n", []string{"A=b", "B=c"}},
		{"no newline at the end", "A=b", []string{"A=b"}},
		{"Cyrillic and a tab", "A='пароль\tx'\n", []string{"A=пароль\tx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEnv("creds.env", tc.file)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("%q: %q, %v; want %q", tc.file, got, err, tc.want)
			}
		})
	}
}

// TestEnvFileRefused: what systemd skips, or its versions read differently,
// is refused, naming the line.
func TestEnvFileRefused(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"no =", "A=1\nexport B\n", "creds.env:2: want KEY=VALUE"},
		{"not a name", "A=1\n\n2B=x\n", `creds.env:3: "2B" is not a variable name`},
		{"a dash in the name", "AWS-KEY=x\n", `creds.env:1: "AWS-KEY" is not a variable name`},
		{"a line break in single quotes", "A='one\ntwo'\n", "creds.env:1: the value of A holds a line break"},
		{"an escape character", "A=x\x1b[2J\n", "creds.env:1: the value of A holds a line break or another control character"},
		{"a comment ending with a backslash", "# note \\\nA=1\n", "creds.env:1: a comment ends with \\"},
		{"a backslash in single quotes", "A=1\nB='a\\b'\n", "creds.env:2: a \\ inside single quotes"},
		{"an escaped backslash in double quotes", `A="a\\b"` + "\n", "creds.env:1: a \\ inside double quotes"},
		{"an escaped dollar in double quotes", `A="\$HOME"` + "\n", "creds.env:1: a \\ inside double quotes"},
		{"a quote left open", "A=1\nB=\"x\nC=2\n", "creds.env:2: a quote is left open"},
		{"a key at the end with no =", "A=1\nB", "creds.env:2: want KEY=VALUE"},
		{"not UTF-8", "A=1\nB=\xff\n", "creds.env:2: not UTF-8"},
		{"a NUL", "A=1\nB=x\x00y\n", "creds.env:2: a NUL byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseEnv("creds.env", tc.file)
			if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q: %q, %v; want an error saying %q", tc.file, got, err, tc.want)
			}
		})
	}
	// What writeEnv cannot write so that both read it back is refused.
	for _, v := range []string{"it's", `a\b`, "a\nb", "a\tb"} {
		if err := writeEnv(io.Discard, [][2]string{{"E", v}}); err == nil {
			t.Errorf("%q was written", v)
		}
	}
}

// TestCommand: the command as data, with the environment the unit gives it.
func TestCommand(t *testing.T) {
	root := t.TempDir()
	h := Host{Root: root}
	j := jobs["daily"]
	creds := filepath.Join(root, "creds.env")
	if err := os.WriteFile(creds, []byte("AWS_ACCESS_KEY_ID=AKIA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	j.EnvFiles = []string{creds}
	if _, err := h.Install(context.Background(), j, Cron); err != nil {
		t.Fatal(err)
	}
	c := j.Command(Systemd, root)
	wantArgv := []string{"/usr/local/bin/stackctl", "--dir", "/srv/tracker", "schedule", "run", "redmine", "--",
		"backup-volumes", "redmine", "--keep-daily=7", "--keep-weekly=5", "--to=s3://backups/tracker"}
	if !slices.Equal(c.Argv, wantArgv) {
		t.Errorf("argv %q\nwant %q", c.Argv, wantArgv)
	}
	env, err := environ(c, []string{"PATH=/usr/bin"})
	if err != nil {
		t.Fatal(err)
	}
	wantEnv := []string{"PATH=/usr/bin", EnvWebhook + "=" + j.Notify.Webhook, EnvMail + "=" + j.Notify.Mail,
		"AWS_ACCESS_KEY_ID=AKIA", "STACKCTL_STATE_DIR=/var/lib/stackctl", "STACKCTL_INSTANCE="}
	if !slices.Equal(env, wantEnv) {
		t.Errorf("env %q\nwant %q", env, wantEnv)
	}
	cron := j.Command(Cron, root).Argv
	if i := slices.Index(cron, "--env-file"); i < 0 || cron[i+1] != filepath.Join(root, "etc/stackctl/backup-redmine.env") {
		t.Errorf("cron argv %q names no environment file", cron)
	}
}

// environ is base with what c's unit adds, as systemd and cron give it: the
// variables of c's environment files, then c.Env, each overriding what came before.
func environ(c Command, base []string) ([]string, error) {
	env := append([]string(nil), base...)
	for _, f := range c.EnvFiles {
		vars, err := ReadEnvFile(f)
		if err != nil {
			return nil, err
		}
		env = append(env, vars...)
	}
	return append(env, c.Env...), nil
}
