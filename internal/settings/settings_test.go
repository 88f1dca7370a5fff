package settings

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/schedule"
)

// update reports -update: rewrite the golden files. A test helper linked in
// may define the flag already; share it.
var update = func() func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
	return func() bool { return flag.Lookup("update").Value.String() == "true" }
}()

const file = "/site/stackctl.yaml"

// problemsOf parses content and returns its problems, failing on any other error.
func problemsOf(t *testing.T, content string) []Problem {
	t.Helper()
	_, err := Parse(file, []byte(content))
	if err == nil {
		return nil
	}
	var se *Error
	if !errors.As(err, &se) || !errors.Is(err, errs.ErrInvalidInput) || se.File != file {
		t.Fatalf("Parse: %v (%T); want an *Error of %s wrapping errs.ErrInvalidInput", err, err, file)
	}
	return se.Problems
}

func TestDefaults(t *testing.T) {
	l, err := Parse(file, []byte("version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.File, Default().File) || l.Path != file {
		t.Errorf("version only: %+v, want the defaults %+v", l, Default())
	}
	// Nothing set changes nothing: every compose default holds, and up sets no Redmine setting.
	if got := l.Overrides(); len(got.Memory) != 0 || got.PumaWorkers != nil || got.PumaMaxThreads != 0 || len(got.AppSettings) != 0 {
		t.Errorf("Catalog() of the defaults = %+v, want nothing set", got)
	}
	if m := l.Overrides().Mail; m.SMTP != nil || m.IMAP != nil {
		t.Errorf("Catalog().Mail of the defaults = %+v, want no mail", m)
	}
	if err := l.CheckFiles(); err != nil {
		t.Errorf("CheckFiles() of the defaults: %v", err)
	}
	// Empty sections are sections left out.
	if _, err := Parse(file, []byte("version: 1\ntls:\nmail:\nredmine:\n  puma:\nresources: {}\n")); err != nil {
		t.Errorf("empty sections: %v", err)
	}
}

// TestBadValues: every key's bad values, each refused at its line with what is wrong.
func TestBadValues(t *testing.T) {
	const v = "version: 1\n"
	for _, tc := range []struct {
		name, content string
		line          int
		key, msg      string
	}{
		{"no version", "url: http://a.example\n", 0, "", "no version"},
		{"empty file", "", 0, "", "no version"},
		{"version newer", "version: 2\n", 1, "version", "newer than this stackctl reads"},
		{"version zero", "version: 0\n", 1, "version", "version 0"},
		{"version not a number", "version: one\n", 1, "version", `must be a whole number, not "one"`},
		{"not a mapping", "- version\n", 1, "", "the file must be a mapping of keys"},
		{"not YAML", "version: [\n", 1, "", "not YAML"},
		{"key twice", v + "url: http://a.example\nurl: http://b.example\n", 3, "url", "given twice (first at line 2)"},

		{"url relative", v + "url: tracker\n", 2, "url", "is not an absolute URL"},
		{"url scheme", v + "url: ftp://tracker.example.org\n", 2, "url", `scheme "ftp"`},
		{"url path", v + "url: http://tracker.example.org/redmine\n", 2, "url", "has more than scheme, host and port"},
		{"url query", v + "url: http://tracker.example.org/?a=b\n", 2, "url", "has more than scheme, host and port"},
		{"url port", v + "url: http://tracker.example.org:0\n", 2, "url", `port "0"`},
		{"url host", v + "url: http://under_score.example\n", 2, "url", "is not a host name"},
		{"url http with tls", v + "url: http://t.example\ntls:\n  mode: self-signed\n", 2, "url", "http, while tls.mode is self-signed"},
		{"url a list", v + "url: [a]\n", 2, "url", "must be a single value, not a list"},

		{"listen no port", v + "listen: 127.0.0.1\n", 2, "listen", "is not an address:port"},
		{"listen port range", v + "listen: 127.0.0.1:99999\n", 2, "listen", "port of 1-65535"},

		{"tls not a mapping", v + "tls: off\n", 2, "tls", `tls must be a mapping of keys, not "off"`},
		{"tls mode", v + "tls:\n  mode: on\n", 3, "tls.mode", `"on" is not a mode`},
		{"instance upper case", v + "instance: Team2\n", 2, "instance", `"Team2" cannot name an instance`},
		{"instance too long", v + "instance: " + strings.Repeat("a", 32) + "\n", 2, "instance", "cannot name an instance"},
		{"tls files without key", v + "url: https://t.example\ntls:\n  mode: files\n  certificate_file: c.pem\n", 4, "tls.key_file", "mode files needs both"},
		{"tls files without certificate", v + "url: https://t.example\ntls:\n  mode: files\n  key_file: k.pem\n", 4, "tls.certificate_file", "mode files needs both"},
		{"tls certificate in mode off", v + "tls:\n  certificate_file: c.pem\n", 3, "tls.certificate_file", "only mode files takes it"},
		{"tls key in mode acme", v + "url: https://t.example\ntls:\n  mode: acme\n  key_file: k.pem\n  acme: {email: a@example.org}\n", 5, "tls.key_file", "only mode files takes it"},
		{"tls acme without email", v + "url: https://t.example\ntls:\n  mode: acme\n", 4, "tls.acme.email", "mode acme needs the ACME account's email"},
		{"tls acme in mode off", v + "tls:\n  acme:\n    email: a@example.org\n", 3, "tls.acme", "only mode acme takes it"},
		{"tls acme email", v + "url: https://t.example\ntls:\n  mode: acme\n  acme:\n    email: nobody\n", 6, "tls.acme.email", `"nobody" is not an email address`},
		{"tls acme directory", v + "url: https://t.example\ntls:\n  mode: acme\n  acme:\n    email: a@example.org\n    directory: http://ca.example/dir\n", 7, "tls.acme.directory", "is not an https URL"},
		{"tls self-signed without a name", v + "tls:\n  mode: self-signed\n", 3, "tls.names", "mode self-signed needs a host name"},
		{"http_listen in mode off", v + "http_listen: 0.0.0.0:80\n", 2, "http_listen", "only a tls.mode other than off takes it"},
		{"http_listen bad", v + "url: https://t.example\nhttp_listen: nowhere\ntls:\n  mode: self-signed\n", 3, "http_listen", "is not an address:port"},
		{"tls names not a list", v + "tls:\n  names: www.example.org\n", 3, "tls.names", "must be a list"},
		{"tls names bad name", v + "tls:\n  names:\n    - ok.example.org\n    - -bad.example.org\n", 5, "tls.names[1]", "is not a DNS name"},
		{"tls names nested", v + "tls:\n  names:\n    - [a]\n", 4, "tls.names[0]", "must be a single value"},

		{"smtp without host", v + "mail:\n  smtp:\n    port: 25\n", 3, "mail.smtp.host", "missing"},
		{"smtp host", v + "mail:\n  smtp:\n    host: smtp example\n", 4, "mail.smtp.host", "is not a host name"},
		{"smtp port", v + "mail:\n  smtp:\n    host: s.example\n    port: 70000\n", 5, "mail.smtp.port", "port 70000"},
		{"smtp port zero", v + "mail:\n  smtp:\n    host: s.example\n    port: 0\n", 5, "mail.smtp.port", "port 0"},
		{"smtp port word", v + "mail:\n  smtp:\n    host: s.example\n    port: smtp\n", 5, "mail.smtp.port", "must be a whole number"},
		{"smtp security", v + "mail:\n  smtp:\n    host: s.example\n    security: ssl\n", 5, "mail.smtp.security", `"ssl" is not a security`},
		{"smtp user without password", v + "mail:\n  smtp:\n    host: s.example\n    user: me\n", 5, "mail.smtp.password_file", "a user needs a password"},
		{"smtp password without user", v + "mail:\n  smtp:\n    host: s.example\n    password_file: pw\n", 5, "mail.smtp.user", "a password needs a user"},
		{"smtp from", v + "mail:\n  smtp:\n    host: s.example\n    from: Redmine <r@example.org>\n", 5, "mail.smtp.from", "is not an email address"},
		{"imap without host", v + "mail:\n  imap:\n    user: me\n    password_file: pw\n", 3, "mail.imap.host", "incoming mail needs host, user and password_file"},
		{"imap without user", v + "mail:\n  imap:\n    host: i.example\n    password_file: pw\n", 3, "mail.imap.user", "incoming mail needs"},
		{"imap without password", v + "mail:\n  imap:\n    host: i.example\n    user: me\n", 3, "mail.imap.password_file", "incoming mail needs"},
		{"imap port", v + "mail:\n  imap: {host: i.example, user: me, password_file: pw, port: -1}\n", 3, "mail.imap.port", "port -1"},
		{"imap security", v + "mail:\n  imap: {host: i.example, user: me, password_file: pw, security: starttls2}\n", 3, "mail.imap.security", "is not a security"},
		{"imap folder", v + "mail:\n  imap: {host: i.example, user: me, password_file: pw, folder: ' '}\n", 3, "mail.imap.folder", "empty"},
		{"imap interval", v + "mail:\n  imap: {host: i.example, user: me, password_file: pw, interval: often}\n", 3, "mail.imap.interval", `"often" is not a duration`},
		{"imap interval short", v + "mail:\n  imap: {host: i.example, user: me, password_file: pw, interval: 30s}\n", 3, "mail.imap.interval", "shorter than 1m"},
		{"imap project", v + "mail:\n  imap: {host: i.example, user: me, password_file: pw, project: Support Desk}\n", 3, "mail.imap.project", `"Support Desk" is not a project identifier`},
		{"imap project digits", v + "mail:\n  imap: {host: i.example, user: me, password_file: pw, project: '42'}\n", 3, "mail.imap.project", "is not a project identifier"},
		{"imap unknown user", v + "mail:\n  imap: {host: i.example, user: me, password_file: pw, unknown_user: reject}\n", 3, "mail.imap.unknown_user", `"reject" is not a choice`},

		{"language", v + "redmine:\n  language: klingon\n", 3, "redmine.language", `"klingon" is not a language Redmine 6 ships`},
		{"language case", v + "redmine:\n  language: pt_br\n", 3, "redmine.language", "is not a language"},
		{"host name path", v + "redmine:\n  host_name: example.org/redmine\n", 3, "redmine.host_name", "is not host or host:port"},
		{"host name port", v + "redmine:\n  host_name: example.org:http\n", 3, "redmine.host_name", "is not host or host:port"},
		{"protocol", v + "redmine:\n  protocol: ftp\n", 3, "redmine.protocol", `"ftp" is not a protocol`},
		{"emission email", v + "redmine:\n  emission_email: redmine\n", 3, "redmine.emission_email", "is not an email address"},
		{"workers negative", v + "redmine:\n  puma:\n    workers: -1\n", 4, "redmine.puma.workers", "-1 workers"},
		{"workers too many", v + "redmine:\n  puma:\n    workers: 17\n", 4, "redmine.puma.workers", "17 workers"},
		{"workers word", v + "redmine:\n  puma:\n    workers: auto\n", 4, "redmine.puma.workers", "must be a whole number"},
		{"threads too many", v + "redmine:\n  puma:\n    threads: 6\n", 4, "redmine.puma.threads", "more than 5 threads"},
		{"threads reversed", v + "redmine:\n  puma:\n    threads: 5,1\n", 4, "redmine.puma.threads", "at most max"},
		{"threads zero", v + "redmine:\n  puma:\n    threads: 0\n", 4, "redmine.puma.threads", "max at least 1"},
		{"threads word", v + "redmine:\n  puma:\n    threads: some\n", 4, "redmine.puma.threads", "is not a number or min,max"},
		{"threads list", v + "redmine:\n  puma:\n    threads: [1, 5]\n", 4, "redmine.puma.threads", "must be a single value, not a list"},

		{"redmine memory unit", v + "resources:\n  redmine_memory: 1x\n", 3, "resources.redmine_memory", `"1x" is not an amount of memory`},
		{"db memory small", v + "resources:\n  db_memory: 1m\n", 3, "resources.db_memory", "below the engine's smallest limit"},
		{"nginx memory negative", v + "resources:\n  nginx_memory: -128m\n", 3, "resources.nginx_memory", "is not an amount of memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := problemsOf(t, tc.content)
			if !slices.ContainsFunc(ps, func(p Problem) bool {
				return p.Line == tc.line && p.Key == tc.key && strings.Contains(p.Message, tc.msg) && p.Fix != ""
			}) {
				t.Errorf("problems %+v\nwant one at line %d, key %q, saying %q, with a fix", ps, tc.line, tc.key, tc.msg)
			}
			_, err := Parse(file, []byte(tc.content))
			where := file
			if tc.line > 0 {
				where += ":" + itoa(tc.line)
			}
			if !strings.Contains(err.Error(), where+": ") {
				t.Errorf("error %q does not say %s", err, where)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		line          int
		key, fix      string
	}{
		{"typo", "version: 1\nlisen: 0.0.0.0:80\n", 2, "lisen", "did you mean listen?"},
		{"typo in a section", "version: 1\ntls:\n  mdoe: off\n", 3, "tls.mdoe", "did you mean mode?"},
		{"deep typo", "version: 1\nredmine:\n  puma:\n    worker: 2\n", 4, "redmine.puma.worker", "did you mean workers?"},
		{"capitalised", "version: 1\nURL: http://t.example\n", 2, "URL", "did you mean url?"},
		{"nothing near", "version: 1\ncolour: blue\n", 2, "colour", "keys here: version, instance, url, listen, http_listen, tls, mail, redmine, resources"},
		{"a key of another section", "version: 1\nresources:\n  workers: 2\n", 3, "resources.workers", "keys here: redmine_memory, db_memory, nginx_memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := problemsOf(t, tc.content)
			if len(ps) != 1 || ps[0].Line != tc.line || ps[0].Key != tc.key || ps[0].Message != "unknown key" || !strings.Contains(ps[0].Fix, tc.fix) {
				t.Errorf("problems %+v\nwant one unknown key %s at line %d, fix saying %q", ps, tc.key, tc.line, tc.fix)
			}
		})
	}
}

// TestInlineSecrets: a secret is refused where it is written, naming the file alternative.
func TestInlineSecrets(t *testing.T) {
	const pem = "-----BEGIN RSA PRIVATE KEY-----\n    MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n    -----END RSA PRIVATE KEY-----"
	for _, tc := range []struct {
		name, content string
		line          int
		key, fix      string
	}{
		{"smtp password", "version: 1\nmail:\n  smtp:\n    host: s.example\n    password: hunter2\n", 5, "mail.smtp.password", "mail.smtp.password_file"},
		{"imap password", "version: 1\nmail:\n  imap:\n    password: hunter2\n", 4, "mail.imap.password", "mail.imap.password_file"},
		{"tls key", "version: 1\ntls:\n  key: |\n    " + pem + "\n", 3, "tls.key", "tls.key_file"},
		{"acme account key", "version: 1\ntls:\n  acme:\n    account_key: abc\n", 4, "tls.acme.account_key", "tls.acme.account_key_file"},
		{"a token anywhere", "version: 1\nredmine:\n  api_token: abcdef\n", 3, "redmine.api_token", "only as files"},
		{"a secret at the top", "version: 1\nsmtp_secret: x\n", 2, "smtp_secret", "only as files"},
		{"a password in the url", "version: 1\nurl: http://admin:hunter2@t.example\n", 2, "url", "*_file key"},
		{"a private key as a value", "version: 1\nredmine:\n  host_name: |\n    " + pem + "\n", 3, "redmine.host_name", "*_file key"},
		{"a GitHub token as a name", "version: 1\ntls:\n  names: [ghp_0123456789abcdefghijklmnopqrstuvwxyz]\n", 3, "tls.names[0]", "*_file key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := problemsOf(t, tc.content)
			if !slices.ContainsFunc(ps, func(p Problem) bool {
				return p.Line == tc.line && p.Key == tc.key && strings.Contains(p.Message, "secret") && strings.Contains(p.Fix, tc.fix)
			}) {
				t.Errorf("problems %+v\nwant a secret refused at line %d, key %s, naming %q", ps, tc.line, tc.key, tc.fix)
			}
			for _, p := range ps {
				if strings.Contains(p.Message+p.Fix, "hunter2") || strings.Contains(p.Message+p.Fix, "MIIE") {
					t.Errorf("a problem repeats the secret: %+v", p)
				}
			}
		})
	}
}

// TestEveryProblem: all problems are reported at once, in line order.
func TestEveryProblem(t *testing.T) {
	ps := problemsOf(t, "version: 1\nlisen: x\nredmine:\n  language: xx\nresources:\n  db_memory: lots\n")
	var got []string
	for _, p := range ps {
		got = append(got, p.Key)
	}
	if want := []string{"lisen", "redmine.language", "resources.db_memory"}; !slices.Equal(got, want) {
		t.Errorf("problems of %v, want %v", got, want)
	}
}

// TestAccepted: good values of every key decode, and become what up applies.
func TestAccepted(t *testing.T) {
	content := `version: 1
url: https://tracker.example.org:8443
listen: 0.0.0.0:443
tls:
  mode: acme
  names: [www.tracker.example.org]
  acme:
    email: admin@example.org
    directory: https://acme.example/dir
mail:
  smtp: {host: smtp.example.org, port: 465, security: tls, user: me, password_file: smtp.pw, from: r@example.org}
  imap: {host: 192.0.2.1, port: 993, security: tls, user: me, password_file: /etc/imap.pw, folder: Redmine, interval: 1h30m}
redmine:
  language: pt-BR
  emission_email: redmine@example.org
  puma:
    workers: 0
    threads: 1,4
resources:
  redmine_memory: 1.5g
  db_memory: 512m
  nginx_memory: 64M
`
	l, err := Parse(file, []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	got := l.Overrides()
	want := catalog.Overrides{
		Memory:      map[string]string{"redmine": "1.5g", "db": "512m", "nginx": "64M"},
		PumaWorkers: new(int), PumaMinThreads: 1, PumaMaxThreads: 4, HTTPS: true,
		AppSettings: map[string]string{"default_language": "pt-BR", "host_name": "tracker.example.org:8443", "protocol": "https", "mail_from": "redmine@example.org"},
		Mail: catalog.Mail{
			SMTP: &catalog.SMTP{Host: "smtp.example.org", Port: 465, Security: "tls", User: "me"},
			IMAP: &catalog.IMAP{Host: "192.0.2.1", Port: 993, Security: "tls", User: "me", Folder: "Redmine", IntervalSeconds: 5400, UnknownUser: "ignore"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Catalog() = %+v\nwant       %+v", got, want)
	}
	h := l.HTTPS()
	if h.Mode != "acme" || !reflect.DeepEqual(h.Names, []string{"tracker.example.org", "www.tracker.example.org"}) ||
		h.Origin != "https://tracker.example.org:8443" || h.ACME.Directory != "https://acme.example/dir" {
		t.Errorf("HTTPS() = %+v: want mode acme for url's host then tls.names, redirecting to url", h)
	}
	if l.lines["tls.acme.email"] != 8 || l.lines["resources.nginx_memory"] != 22 {
		t.Errorf("lines: tls.acme.email %d, resources.nginx_memory %d; want 8, 22", l.lines["tls.acme.email"], l.lines["resources.nginx_memory"])
	}
	if p := l.filePath(l.Mail.SMTP.PasswordFile); p != "/site/smtp.pw" {
		t.Errorf("a relative file is taken from the site: %s", p)
	}
	// Overrides win over what url says; one number of threads is min and max.
	l, err = Parse(file, []byte("version: 1\nurl: http://t.example\nredmine:\n  host_name: other.example\n  protocol: https\n  puma: {threads: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got = l.Overrides()
	if got.AppSettings["host_name"] != "other.example" || got.AppSettings["protocol"] != "https" || got.PumaMinThreads != 3 || got.PumaMaxThreads != 3 {
		t.Errorf("overrides: %+v", got)
	}
}

// TestMail: the mail settings reach the stacks with every default resolved,
// and the passwords are read from their files, first line only.
func TestMail(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "smtp.pw"), []byte("s3cret\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, mail string
		want       catalog.Mail
		from       string
	}{
		{"smtp defaults", "  smtp: {host: smtp.example.org}\n",
			catalog.Mail{SMTP: &catalog.SMTP{Host: "smtp.example.org", Port: 587, Security: "starttls"}}, ""},
		{"smtp tls", "  smtp: {host: s.example, security: tls, user: me, password_file: smtp.pw, from: r@example.org}\n",
			catalog.Mail{SMTP: &catalog.SMTP{Host: "s.example", Port: 465, Security: "tls", User: "me"}}, "r@example.org"},
		{"smtp none on its port", "  smtp: {host: s.example, security: none, port: 2525}\n",
			catalog.Mail{SMTP: &catalog.SMTP{Host: "s.example", Port: 2525, Security: "none"}}, ""},
		{"imap defaults", "  imap: {host: i.example, user: me, password_file: smtp.pw}\n",
			catalog.Mail{IMAP: &catalog.IMAP{Host: "i.example", Port: 993, Security: "tls", User: "me", Folder: "INBOX", IntervalSeconds: 300, UnknownUser: "ignore"}}, ""},
		{"imap all", "  imap: {host: i.example, user: me, password_file: smtp.pw, security: starttls, folder: Redmine, interval: 1h, project: support, unknown_user: create}\n",
			catalog.Mail{IMAP: &catalog.IMAP{Host: "i.example", Port: 143, Security: "starttls", User: "me", Folder: "Redmine", IntervalSeconds: 3600, Project: "support", UnknownUser: "create"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse(filepath.Join(dir, FileName), []byte("version: 1\nmail:\n"+tc.mail))
			if err != nil {
				t.Fatal(err)
			}
			got := l.Overrides()
			if !reflect.DeepEqual(got.Mail, tc.want) {
				t.Errorf("Catalog().Mail = %s, want %s", show(got.Mail), show(tc.want))
			}
			if got.AppSettings["mail_from"] != tc.from {
				t.Errorf("mail_from = %q, want %q (smtp.from when emission_email is not set)", got.AppSettings["mail_from"], tc.from)
			}
			sec, err := l.Secrets()
			if err != nil {
				t.Fatal(err)
			}
			if pw, ok := sec[catalog.SMTPPassword]; ok != strings.Contains(tc.mail, "password_file") && tc.want.SMTP != nil || ok && pw != "s3cret" {
				t.Errorf("Secrets() = %q; want smtp_password s3cret where a password file is named", sec)
			}
		})
	}
	// emission_email wins over smtp.from.
	l, err := Parse(file, []byte("version: 1\nmail:\n  smtp: {host: s.example, from: a@example.org}\nredmine: {emission_email: b@example.org}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if f := l.Overrides().AppSettings["mail_from"]; f != "b@example.org" {
		t.Errorf("mail_from = %q, want redmine.emission_email's", f)
	}
	// A password file that cannot be read is an error naming it.
	l, err = Parse(filepath.Join(dir, FileName), []byte("version: 1\nmail:\n  imap: {host: i.example, user: me, password_file: gone.pw}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Secrets(); err == nil || !strings.Contains(err.Error(), "gone.pw") {
		t.Errorf("Secrets() with a missing file: %v, want an error naming it", err)
	}
}

func show(m catalog.Mail) string {
	return fmt.Sprintf("{SMTP: %+v, IMAP: %+v}", m.SMTP, m.IMAP)
}

// TestSecretFiles: a file a setting names must be there and regular, a
// secret's yours with mode 0600 or stricter, whatever the umask.
func TestSecretFiles(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0))
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("secret\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("private", 0o600)
	write("readonly", 0o400)
	write("group", 0o640)
	write("world", 0o604)
	write("cert.pem", 0o644)
	if err := os.Symlink(filepath.Join(dir, "private"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		p := write("theirs", 0o600)
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	settingsFile := filepath.Join(dir, FileName)
	for _, tc := range []struct {
		name, secret, cert string
		msg                string
	}{
		{name: "private", secret: "private", cert: "cert.pem"},
		{name: "read-only", secret: "readonly", cert: filepath.Join(dir, "cert.pem")},
		{name: "group may read", secret: "group", cert: "cert.pem", msg: "is open to others (mode -rw-r-----)"},
		{name: "others may read", secret: "world", cert: "cert.pem", msg: "is open to others"},
		{name: "missing", secret: "nothing", cert: "cert.pem", msg: "does not exist"},
		{name: "a symbolic link", secret: "link", cert: "cert.pem", msg: "is a symbolic link"},
		{name: "a directory", secret: "adir", cert: "cert.pem", msg: "is not a regular file"},
		{name: "certificate missing", secret: "private", cert: "none.pem", msg: "none.pem does not exist"},
		{name: "certificate a directory", secret: "private", cert: "adir", msg: "is not a regular file"},
		{name: "another user's", secret: "theirs", cert: "cert.pem", msg: "belongs to uid 65534"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.secret == "theirs" && os.Geteuid() != 0 {
				t.Skip("making a file of another user needs root")
			}
			content := "version: 1\nurl: https://t.example\ntls:\n  mode: files\n  certificate_file: " + tc.cert + "\n  key_file: " + tc.secret + "\n"
			l, err := Parse(settingsFile, []byte(content))
			if err != nil {
				t.Fatal(err)
			}
			err = l.CheckFiles()
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || len(se.Problems) != 1 || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("CheckFiles: %v; want one problem saying %q", err, tc.msg)
			}
			p := se.Problems[0]
			line := map[bool]int{true: 6, false: 5}[p.Key == "tls.key_file"]
			if p.Line != line || !strings.Contains(err.Error(), settingsFile+":"+itoa(line)+": ") {
				t.Errorf("problem %+v; want it at line %d of %s", p, line, settingsFile)
			}
			if strings.Contains(tc.msg, "open to others") && !strings.Contains(err.Error(), "chmod 600 "+filepath.Join(dir, tc.secret)) {
				t.Errorf("%v does not say chmod 600 of the file", err)
			}
		})
	}
}

// TestTemplate: the file init writes is generated from the schema, decodes to
// the defaults, and mentions every key; testdata holds it, refreshed with -update.
func TestTemplate(t *testing.T) {
	got := Template()
	golden := filepath.Join("testdata", "init.golden.yaml")
	if update() {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("Template() differs from %s: run go test ./internal/settings -update, and review the diff", golden)
	}
	l, err := Parse(file, []byte(got))
	if err != nil {
		t.Fatalf("the template does not decode: %v", err)
	}
	if !reflect.DeepEqual(l.File, Default().File) {
		t.Errorf("the template decodes to %+v, want the defaults", l.File)
	}
	lines := strings.Split(got, "\n")
	for _, f := range allFields() {
		depth := strings.Count(f.path, ".")
		entry := "# " + strings.Repeat("  ", depth) + f.key + ":"
		if f.path == "version" {
			entry = "version:"
		}
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, entry) }) {
			t.Errorf("the template has no line %q for %s", entry, f.path)
		}
	}
	for _, l := range lines {
		if len(l) > 80 {
			t.Errorf("a template line is longer than 80: %q", l)
		}
	}
}

// allFields is every key of the schema, depth first.
func allFields() []field {
	var out []field
	var walk func([]field)
	walk = func(fs []field) {
		for _, f := range fs {
			out = append(out, f)
			walk(f.children)
		}
	}
	walk(fieldDocs())
	return out
}

// TestSchemaDocumented: every key the decoder reads has documentation, an
// example (but sections), and a doc comment that starts with its Go name.
func TestSchemaDocumented(t *testing.T) {
	var keys []string
	var walk func(reflect.Type, string)
	walk = func(ty reflect.Type, prefix string) {
		for i := range ty.NumField() {
			f := ty.Field(i)
			key := join(prefix, f.Tag.Get("yaml"))
			keys = append(keys, key)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, key)
			}
		}
	}
	walk(reflect.TypeFor[File](), "")
	var documented []string
	for _, f := range allFields() {
		documented = append(documented, f.path)
		if f.doc == "" || strings.HasPrefix(f.doc, "//") {
			t.Errorf("%s has no doc comment", f.path)
		}
		if r := []rune(f.doc); len(r) > 0 && (r[0] < 'A' || r[0] > 'Z') {
			t.Errorf("%s: the doc comment does not start with its Go name and is or are: %q", f.path, f.doc)
		}
		if f.children == nil && f.example == "" {
			t.Errorf("%s has no example tag", f.path)
		}
		if !strings.Contains(string(Reference()), "`"+f.path+"`") {
			t.Errorf("the reference does not document %s", f.path)
		}
	}
	if !slices.Equal(keys, documented) {
		t.Errorf("keys decoded %v\nkeys documented %v", keys, documented)
	}
}

func TestLocales(t *testing.T) {
	if len(locales) != 50 || !slices.Contains(locales, "en") || !slices.Contains(locales, "zh-TW") || slices.Contains(locales, "#") {
		t.Errorf("locales = %v: want Redmine 6.0's 50", locales)
	}
}

// TestSMTP: mail.smtp as the server stackctl mails its own reports through,
// with the password file taken from the site's directory and defaults filled.
func TestSMTP(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "smtp.pw"), []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		content string
		want    schedule.SMTP
		ok      bool
	}{
		{"version: 1\n", schedule.SMTP{}, false},
		{"version: 1\nmail:\n  smtp: {host: smtp.example.org, user: me, password_file: smtp.pw, from: r@example.org}\nredmine: {emission_email: redmine@example.org}\n",
			schedule.SMTP{Host: "smtp.example.org", Security: "starttls", User: "me", PasswordFile: filepath.Join(real, "smtp.pw"), From: "redmine@example.org"}, true},
		{"version: 1\nmail:\n  smtp: {host: 127.0.0.1, port: 2525, security: none, from: r@example.org}\n",
			schedule.SMTP{Host: "127.0.0.1", Port: 2525, Security: "none", From: "r@example.org"}, true},
	} {
		l, err := Parse(filepath.Join(dir, FileName), []byte(tc.content))
		if err != nil {
			t.Fatal(err)
		}
		if got, ok, err := l.SMTP(); ok != tc.ok || !reflect.DeepEqual(got, tc.want) || err != nil {
			t.Errorf("%s: %+v, %v, %v; want %+v", tc.content, got, ok, err, tc.want)
		}
	}
}

