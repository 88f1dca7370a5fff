package offsite

import (
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
)

func TestParse(t *testing.T) {
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"local directory", "/var/backups/stackctl", "/var/backups/stackctl"},
		{"relative directory", "backups", filepath.Join(wd, "backups")},
		{"sftp", "sftp://backup@host.example/srv/backups", "sftp://backup@host.example/srv/backups"},
		{"sftp with port and options", "sftp://backup@host.example:2222/srv/backups?identity=/k&known-hosts=/kh", "sftp://backup@host.example:2222/srv/backups"},
		{"sftp pinned", "sftp://backup@[::1]:2222/b?host-key=SHA256:abc", "sftp://backup@[::1]:2222/b"},
		{"sftp under the login directory", "sftp://backup@host.example/~/backups", "sftp://backup@host.example/~/backups"},
		{"s3", "s3://bucket/stackctl/prod", "s3://bucket/stackctl/prod"},
		{"s3 with options", "s3://bucket/p?endpoint=http://127.0.0.1:7070&region=eu-west-1&path-style=true&profile=backup&credentials-file=/etc/s3", "s3://bucket/p"},
		{"s3 bucket alone", "s3://bucket", "s3://bucket/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, err := Parse(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := target.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		says      string // in the message
		secret    string // never in the message
	}{
		{"nothing", "", "no backup target", ""},
		{"unknown scheme", "ftp://host/backups", `unknown scheme "ftp"`, ""},
		{"sftp password", "sftp://backup:hunter2@host/backups", "holds a password", "hunter2"},
		{"sftp without user", "sftp://host/backups", "name the user", ""},
		{"sftp misspelt option", "sftp://backup@host/b?host_key=SHA256:abc", `unknown option "host_key"`, ""},
		{"sftp option twice", "sftp://backup@host/b?identity=/a&identity=/b", "given 2 times", ""},
		{"sftp md5 fingerprint", "sftp://backup@host/b?host-key=MD5:aa:bb", "not a SHA256 fingerprint", ""},
		{"s3 credentials in the URL", "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/p", "holds credentials", "wJalrXUtnFEMI"},
		{"s3 secret as an option", "s3://bucket/p?secret-key=wJalrXUtnFEMI", `unknown option "secret-key"`, "wJalrXUtnFEMI"},
		{"s3 without bucket", "s3:///p", "name the bucket", ""},
		{"s3 path-style not a boolean", "s3://bucket/p?path-style=maybe", "give true or false", ""},
		{"s3 endpoint not http", "s3://bucket/p?endpoint=ftp://host", "not an http:// or https:// URL", ""},
		{"s3 credentials in the endpoint", "s3://bucket/p?endpoint=" + url.QueryEscape("https://minio:wJalrXUtnFEMI@minio.example.org"), "the endpoint holds credentials", "wJalrXUtnFEMI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.raw)
			if !errors.Is(err, errs.ErrInvalidInput) {
				t.Fatalf("Parse(%q) = %v, want errs.ErrInvalidInput", tc.raw, err)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("message %q does not say %q", err, tc.says)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("message %q shows the secret", err)
			}
		})
	}
}

func TestPartialOf(t *testing.T) {
	for _, tc := range []struct {
		file, name string
		ok         bool
	}{
		{".redmine-20261123T010203Z.tar.zst.partial-0123abcd", "redmine-20261123T010203Z.tar.zst", true},
		{".redmine-20261123T010203Z.tar.zst.json.partial-1", "redmine-20261123T010203Z.tar.zst.json", true},
		{"redmine-20261123T010203Z.tar.zst", "", false},
		{".stackctl-backup.lock", "", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			name, ok := partialOf(tc.file)
			if name != tc.name || ok != tc.ok {
				t.Fatalf("partialOf(%q) = %q, %v; want %q, %v", tc.file, name, ok, tc.name, tc.ok)
			}
		})
	}
}
