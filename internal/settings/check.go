package settings

import (
	"cmp"
	_ "embed"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/stackctl/stackctl/internal/catalog"
)

// Allowed values, in the order messages list them.
var (
	tlsModes        = []string{"off", "files", "self-signed", "acme"}
	securities      = []string{"starttls", "tls", "none"}
	unknownUsers    = []string{"ignore", "accept", "create"}
	protocols       = []string{"http", "https"}
	memoryKeys      = []string{"resources.redmine_memory", "resources.db_memory", "resources.nginx_memory"}
	minMemory       = int64(6 << 20) // the engine refuses a smaller limit
	maxWorkers      = catalog.MaxPumaWorkers
	maxThreads      = 5 // ActiveRecord's pool when database.yml names none, as both Redmine images write it
	minInterval     = time.Minute
	defaultInterval = "5m"
	defaultACME     = "https://acme-v02.api.letsencrypt.org/directory"
	defaultImapF    = "INBOX"
)

//go:embed locales.txt
var localesTxt string

// locales are the languages Redmine 6 ships (locales.txt).
var locales = func() []string {
	var out []string
	for _, l := range strings.Split(localesTxt, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}()

// check checks the values and their consistency, once decoded.
// instanceFix says what an instance's name may hold (catalog.CheckInstance).
const instanceFix = "give lower-case letters, digits and dashes (at most 31, not starting with a dash), such as team2"

func (l Loaded) check(ps *problems) {
	at := func(key string) int { return l.lines[key] }
	bad := func(key, msg, fix string) { ps.add(at(key), key, msg, fix) }
	f := l.File

	switch {
	case at("version") == 0:
		ps.add(0, "", "no version", fmt.Sprintf("add 'version: %d' (docs/settings.md)", Version))
	case f.Version > Version:
		bad("version", fmt.Sprintf("version %d is newer than this stackctl reads (%d)", f.Version, Version), "install a newer stackctl")
	case f.Version < 1:
		bad("version", fmt.Sprintf("version %d", f.Version), fmt.Sprintf("want %d", Version))
	}

	if catalog.CheckInstance(f.Instance) != nil {
		bad("instance", fmt.Sprintf("%q cannot name an instance", f.Instance), instanceFix)
	}

	var scheme string
	if f.URL != "" {
		u, err := url.Parse(f.URL)
		switch {
		case err != nil || u.Host == "" || u.Hostname() == "":
			bad("url", fmt.Sprintf("%q is not an absolute URL", f.URL), "want scheme://host, e.g. https://tracker.example.org")
		case u.Scheme != "http" && u.Scheme != "https":
			bad("url", fmt.Sprintf("scheme %q", u.Scheme), "want http or https")
		case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
			bad("url", fmt.Sprintf("%q has more than scheme, host and port", f.URL),
				"stackctl serves Redmine at the root of its host: give scheme://host[:port] only")
		case hostPortProblem(u.Host) != "":
			bad("url", hostPortProblem(u.Host), "e.g. https://tracker.example.org")
		default:
			scheme = u.Scheme
		}
	}
	if f.Listen != "" {
		if _, _, err := catalog.SplitListen(f.Listen); err != nil {
			bad("listen", fmt.Sprintf("%q is not an address:port with a port of 1-65535", f.Listen), "e.g. 127.0.0.1:8080 or 0.0.0.0:80")
		}
	}
	if f.HTTPListen != "" {
		if _, _, err := catalog.SplitListen(f.HTTPListen); err != nil {
			bad("http_listen", fmt.Sprintf("%q is not an address:port with a port of 1-65535", f.HTTPListen), "e.g. 0.0.0.0:80")
		}
	}
	l.checkTLS(ps, scheme)
	l.checkMail(ps)
	l.checkRedmine(ps)
	for i, v := range []string{f.Resources.RedmineMemory, f.Resources.DBMemory, f.Resources.NginxMemory} {
		if v == "" {
			continue
		}
		n, err := units.RAMInBytes(v)
		switch {
		case err != nil:
			bad(memoryKeys[i], fmt.Sprintf("%q is not an amount of memory", v), "a number with a unit of b, k, m or g, e.g. 512m or 1g")
		case n < minMemory:
			bad(memoryKeys[i], fmt.Sprintf("%s is below the engine's smallest limit, 6m", v), "give at least 6m")
		}
	}
}

func (l Loaded) checkTLS(ps *problems, scheme string) {
	at := func(key string) int { return l.lines[key] }
	bad := func(key, msg, fix string) { ps.add(at(key), key, msg, fix) }
	t := l.TLS
	mode := cmp.Or(t.Mode, "off")
	if !slices.Contains(tlsModes, mode) {
		bad("tls.mode", fmt.Sprintf("%q is not a mode", t.Mode), "want one of "+strings.Join(tlsModes, ", "))
		return
	}
	// https with tls.mode off is a proxy of the operator's in front, ending TLS.
	switch {
	case scheme == "http" && mode != "off":
		bad("url", fmt.Sprintf("http, while tls.mode is %s", mode), "give an https URL, or set tls.mode: off")
	}
	if mode == "off" && l.HTTPListen != "" {
		bad("http_listen", "only a tls.mode other than off takes it: with off, listen is plain HTTP", "remove it, or set listen")
	}
	if (mode == "self-signed" || mode == "acme") && scheme == "" && len(t.Names) == 0 {
		ps.add(at("tls.mode"), "tls.names", "missing: mode "+mode+" needs a host name for the certificate", "set url: https://HOST, or tls.names")
	}
	files := map[string]string{"tls.certificate_file": t.CertificateFile, "tls.key_file": t.KeyFile}
	for _, k := range []string{"tls.certificate_file", "tls.key_file"} {
		switch {
		case mode == "files" && files[k] == "":
			ps.add(at("tls.mode"), k, "missing: mode files needs both tls.certificate_file and tls.key_file", "name the file")
		case mode != "files" && files[k] != "":
			bad(k, "only mode files takes it, and tls.mode is "+mode, "remove it, or set tls.mode: files")
		}
	}
	if mode == "acme" && t.ACME.Email == "" {
		ps.add(at("tls.mode"), "tls.acme.email", "missing: mode acme needs the ACME account's email", "add tls.acme.email")
	}
	if mode != "acme" && at("tls.acme") != 0 {
		bad("tls.acme", "only mode acme takes it, and tls.mode is "+mode, "remove it, or set tls.mode: acme")
	}
	if t.ACME.Email != "" && !isAddress(t.ACME.Email) {
		bad("tls.acme.email", fmt.Sprintf("%q is not an email address", t.ACME.Email), "want a bare address, e.g. admin@example.org")
	}
	if d := t.ACME.Directory; d != "" {
		if u, err := url.Parse(d); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("tls.acme.directory", fmt.Sprintf("%q is not an https URL", d), "e.g. "+defaultACME)
		}
	}
	for i, n := range t.Names {
		if !isDNSName(n) {
			k := fmt.Sprintf("tls.names[%d]", i)
			bad(k, fmt.Sprintf("%q is not a DNS name", n), "want letters, digits and hyphens in dot-separated labels, e.g. www.tracker.example.org")
		}
	}
}

