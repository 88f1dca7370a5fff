package settings

// The types below are the schema of stackctl.yaml. Their doc comments are its
// documentation: docs/reference/settings.md and the file 'stackctl init'
// writes are generated from them (see docs.go), so each says what the field
// takes, its default, and what 'stackctl up' does with it today. A field
// doc starts with the Go name and "is" or "are", which the generated text
// leaves out; the example tag is the value the init template shows.

// File is the whole of stackctl.yaml.
type File struct {
	// Version is the format of this file, 1. Required: stackctl refuses a file
	// of a newer version than it reads, rather than ignore settings it does
	// not know.
	Version int `yaml:"version" example:"1"`
	// Instance is the name this site's stacks run under on the engine, so
	// that two sites on one host run two trackers side by side: their
	// containers, volumes, networks and image tags named apart
	// (stackctl-redmine-NAME), their recorded state, secrets and default
	// backup directory under the state directory's instances/NAME, no
	// command of one touching the other's. Lower-case letters, digits and
	// dashes, at most 31. --instance or STACKCTL_INSTANCE, when given, wins
	// over it. Default: none, the names stackctl has always used
	// (stackctl-redmine), so a site that sets none keeps its stacks; setting
	// it on a site whose stack already runs starts a new, empty tracker
	// beside that one.
	Instance string `yaml:"instance" example:"tracker2"`
	// URL is the address users open Redmine at: scheme, host and, when not the
	// scheme's default, port (https://tracker.example.org). It must be https
	// when tls.mode is not off; with tls.mode off it may be https too, when a
	// proxy of yours in front of stackctl ends TLS and passes plain HTTP on
	// (set X-Forwarded-Proto there). up sets Redmine's host
	// name and protocol settings from it (redmine.host_name and
	// redmine.protocol override each). Default: none, and then up leaves
	// those two Redmine settings as they are.
	URL string `yaml:"url" example:"https://tracker.example.org"`
	// Listen is the host address:port the stack is published on: plain HTTP
	// with tls.mode off, HTTPS otherwise. Default: what the stack was last
	// published on, else 127.0.0.1:8080. up's --listen, when given, wins
	// over it (flag, then this file, then the address recorded by the last
	// up, then 127.0.0.1:8080).
	Listen string `yaml:"listen" example:"127.0.0.1:8080"`
	// HTTPListen is the host address:port plain HTTP is published on when
	// tls.mode is not off: it answers 301 to https, except ACME's challenges
	// and the health check. Refused with tls.mode off, where listen is plain
	// HTTP. Default: listen's host, port 80.
	HTTPListen string `yaml:"http_listen" example:"0.0.0.0:80"`
	// TLS is HTTPS at nginx (docs/https.md): up puts the certificate and
	// nginx's HTTPS configuration in place, and renews a certificate it
	// made or had issued; stackctl renew does that alone, for a timer.
	TLS TLS `yaml:"tls"`
	// Mail is Redmine's outgoing (SMTP) and incoming (IMAP) mail
	// (docs/mail.md). up writes it into Redmine's configuration, the
	// passwords as secret files, and a change hands Redmine over to a new
	// container without an outage. Default: no mail.
	Mail Mail `yaml:"mail"`
	// Redmine are the Redmine settings up sets, and how Puma runs Redmine.
	Redmine Redmine `yaml:"redmine"`
	// Resources are the memory limits of the stack's containers.
	Resources Resources `yaml:"resources"`
}

// TLS is HTTPS at nginx.
type TLS struct {
	// Mode is how nginx serves HTTPS: off (plain HTTP), files (the
	// certificate_file and key_file below), self-signed (a certificate
	// stackctl generates, for a LAN) or acme (issued and renewed by an ACME
	// CA such as Let's Encrypt, through HTTP-01 on http_listen). Default:
	// off. Modes self-signed and acme need a host name: url's, or tls.names.
	Mode string `yaml:"mode" example:"off"`
	// CertificateFile is the PEM certificate chain nginx serves in mode
	// files, the server's certificate first. Required in mode files, refused
	// in any other. A relative path is taken from the site's directory.
	CertificateFile string `yaml:"certificate_file" example:"/etc/ssl/tracker/fullchain.pem"`
	// KeyFile is the PEM private key of certificate_file, in mode files. A
	// secret: it must be a regular file of yours with mode 0600 or stricter,
	// not in an .ssh or .gnupg directory (checked by up and validate).
	// Required in mode files, refused in any other. A relative path is taken
	// from the site's directory.
	KeyFile string `yaml:"key_file" example:"/etc/ssl/tracker/privkey.pem"`
	// Names are host names the certificate covers beside url's host, such as
	// www.tracker.example.org. Each is a DNS name.
	Names []string `yaml:"names" example:"[www.tracker.example.org]"`
	// ACME is the ACME CA of mode acme. Required in mode acme, refused in any
	// other.
	ACME ACME `yaml:"acme"`
}

