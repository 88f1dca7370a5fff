package catalog

import (
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
)

// Mail is an application's mail in and out, as the site's settings give it,
// every default resolved. Its zero value is no mail.
type Mail struct {
	SMTP *SMTP
	IMAP *IMAP
}

// SMTP is the server the application sends through.
type SMTP struct {
	Host string
	Port int
	// Security is starttls, tls or none.
	Security string
	// User is the login; "" for none. Its password is the SMTPPassword secret.
	User string
}

// IMAP is the folder the application polls for mails to make issues of.
type IMAP struct {
	Host string
	Port int
	// Security is starttls, tls or none.
	Security string
	// User is the login; its password is the IMAPPassword secret.
	User   string
	Folder string
	// IntervalSeconds is the time between two polls.
	IntervalSeconds int
	// Project is the identifier of the project a mail naming none goes to; "": none.
	Project string
	// UnknownUser is what a mail from an unknown sender does: ignore, accept or create.
	UnknownUser string
}

// The mail passwords are secrets the operator provides (files named by the
// site's settings), handed to the containers as the generated ones are.
var (
	secretSMTPPassword = Secret{Name: "smtp_password"}
	secretIMAPPassword = Secret{Name: "imap_password"}
)

// isProvided says whether the secret called name is one the operator provides.
func isProvided(name string) bool {
	return name == secretSMTPPassword.Name || name == secretIMAPPassword.Name
}

// SMTPPassword and IMAPPassword name the provided secrets (Site.Secrets' keys).
var (
	SMTPPassword = secretSMTPPassword.Name
	IMAPPassword = secretIMAPPassword.Name
)

// mailVar is one variable of the mail settings: its name in the Redmine
// container (read by stacks/redmine/configuration.yml and mail_in.rb) and the
// value it takes from Mail.
type mailVar struct {
	name  string
	value func(Mail) string
}

// mailVars are the Redmine container's mail variables, each interpolated from
// STACKCTL_<name>; empty, the part of mail they belong to is off.
var mailVars = []mailVar{
	{"SMTP_HOST", func(m Mail) string { return smtpField(m, func(s SMTP) string { return s.Host }) }},
	{"SMTP_PORT", func(m Mail) string { return smtpField(m, func(s SMTP) string { return strconv.Itoa(s.Port) }) }},
	{"SMTP_SECURITY", func(m Mail) string { return smtpField(m, func(s SMTP) string { return s.Security }) }},
	{"SMTP_USER", func(m Mail) string { return smtpField(m, func(s SMTP) string { return s.User }) }},
	{"IMAP_HOST", func(m Mail) string { return imapField(m, func(i IMAP) string { return i.Host }) }},
	{"IMAP_PORT", func(m Mail) string { return imapField(m, func(i IMAP) string { return strconv.Itoa(i.Port) }) }},
	{"IMAP_SECURITY", func(m Mail) string { return imapField(m, func(i IMAP) string { return i.Security }) }},
	{"IMAP_USER", func(m Mail) string { return imapField(m, func(i IMAP) string { return i.User }) }},
	{"IMAP_FOLDER", func(m Mail) string { return imapField(m, func(i IMAP) string { return i.Folder }) }},
	{"IMAP_INTERVAL", func(m Mail) string {
		return imapField(m, func(i IMAP) string { return strconv.Itoa(i.IntervalSeconds) })
	}},
	{"IMAP_PROJECT", func(m Mail) string { return imapField(m, func(i IMAP) string { return i.Project }) }},
	{"IMAP_UNKNOWN_USER", func(m Mail) string { return imapField(m, func(i IMAP) string { return i.UnknownUser }) }},
}

func smtpField(m Mail, f func(SMTP) string) string {
	if m.SMTP == nil {
		return ""
	}
	return f(*m.SMTP)
}

func imapField(m Mail, f func(IMAP) string) string {
	if m.IMAP == nil {
		return ""
	}
	return f(*m.IMAP)
}

// mailEnv is the Redmine container's mail environment: the settings as
// interpolated variables, and where the passwords' secrets are.
func mailEnv() types.MappingWithEquals {
	m := redmineMailIn
	env := types.MappingWithEquals{
		"SMTP_PASSWORD_FILE": ptr("/run/secrets/" + secretSMTPPassword.Name),
		"IMAP_PASSWORD_FILE": ptr("/run/secrets/" + secretIMAPPassword.Name),
		"MAIL_IN_TABLE":      ptr(m.Table),
		"MAIL_IN_LOCK_KEY":   ptr(strconv.FormatInt(m.LockKey, 10)),
	}
	for _, v := range mailVars {
		env[v.name] = ptr("${STACKCTL_" + v.name + ":-}")
	}
	return env
}

// MailIn is how an application polls a mailbox from every one of its
// containers while exactly one of them may: the one whose host name the
// stack's database holds in Table. stackctl writes it for the container that
// serves, and empties it (then waits for LockKey, which a poll holds) before
// anything copies the data or stops serving it, so that a mail is taken into
// the data that stays, once. A container started privately (a restore's, a
// test's) never polls: its data names another container.
type MailIn struct {
	// Table is stackctl's own table in the stack's database, one row, one
	// column (host): the host name of the container that may poll. Not a
	// row of the application's settings, which it would have to know.
	Table string
	// LockKey is the PostgreSQL advisory lock a poll holds.
	LockKey int64
}

// redmineMailIn: the key spells "stkm" in ASCII, to be recognisable in pg_locks.
var redmineMailIn = &MailIn{Table: "stackctl_mail_in", LockKey: 0x73746b6d}

// MailTest is the command that sends a test mail through the application's
// own mailer and configuration, run in the container that serves, with the
// address on its standard input. It fails with the mail server's own message.
type MailTest struct {
	Service string
	Command []string
}

// redmineMailTestScript sends Redmine's own test mail (Administration,
// Settings, Email notifications, "Send a test email") to an address that need
// not be a user's: the anonymous user's mail, with the address put in.
const redmineMailTestScript = `
addr = STDIN.read.strip
s = ActionMailer::Base.smtp_settings
unless Redmine::Configuration["email_delivery"] && ActionMailer::Base.delivery_method == :smtp
  abort "Redmine sends no mail: the site's settings have no mail.smtp (add it, then run 'stackctl up redmine')"
end
Mailer.raise_delivery_errors = true
mail = Mailer.test_email(User.anonymous)
mail.message.to = addr
begin
  mail.deliver_now
rescue StandardError, Timeout::Error => e
  abort "#{s[:address]}:#{s[:port]} did not take the mail: #{e.message.strip} (#{e.class})"
end
puts "sent Redmine's test mail to #{addr} through #{s[:address]}:#{s[:port]}"
`

var redmineMailTest = &MailTest{
	Service: "redmine",
	Command: []string{"/docker-entrypoint.sh", "rails", "runner", redmineMailTestScript},
}
