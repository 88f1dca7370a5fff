package offsite

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
)

// TestParseLocation splits archive locations into target and name, and
// ArchiveLocation puts them back together as ParseLocation reads them.
func TestParseLocation(t *testing.T) {
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	const name = "redmine-20261123T060000Z.tar.zst"
	for _, tc := range []struct {
		test, target string
		location     string // ArchiveLocation(target, name)
		shown        string // the target's String(); empty for a local file, which has none
		dir          string // for an SFTP target: the directory on the server
	}{
		{"local directory", "/srv/backups", "/srv/backups/" + name, "", ""},
		{"relative directory", "backups", filepath.Join(wd, "backups", name), "", ""},
		{"sftp absolute", "sftp://backup@host.example:2222/srv/backups?identity=/k&known-hosts=/kh",
			"sftp://backup@host.example:2222/srv/backups/" + name + "?identity=/k&known-hosts=/kh", "sftp://backup@host.example:2222/srv/backups", "/srv/backups"},
		{"sftp login directory", "sftp://backup@host.example", "sftp://backup@host.example/~/" + name, "sftp://backup@host.example/~", "."},
		{"sftp under the login directory", "sftp://backup@host.example/~/b", "sftp://backup@host.example/~/b/" + name, "sftp://backup@host.example/~/b", "b"},
		{"sftp root", "sftp://backup@host.example/", "sftp://backup@host.example/" + name, "sftp://backup@host.example/", "/"},
		{"sftp path with a space", "sftp://backup@host.example/srv/my%20backups", "sftp://backup@host.example/srv/my%20backups/" + name, "sftp://backup@host.example/srv/my%20backups", "/srv/my backups"},
		{"s3 prefix", "s3://bucket/stackctl/prod?endpoint=http://127.0.0.1:7070&path-style=true",
			"s3://bucket/stackctl/prod/" + name + "?endpoint=http://127.0.0.1:7070&path-style=true", "s3://bucket/stackctl/prod", ""},
		{"s3 bucket alone", "s3://bucket", "s3://bucket/" + name, "s3://bucket/", ""},
	} {
		t.Run(tc.test, func(t *testing.T) {
			location := ArchiveLocation(tc.target, name)
			if location != tc.location {
				t.Fatalf("ArchiveLocation(%q) = %q, want %q", tc.target, location, tc.location)
			}
			l, err := ParseLocation(location)
			if err != nil {
				t.Fatal(err)
			}
			shown := ""
			if l.Target != nil {
				shown = l.Target.String()
			}
			if l.Name != name || shown != tc.shown {
				t.Fatalf("ParseLocation(%q) = %q, %q; want %q, %q", location, shown, l.Name, tc.shown, name)
			}
			if tc.dir != "" && l.Target.(*dirTarget).dir != tc.dir {
				t.Errorf("directory on the server %q, want %q", l.Target.(*dirTarget).dir, tc.dir)
			}
			// For messages: the location without its options.
			if want, _, _ := strings.Cut(tc.location, "?"); l.String() != want {
				t.Errorf("String() = %q, want %q", l.String(), want)
			}
		})
	}
}

func TestParseLocationRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		says      string
		secret    string
	}{
		{"nothing", "", "no archive given", ""},
		{"no archive name", "s3://bucket/prefix", "does not end in an archive's name", ""},
		{"not an archive's name", "sftp://backup@host/srv/notes.txt", "does not end in an archive's name", ""},
		{"sftp password", "sftp://backup:hunter2@host/srv/redmine-20261123T060000Z.tar.zst", "holds a password", "hunter2"},
		{"s3 credentials", "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/redmine-20261123T060000Z.tar.zst", "holds credentials", "wJalrXUtnFEMI"},
		{"unknown scheme", "ftp://host/redmine-20261123T060000Z.tar.zst", `unknown scheme "ftp"`, ""},
		{"unknown option", "s3://bucket/redmine-20261123T060000Z.tar.zst?secret-key=wJalrXUtnFEMI", `unknown option "secret-key"`, "wJalrXUtnFEMI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLocation(tc.raw)
			if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("ParseLocation(%q) = %v, want errs.ErrInvalidInput saying %q", tc.raw, err, tc.says)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("message %q shows the secret", err)
			}
		})
	}
}

// TestLocalLocation opens a local file of any name, and says when there is none.
func TestLocalLocation(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "copy of a backup.tar.zst")
	if err := os.WriteFile(file, []byte("archive bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := ParseLocation(file)
	if err != nil {
		t.Fatal(err)
	}
	if l.String() != file || l.Name != filepath.Base(file) || l.Check(ctx) != nil {
		t.Fatalf("location %q named %q", l, l.Name)
	}
	r, err := l.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r)
	r.Close()
	if string(data) != "archive bytes" || r.Size() != int64(len(data)) {
		t.Fatalf("read %q, size %d", data, r.Size())
	}
	missing, _ := ParseLocation(file + ".missing")
	if _, err := missing.Open(ctx); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("opening a missing file: %v, want errs.ErrNotFound", err)
	}
}

func TestLocalDir(t *testing.T) {
	for _, tc := range []struct {
		raw, dir string
		ok       bool
	}{
		{"/srv/backups", "/srv/backups", true},
		{"sftp://backup@host/srv/backups", "", false},
		{"s3://bucket/p", "", false},
	} {
		target, err := Parse(tc.raw)
		if err != nil {
			t.Fatal(err)
		}
		if dir, ok := LocalDir(target); dir != tc.dir || ok != tc.ok {
			t.Errorf("LocalDir(%s) = %q, %v; want %q, %v", tc.raw, dir, ok, tc.dir, tc.ok)
		}
	}
}