// TestSecretFilePlaces: a settings file names its servers too, so it may not
// name any private file of the user as a secret: none in .ssh or .gnupg, one
// sent to a server only from the site's directory (or /etc/stackctl), and no
// password file holding a key. Each refusal names the key, the path and the
// way out, in CheckFiles, Secrets and SMTP alike.
func TestSecretFilePlaces(t *testing.T) {
	root := t.TempDir()
	site, home, elsewhere := filepath.Join(root, "site"), filepath.Join(root, "home"), filepath.Join(root, "elsewhere")
	write := func(path, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sshKey := "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
	write(filepath.Join(site, "smtp.pw"), "s3cret\n")
	write(filepath.Join(home, ".ssh", "id_ed25519"), sshKey)
	write(filepath.Join(home, ".gnupg", "pw"), "s3cret\n")
	write(filepath.Join(site, ".ssh", "pw"), "s3cret\n")
	write(filepath.Join(elsewhere, "smtp.pw"), "s3cret\n")
	write(filepath.Join(elsewhere, "key.pem"), "-----BEGIN EC PRIVATE KEY-----\n")
	write(filepath.Join(site, "id_ed25519"), sshKey)
	write(filepath.Join(site, "age.pw"), "# created: 2026-01-01\nAGE-SECRET-KEY-1QQQ\n")
	for link, to := range map[string]string{"keys": filepath.Join(home, ".ssh"), "out": elsewhere} {
		if err := os.Symlink(to, filepath.Join(site, link)); err != nil {
			t.Fatal(err)
		}
	}
	way := "keep the secret in a file of its own in the site's directory " + site + " or /etc/stackctl"
	for _, tc := range []struct {
		name, key, file, msg, fix string
	}{
		{"in the site's directory", "mail.smtp.password_file", "smtp.pw", "", ""},
		{"an SSH key by its path", "mail.smtp.password_file", filepath.Join(home, ".ssh", "id_ed25519"), "is in a .ssh directory", way},
		{"in .gnupg", "mail.imap.password_file", filepath.Join(home, ".gnupg", "pw"), "is in a .gnupg directory", way},
		{"in an .ssh directory of the site", "mail.smtp.password_file", ".ssh/pw", "is in a .ssh directory", way},
		{"through a link to .ssh", "mail.smtp.password_file", "keys/id_ed25519", "is in a .ssh directory", way},
		{"outside the site", "mail.smtp.password_file", filepath.Join(elsewhere, "smtp.pw"), "is outside the site's directory", way},
		{"through a link out of the site", "mail.imap.password_file", "out/smtp.pw", "is outside the site's directory", way},
		{"an ACME account key outside", "tls.acme.account_key_file", filepath.Join(elsewhere, "key.pem"), "is outside the site's directory", way},
		{"a TLS key outside, for nginx only", "tls.key_file", filepath.Join(elsewhere, "key.pem"), "", ""},
		{"a TLS key in .ssh", "tls.key_file", "keys/id_ed25519", "is in a .ssh directory", way},
		{"a password file holding an SSH key", "mail.smtp.password_file", "id_ed25519", "holds a PEM block", "put the password alone in a file of its own"},
		{"a password file holding an age identity", "mail.imap.password_file", "age.pw", "holds an age identity", "put the password alone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var content string
			switch tc.key {
			case "mail.smtp.password_file":
				content = "version: 1\nmail:\n  smtp:\n    host: smtp.attacker.example\n    user: me\n    password_file: " + tc.file + "\n"
			case "mail.imap.password_file":
				content = "version: 1\nmail:\n  imap:\n    host: imap.example\n    user: me\n    password_file: " + tc.file + "\n"
			case "tls.acme.account_key_file":
				content = "version: 1\nurl: https://t.example\ntls:\n  mode: acme\n  acme:\n    email: a@example.org\n    account_key_file: " + tc.file + "\n"
			case "tls.key_file":
				write(filepath.Join(site, "cert.pem"), "")
				content = "version: 1\nurl: https://t.example\ntls:\n  mode: files\n  certificate_file: cert.pem\n  key_file: " + tc.file + "\n"
			}
			l, err := Parse(filepath.Join(site, FileName), []byte(content))
			if err != nil {
				t.Fatal(err)
			}
			err = l.CheckFiles()
			if tc.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *Error
			if !errors.As(err, &se) || len(se.Problems) != 1 {
				t.Fatalf("CheckFiles: %v; want one problem", err)
			}
			p := se.Problems[0]
			if p.Key != tc.key || p.Line != strings.Count(content, "\n") || !strings.Contains(p.Message, tc.msg) || !strings.Contains(p.Message, tc.file) || !strings.HasPrefix(p.Fix, tc.fix) {
				t.Errorf("problem %+v; want it at %s, line %d, saying %q of %s, fix %q", p, tc.key, strings.Count(content, "\n"), tc.msg, tc.file, tc.fix)
			}
			if !strings.HasPrefix(tc.key, "mail.") {
				return
			}
			// What reads the password refuses it alike, naming the key.
			_, err = l.Secrets()
			if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.key+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Secrets(): %v", err)
			}
			if tc.key == "mail.smtp.password_file" {
				if s, _, err := l.SMTP(); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.key+": ") || s.PasswordFile != "" {
					t.Errorf("SMTP(): %+v, %v", s, err)
				}
			}
		})
	}
}