// ACME is the account and CA that issue the certificate in mode acme.
type ACME struct {
	// Email is the ACME account's contact, whom the CA writes to about
	// expiring certificates. Required in mode acme.
	Email string `yaml:"email" example:"admin@example.org"`
	// Directory is the https URL of the CA's ACME directory. Default: Let's
	// Encrypt's, https://acme-v02.api.letsencrypt.org/directory.
	Directory string `yaml:"directory" example:"https://acme-v02.api.letsencrypt.org/directory"`
	// AccountKeyFile is the PEM private key of an existing ACME account. A
	// secret: a regular file of yours with mode 0600 or stricter, in the
	// site's directory or /etc/stackctl (docs/settings.md). Default:
	// none, for a new account whose key stackctl makes (ECDSA P-256) and
	// keeps, mode 0600, in the state directory.
	AccountKeyFile string `yaml:"account_key_file" example:"/etc/stackctl/acme-account.pem"`
	// CAFile is a PEM file of CA certificates stackctl trusts, beside the
	// system's, for the ACME directory's own HTTPS: a private or test CA
	// (Pebble's). It changes nothing nginx serves. A relative path is taken
	// from the site's directory. Default: none, the system's CAs alone.
	CAFile string `yaml:"ca_file" example:"/etc/stackctl/acme-ca.pem"`
}

// Mail is Redmine's mail in and out.
type Mail struct {
	// SMTP is the server Redmine sends notifications through.
	SMTP SMTP `yaml:"smtp"`
	// IMAP is a mailbox Redmine polls, making an issue of each new mail.
	IMAP IMAP `yaml:"imap"`
}

// SMTP is outgoing mail.
type SMTP struct {
	// Host is the SMTP server's host name or address. Required when any smtp
	// setting is given.
	Host string `yaml:"host" example:"smtp.example.org"`
	// Port is the SMTP server's port, 1-65535. Default: by security, 587 for
	// starttls, 465 for tls, 25 for none.
	Port int `yaml:"port" example:"587"`
	// Security is how the connection is protected: starttls (upgraded after
	// connecting), tls (TLS from the start) or none. Default: starttls.
	Security string `yaml:"security" example:"starttls"`
	// User is the login on the SMTP server (AUTH PLAIN). Default: none, no
	// authentication; a user needs password_file.
	User string `yaml:"user" example:"redmine@example.org"`
	// PasswordFile is the file holding the SMTP password, alone on its first
	// line. A secret: a regular file of yours with mode 0600 or stricter, in
	// the site's directory or /etc/stackctl, and no key (docs/settings.md).
	// Required with user. A relative path is taken from the site's directory.
	PasswordFile string `yaml:"password_file" example:"/etc/stackctl/smtp-password"`
	// From is the address mails are sent from, when redmine.emission_email
	// does not say; up sets Redmine's emission email setting to it. Default:
	// redmine.emission_email, else Redmine's own (redmine@example.net).
	From string `yaml:"from" example:"redmine@example.org"`
}

