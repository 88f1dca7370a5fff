package settings

import (
	"cmp"
	"net/url"
	"slices"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/schedule"
)

// NotApplied refuses what this stackctl checks but cannot apply yet, naming
// the line of each (an *Error): any mail setting. up runs it, so that a
// setting is never silently ignored.
func (l Loaded) NotApplied() error {
	var ps problems
	if l.Mail.SMTP != (SMTP{}) || l.Mail.IMAP != (IMAP{}) {
		ps.add(l.lines["mail"], "mail", "mail is not applied yet by this version", "remove the mail section")
	}
	return ps.err(l.Path)
}

// Catalog is what the settings change in the stacks, for the runner.
func (l Loaded) Catalog() catalog.Site {
	s := catalog.Site{Memory: map[string]string{}, AppSettings: map[string]string{}}
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
		"mail_from":        l.Redmine.EmissionEmail,
	} {
		if v != "" {
			s.AppSettings[name] = v
		}
	}
	return s
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
// sender is redmine.emission_email, else mail.smtp.from.
func (l Loaded) SMTP() (s schedule.SMTP, ok bool) {
	m := l.Mail.SMTP
	if m.Host == "" {
		return schedule.SMTP{}, false
	}
	return schedule.SMTP{
		Host: m.Host, Port: m.Port, Security: cmp.Or(m.Security, "starttls"),
		User: m.User, PasswordFile: l.filePath(m.PasswordFile),
		From: cmp.Or(l.Redmine.EmissionEmail, m.From),
	}, true
}