func (l Loaded) checkMail(ps *problems) {
	at := func(key string) int { return l.lines[key] }
	bad := func(key, msg, fix string) { ps.add(at(key), key, msg, fix) }
	s, m := l.Mail.SMTP, l.Mail.IMAP
	if s != (SMTP{}) {
		if s.Host == "" {
			ps.add(at("mail.smtp"), "mail.smtp.host", "missing", "name the SMTP server")
		} else if !isHost(s.Host) {
			bad("mail.smtp.host", fmt.Sprintf("%q is not a host name or address", s.Host), "e.g. smtp.example.org")
		}
		checkPort(ps, at, "mail.smtp.port", s.Port)
		checkSecurity(ps, at, "mail.smtp.security", s.Security)
		switch {
		case s.User != "" && s.PasswordFile == "":
			ps.add(at("mail.smtp.user"), "mail.smtp.password_file", "missing: a user needs a password", "name the file holding it")
		case s.User == "" && s.PasswordFile != "":
			ps.add(at("mail.smtp.password_file"), "mail.smtp.user", "missing: a password needs a user", "add mail.smtp.user")
		}
		if s.From != "" && !isAddress(s.From) {
			bad("mail.smtp.from", fmt.Sprintf("%q is not an email address", s.From), "want a bare address, e.g. redmine@example.org")
		}
	}
	if m != (IMAP{}) {
		for i, v := range []string{m.Host, m.User, m.PasswordFile} {
			if v == "" {
				k := []string{"host", "user", "password_file"}[i]
				ps.add(at("mail.imap"), "mail.imap."+k, "missing: incoming mail needs host, user and password_file", "add it")
			}
		}
		if m.Host != "" && !isHost(m.Host) {
			bad("mail.imap.host", fmt.Sprintf("%q is not a host name or address", m.Host), "e.g. imap.example.org")
		}
		checkPort(ps, at, "mail.imap.port", m.Port)
		checkSecurity(ps, at, "mail.imap.security", m.Security)
		if at("mail.imap.folder") != 0 && strings.TrimSpace(m.Folder) == "" {
			bad("mail.imap.folder", "empty", "name the folder, e.g. "+defaultImapF)
		}
		if at("mail.imap.project") != 0 && !isProjectID(m.Project) {
			bad("mail.imap.project", fmt.Sprintf("%q is not a project identifier", m.Project), "want Redmine's identifier of the project (lowercase letters, digits, - and _, starting with a letter), e.g. support")
		}
		if m.UnknownUser != "" && !slices.Contains(unknownUsers, m.UnknownUser) {
			bad("mail.imap.unknown_user", fmt.Sprintf("%q is not a choice", m.UnknownUser), "want one of "+strings.Join(unknownUsers, ", "))
		}
		if m.Interval != "" {
			d, err := time.ParseDuration(m.Interval)
			switch {
			case err != nil:
				bad("mail.imap.interval", fmt.Sprintf("%q is not a duration", m.Interval), "e.g. 5m or 1h30m")
			case d < minInterval:
				bad("mail.imap.interval", fmt.Sprintf("%s is shorter than 1m", m.Interval), "poll at most once a minute")
			}
		}
	}
}