// IMAP is incoming mail.
type IMAP struct {
	// Host is the IMAP server's host name or address. Required when any imap
	// setting is given.
	Host string `yaml:"host" example:"imap.example.org"`
	// Port is the IMAP server's port, 1-65535. Default: 993 for tls, 143
	// otherwise.
	Port int `yaml:"port" example:"993"`
	// Security is how the connection is protected: starttls, tls or none.
	// Default: tls.
	Security string `yaml:"security" example:"tls"`
	// User is the login on the IMAP server. Required when any imap setting is
	// given.
	User string `yaml:"user" example:"redmine@example.org"`
	// PasswordFile is the file holding the IMAP password, alone on its first
	// line. A secret: a regular file of yours with mode 0600 or stricter, in
	// the site's directory or /etc/stackctl, and no key (docs/settings.md).
	// Required when any imap setting is given. A relative path is taken from
	// the site's directory.
	PasswordFile string `yaml:"password_file" example:"/etc/stackctl/imap-password"`
	// Folder is the mailbox folder polled. Default: INBOX.
	Folder string `yaml:"folder" example:"INBOX"`
	// Interval is how often the folder is polled, a Go duration of at least
	// 1m (5m, 1h30m). Default: 5m.
	Interval string `yaml:"interval" example:"5m"`
	// Project is the identifier of the project a mail goes to when its body
	// names none (a "Project: identifier" line). Default: none, and a mail
	// naming no project is refused (and left unread, flagged seen).
	Project string `yaml:"project" example:"support"`
	// UnknownUser is what a mail from an address no Redmine user has does:
	// ignore (left in the folder, seen), accept (its issue made by the
	// anonymous user, where the project lets anonymous users add issues) or
	// create (a user is made for the sender). Default: ignore.
	UnknownUser string `yaml:"unknown_user" example:"ignore"`
}

// Redmine is what up sets in Redmine.
type Redmine struct {
	// Language is Redmine's default language (Administration, Settings,
	// Display), one of the locales Redmine 6 ships (en, de, fr, pt-BR, ...).
	// up sets it on every run, and a stack's first start loads Redmine's
	// default configuration (trackers, statuses, roles) in it. Default: none,
	// and then up leaves the setting as it is (Redmine's own default is en).
	Language string `yaml:"language" example:"en"`
	// HostName is Redmine's host name setting, host or host:port, which its
	// mails link to. up sets it on every run. Default: url's host and port.
	HostName string `yaml:"host_name" example:"tracker.example.org"`
	// Protocol is Redmine's protocol setting, http or https, which its mails
	// link with. up sets it on every run. Default: url's scheme.
	Protocol string `yaml:"protocol" example:"https"`
	// EmissionEmail is the From address of Redmine's notifications (its
	// emission email setting). up sets it on every run. Default: none, and
	// then up leaves the setting as it is.
	EmissionEmail string `yaml:"emission_email" example:"redmine@example.org"`
	// Puma is how many processes and threads serve Redmine.
	Puma Puma `yaml:"puma"`
}

// Puma sizes Redmine's application server.
type Puma struct {
	// Workers is the number of Puma worker processes, 0-16; 0 is single mode,
	// one process. With workers, Redmine is loaded once and the workers forked
	// from it (preload). At most 16: with their threads they must stay within
	// the Redmine container's limit of 256 processes and threads. Each worker
	// takes its share of resources.redmine_memory. Default: the number of CPUs
	// of the engine's host, as many as fit in Redmine's memory limit (200 MiB
	// for the master, 300 MiB a worker: 2 in the default 1g), at least 1. A
	// change hands Redmine over to a new container without an outage.
	Workers *int `yaml:"workers" example:"2"`
	// Threads are the threads of each process: a number (5), or min,max
	// (1,5); at most 5, the database connections each Redmine process has
	// (its database.yml names no pool). Default: 0,5. A change hands Redmine
	// over to a new container without an outage.
	Threads string `yaml:"threads" example:"5"`
}

// Resources are memory limits, each a number with a unit of b, k, m or g
// (512m, 1g, 1.5g), at least 6m (the engine's smallest). A change takes a
// new container: in the Redmine stack, Redmine and nginx are handed over to
// theirs without an outage, while the database is recreated, which Redmine
// waits for.
type Resources struct {
	// RedmineMemory is the memory limit of the Redmine container. Default: 1g.
	RedmineMemory string `yaml:"redmine_memory" example:"1g"`
	// DBMemory is the memory limit of the PostgreSQL container. Default: 1g.
	DBMemory string `yaml:"db_memory" example:"1g"`
	// NginxMemory is the memory limit of the nginx container. Default: 128m.
	NginxMemory string `yaml:"nginx_memory" example:"128m"`
}