// TestInstanceOf: the instance alone is read from a file that may have other
// problems; one that cannot be read is refused with its line.
func TestInstanceOf(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want, err  string
	}{
		{name: "no file", want: ""},
		{name: "no key", file: "version: 1\nlisten: 127.0.0.1:8080\n"},
		{name: "named", file: "version: 1\ninstance: team2\n", want: "team2"},
		{name: "other problems", file: "version: 1\nresources:\n  db_memory: lots\ninstance: team2\ncolour: red\n", want: "team2"},
		{name: "upper case", file: "version: 1\ninstance: Team2\n", err: `:2: instance: "Team2" cannot name an instance`},
		{name: "not a string", file: "version: 1\ninstance: [a, b]\n", err: ":2: instance: "},
		{name: "a number", file: "version: 1\ninstance: 42\n", err: `:2: instance: "42" cannot name an instance`},
		{name: "not YAML", file: "version: 1\ninstance: [\n", err: "not YAML"},
		{name: "a list", file: "- instance: team2\n"},
		{name: "null", file: "version: 1\ninstance:\n"},
		{name: "twice", file: "version: 1\ninstance: team2\ninstance: team3\n", err: ":3: instance: given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if tc.file != "" {
				if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := InstanceOf(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, errs.ErrInvalidInput) {
					t.Fatalf("InstanceOf = %q, %v; want an invalid-input error holding %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("InstanceOf = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
