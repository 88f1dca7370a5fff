package settings

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/schedule"
	"github.com/stackctl/stackctl/internal/state"
)

// Overrides is what the settings change in the stacks, for the runner.
func (l Loaded) Overrides() catalog.Overrides {
	s := catalog.Overrides{Memory: map[string]string{}, AppSettings: map[string]string{}}
	for svc, v := range map[string]string{"redmine": l.Resources.RedmineMemory, "db": l.Resources.DBMemory, "nginx": l.Resources.NginxMemory} {
		if v != "" {
			s.Memory[svc] = v
		}
	}
	if w := l.Redmine.Puma.Workers; w != nil {
		n := *w
		s.PumaWorkers = &n
	}
	if l.Redmine.Puma.Threads != "" {
		s.PumaMinThreads, s.PumaMaxThreads, _ = parseThreads(l.Redmine.Puma.Threads) // checked by Parse
	}
	s.HTTPS, s.HTTPListen = l.HTTPS().On(), l.HTTPListen
	var host, scheme string
	if u, err := url.Parse(l.URL); err == nil && l.URL != "" {
		host, scheme = u.Host, u.Scheme
	}
	// Redmine's own setting names.
	for name, v := range map[string]string{
		"default_language": l.Redmine.Language,
		"host_name":        cmp.Or(l.Redmine.HostName, host),
		"protocol":         cmp.Or(l.Redmine.Protocol, scheme),
		"mail_from":        cmp.Or(l.Redmine.EmissionEmail, l.Mail.SMTP.From),
	} {
		if v != "" {
			s.AppSettings[name] = v
		}
	}
	s.Mail = l.mail()
	return s
}

// mail is the mail settings with every default resolved.
func (l Loaded) mail() catalog.Mail {
	var m catalog.Mail
	if s := l.Mail.SMTP; s != (SMTP{}) {
		sec := cmp.Or(s.Security, "starttls")
		m.SMTP = &catalog.SMTP{Host: s.Host, Port: cmp.Or(s.Port, smtpPorts[sec]), Security: sec, User: s.User}
	}
	if i := l.Mail.IMAP; i != (IMAP{}) {
		sec := cmp.Or(i.Security, "tls")
		port := 143
		if sec == "tls" {
			port = 993
		}
		interval, _ := time.ParseDuration(cmp.Or(i.Interval, defaultInterval)) // checked by Parse
		m.IMAP = &catalog.IMAP{
			Host: i.Host, Port: cmp.Or(i.Port, port), Security: sec, User: i.User,
			Folder: cmp.Or(i.Folder, defaultImapF), IntervalSeconds: int(interval / time.Second),
			Project: i.Project, UnknownUser: cmp.Or(i.UnknownUser, "ignore"),
		}
	}
	return m
}

// smtpPorts are SMTP's ports by security: submission, submissions, SMTP.
var smtpPorts = map[string]int{"starttls": 587, "tls": 465, "none": 25}

// Secrets reads the secrets the settings name, by the stack's names for
// them (catalog.SMTPPassword, catalog.IMAPPassword): each file's first line,
// once the file is found where a settings file may name it (secretFile).
// CheckFiles says first what is wrong with a file, with its line.
func (l Loaded) Secrets() (map[string]string, error) {
	names := map[string]string{"mail.smtp.password_file": catalog.SMTPPassword, "mail.imap.password_file": catalog.IMAPPassword}
	out := map[string]string{}
	for _, f := range l.files() {
		name, ok := names[f.key]
		if !ok || f.path == "" {
			continue
		}
		v, err := l.readPassword(f)
		if err != nil {
			return nil, fmt.Errorf("reading %s's %s: %w", l.Path, name, err)
		}
		out[name] = v
	}
	return out, nil
}

// readPassword is the first line of the password file f names, as the
// settings say, once secretFile finds the file fit.
func (l Loaded) readPassword(f fileKey) (string, error) {
	path, err := l.secretFile(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.key, err)
	}
	v, err := state.ReadSecretFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", f.key, err)
	}
	v, _, _ = strings.Cut(v, "\n")
	return v, nil
}

// HTTPS is what the settings say of HTTPS at nginx; the runner sets where
// its keys and certificates are kept (Dir).
func (l Loaded) HTTPS() https.Config {
	t := l.TLS
	c := https.Config{
		Mode:            cmp.Or(t.Mode, https.ModeOff),
		CertificateFile: l.filePath(t.CertificateFile),
		KeyFile:         l.filePath(t.KeyFile),
		ACME: https.ACME{
			Email: t.ACME.Email, Directory: t.ACME.Directory,
			AccountKeyFile: l.filePath(t.ACME.AccountKeyFile), CAFile: l.filePath(t.ACME.CAFile),
		},
	}
	if u, err := url.Parse(l.URL); err == nil && l.URL != "" && u.Scheme == "https" {
		c.Names = append(c.Names, u.Hostname())
		c.Origin = "https://" + u.Host
	}
	for _, n := range t.Names {
		if !slices.Contains(c.Names, n) {
			c.Names = append(c.Names, n)
		}
	}
	return c
}

// SMTP is the server of mail.smtp, for the mail stackctl sends itself (the
// report of a failed scheduled backup); ok is false when none is set. The
// sender is redmine.emission_email, else mail.smtp.from. The password file
// is checked as Secrets checks it, and given with its links resolved.
func (l Loaded) SMTP() (s schedule.SMTP, ok bool, err error) {
	m := l.Mail.SMTP
	if m.Host == "" {
		return schedule.SMTP{}, false, nil
	}
	s = schedule.SMTP{
		Host: m.Host, Port: m.Port, Security: cmp.Or(m.Security, "starttls"),
		User: m.User, From: cmp.Or(l.Redmine.EmissionEmail, m.From),
	}
	if m.PasswordFile != "" {
		f := l.file("mail.smtp.password_file")
		if s.PasswordFile, err = l.secretFile(f); err != nil {
			return schedule.SMTP{}, true, fmt.Errorf("%s: %w", f.key, err)
		}
	}
	return s, true, nil
}
