package catalog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestRedmineMail: the Redmine stack has mail; the site's mail reaches the
// interpolation environment, its passwords as secret variables that are set
// (empty) even without mail, and the Ruby files read the variables the model
// sets.
func TestRedmineMail(t *testing.T) {
	st, _ := LookupStack("redmine")
	if st.MailIn == nil || st.MailTest == nil || len(st.ProvidedSecrets) != 2 {
		t.Fatalf("redmine: MailIn %v, MailTest %v, ProvidedSecrets %v: want mail in, a mail test and both passwords", st.MailIn, st.MailTest, st.ProvidedSecrets)
	}
	env, err := st.Env(Settings{Profile: ProfileDebian})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.ProvidedSecrets {
		if v, ok := env[s.EnvVar()]; !ok || v != "" {
			t.Errorf("without mail, %s = %q (set %v), want set and empty: compose refuses an unset secret variable", s.EnvVar(), v, ok)
		}
	}
	if _, ok := env["STACKCTL_SMTP_HOST"]; ok {
		t.Error("without mail, STACKCTL_SMTP_HOST is set")
	}
	site := Overrides{
		Mail: Mail{
			SMTP: &SMTP{Host: "smtp.example.org", Port: 587, Security: "starttls", User: "me"},
			IMAP: &IMAP{Host: "imap.example.org", Port: 993, Security: "tls", User: "me", Folder: "INBOX", IntervalSeconds: 300, UnknownUser: "ignore"},
		},
		Secrets: map[string]string{SMTPPassword: "s3cret", IMAPPassword: "other"},
	}
	env, err = st.Env(Settings{Profile: ProfileDebian, Overrides: site})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"STACKCTL_SMTP_HOST": "smtp.example.org", "STACKCTL_SMTP_PORT": "587", "STACKCTL_SMTP_SECURITY": "starttls",
		"STACKCTL_IMAP_INTERVAL": "300", "STACKCTL_IMAP_FOLDER": "INBOX", "STACKCTL_SECRET_SMTP_PASSWORD": "s3cret",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	if _, ok := env["STACKCTL_IMAP_PROJECT"]; ok {
		t.Error("STACKCTL_IMAP_PROJECT set with no project")
	}
	// What the model sets, the image's Ruby reads.
	svc := st.Model().Services["redmine"]
	for _, f := range []string{"configuration.yml", "stackctl_mail_in.rb", "puma.rb"} {
		b, err := os.ReadFile(filepath.Join(checkout, "stacks", "redmine", "config", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"SMTP_HOST", "SMTP_PASSWORD_FILE", "IMAP_HOST", "IMAP_INTERVAL", "IMAP_PASSWORD_FILE", "MAIL_IN_TABLE", "MAIL_IN_LOCK_KEY"} {
			if strings.Contains(string(b), `"`+name+`"`) {
				if _, ok := svc.Environment[name]; !ok {
					t.Errorf("%s reads %s, which the model does not set", f, name)
				}
			}
		}
	}
}

// TestConfigHashCountsProvidedSecrets: a changed mail password changes the
// hash (up hands Redmine over); without one, secrets do not count, so that
// no container changes for stackctl counting them.
func TestConfigHashCountsProvidedSecrets(t *testing.T) {
	st, _ := LookupStack("redmine")
	hash := func(secrets map[string]string) string {
		p := st.Model()
		p.Environment = types.Mapping{}
		for name, v := range secrets {
			p.Environment[Secret{Name: name}.EnvVar()] = v
		}
		return ConfigHash(p.Services["redmine"], p)
	}
	none := hash(map[string]string{"secret_key_base": "k", "db_password": "d"})
	if got := hash(map[string]string{"secret_key_base": "k2", "db_password": "d"}); got != none {
		t.Error("a generated secret alone changed the hash")
	}
	one := hash(map[string]string{"secret_key_base": "k", "db_password": "d", SMTPPassword: "a"})
	two := hash(map[string]string{"secret_key_base": "k", "db_password": "d", SMTPPassword: "b"})
	if one == none || one == two {
		t.Error("the SMTP password does not count in the hash")
	}
}
