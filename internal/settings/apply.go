package settings

import (
	"cmp"
	"fmt"
	"net/url"

	"github.com/stackctl/stackctl/internal/catalog"
)

// NotApplied refuses what this stackctl checks but cannot apply yet, naming
// the line of each (an *Error): a TLS mode other than off, and any mail
// setting. up runs it, so that a setting is never silently ignored.
func (l Loaded) NotApplied() error {
	var ps problems
	if m := cmp.Or(l.TLS.Mode, "off"); m != "off" {
		ps.add(l.lines["tls.mode"], "tls.mode", fmt.Sprintf("mode %s: HTTPS at nginx is not applied yet by this version", m),
			"set tls.mode: off and an http url, or serve HTTPS from a proxy of your own in front of the stack")
	}
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