func checkPort(ps *problems, at func(string) int, key string, port int) {
	if at(key) != 0 && (port < 1 || port > 65535) {
		ps.add(at(key), key, fmt.Sprintf("port %d", port), "want 1-65535")
	}
}

func checkSecurity(ps *problems, at func(string) int, key, v string) {
	if v != "" && !slices.Contains(securities, v) {
		ps.add(at(key), key, fmt.Sprintf("%q is not a security", v), "want one of "+strings.Join(securities, ", "))
	}
}

func (l Loaded) checkRedmine(ps *problems) {
	at := func(key string) int { return l.lines[key] }
	bad := func(key, msg, fix string) { ps.add(at(key), key, msg, fix) }
	r := l.Redmine
	if r.Language != "" && !slices.Contains(locales, r.Language) {
		fix := "want one of Redmine 6's locales: " + strings.Join(locales, ", ")
		for _, loc := range locales {
			if strings.EqualFold(loc, r.Language) || strings.EqualFold(loc, strings.ReplaceAll(r.Language, "_", "-")) {
				fix = "did you mean " + loc + "?"
			}
		}
		bad("redmine.language", fmt.Sprintf("%q is not a language Redmine 6 ships", r.Language), fix)
	}
	if r.HostName != "" {
		if p := hostPortProblem(r.HostName); p != "" || strings.Contains(r.HostName, "/") {
			bad("redmine.host_name", fmt.Sprintf("%q is not host or host:port", r.HostName), "e.g. tracker.example.org or tracker.example.org:8443")
		}
	}
	if r.Protocol != "" && !slices.Contains(protocols, r.Protocol) {
		bad("redmine.protocol", fmt.Sprintf("%q is not a protocol", r.Protocol), "want http or https")
	}
	if r.EmissionEmail != "" && !isAddress(r.EmissionEmail) {
		bad("redmine.emission_email", fmt.Sprintf("%q is not an email address", r.EmissionEmail), "want a bare address, e.g. redmine@example.org")
	}
	if w := r.Puma.Workers; w != nil && (*w < 0 || *w > maxWorkers) {
		bad("redmine.puma.workers", fmt.Sprintf("%d workers", *w), fmt.Sprintf("want 0 (single mode) to %d", maxWorkers))
	}
	if r.Puma.Threads != "" {
		if _, _, err := parseThreads(r.Puma.Threads); err != nil {
			bad("redmine.puma.threads", err.Error(), fmt.Sprintf("want a number, or min,max, from 0 to %d with max at least 1, e.g. 5 or 1,5", maxThreads))
		}
	}
}

// parseThreads reads "n" or "min,max".
func parseThreads(s string) (lo, hi int, err error) {
	a, b, pair := strings.Cut(s, ",")
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi = lo
	var err2 error
	if pair {
		hi, err2 = strconv.Atoi(strings.TrimSpace(b))
	}
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("%q is not a number or min,max", s)
	case lo < 0 || hi < 1 || lo > hi:
		return 0, 0, fmt.Errorf("%q: min must be 0 or more and at most max, max at least 1", s)
	case hi > maxThreads:
		return 0, 0, fmt.Errorf("%q: more than %d threads, the database connections each Redmine process has", s, maxThreads)
	}
	return lo, hi, nil
}

// hostPortProblem says what is wrong with host or host:port, or "".
func hostPortProblem(hp string) string {
	host, port := hp, ""
	if h, p, err := net.SplitHostPort(hp); err == nil {
		host, port = h, p
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("port %q: want 1-65535", port)
		}
	}
	if !isHost(host) {
		return fmt.Sprintf("%q is not a host name or address", host)
	}
	return ""
}

func isHost(h string) bool { return net.ParseIP(strings.Trim(h, "[]")) != nil || isDNSName(h) }

// isDNSName accepts letters, digits and hyphens in dot-separated labels of at
// most 63 characters, not starting or ending with a hyphen.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isProjectID accepts a Redmine project identifier, as Redmine's Project
// model does: 1 to 100 of a-z, 0-9, - and _, not only digits, starting with a letter.
func isProjectID(s string) bool {
	return projectID.MatchString(s) && len(s) <= 100
}

var projectID = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// isAddress accepts a bare email address: no display name, no angle brackets.
func isAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}
