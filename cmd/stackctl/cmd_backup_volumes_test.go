package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/offsite/offsitetest"
)

// archiveOn writes a small but real archive of stack redmine taken at taken
// to target, as backup-volumes streams one, and returns its name.
func archiveOn(t *testing.T, target offsite.Target, taken time.Time) string {
	t.Helper()
	ctx := context.Background()
	name := archive.FileName("redmine", taken, false)
	up, err := target.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Abort()
	w, err := archive.NewWriter(up, archive.Manifest{
		Format: archive.FormatVersion, Stack: "redmine", Profile: "debian", RedmineVersion: "6.0.5", PostgresVersion: "17.11", Created: taken,
		Entries: []archive.Entry{{Name: "db-data.pgdump", Kind: archive.KindPostgres, Volume: "db-data"}},
	}, testSigner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add("db-data.pgdump", strings.NewReader("PGDMP, of "+taken.String())); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestBackupTargetRefusals: what backup-volumes, verify-backup and
// restore-volumes refuse before any engine, stack or server is asked, and why.
func TestBackupTargetRefusals(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	archiveURL := "/redmine-20261123T060000Z.tar.zst"
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		says   string
		secret string
	}{
		{"negative --keep", []string{"backup-volumes", "--keep", "-1"}, exitInvalid, "--keep -1", ""},
		{"negative rule", []string{"backup-volumes", "--keep-weekly", "-2", "--keep-monthly", "-1"}, exitInvalid, "keep-weekly -2, keep-monthly -1", ""},
		{"--keep and --keep-last", []string{"backup-volumes", "--keep", "3", "--keep-last", "4"}, exitInvalid, "give one", ""},
		{"--out and --to", []string{"backup-volumes", "--out", "/srv/a", "--to", "/srv/b"}, exitInvalid, "give one", ""},
		{"unknown scheme", []string{"backup-volumes", "--to", "ftp://nas/srv/backups"}, exitInvalid, `unknown scheme "ftp"`, ""},
		{"sftp password", []string{"backup-volumes", "--to", "sftp://backup:hunter2@nas/srv/backups"}, exitInvalid, "holds a password", "hunter2"},
		{"s3 keys", []string{"backup-volumes", "--to", "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket/p"}, exitInvalid, "holds credentials", "wJalrXUtnFEMI"},
		{"misspelt option", []string{"backup-volumes", "--to", "sftp://backup@nas/srv?host_key=SHA256:x"}, exitInvalid, `unknown option "host_key"`, ""},
		{"directory missing", []string{"backup-volumes", "--to", "/nonexistent/backups"}, exitNotFound, "does not exist", ""},
		{"verify: password", []string{"verify-backup", "sftp://backup:hunter2@nas/srv" + archiveURL}, exitInvalid, "holds a password", "hunter2"},
		{"verify: no archive name", []string{"verify-backup", "s3://bucket/prefix"}, exitInvalid, "does not end in an archive's name", ""},
		{"restore: s3 keys", []string{"restore-volumes", "s3://AKIAEXAMPLE:wJalrXUtnFEMI@bucket" + archiveURL}, exitInvalid, "holds credentials", "wJalrXUtnFEMI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.says) {
				t.Fatalf("stackctl %v: exit %d, %s; want %d saying %q", tc.args, code, stderr, tc.code, tc.says)
			}
			if tc.secret != "" && strings.Contains(stderr, tc.secret) {
				t.Errorf("the message shows the secret: %s", stderr)
			}
		})
	}
}

// withOption is the target URL raw with option key set to value.
func withOption(raw, key, value string) string {
	u, _ := url.Parse(raw)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestOffsiteExitCodes: a target that refuses stackctl fails with its own
// exit code, naming it, before any engine is asked (there is none here).
func TestOffsiteExitCodes(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
	srv := offsitetest.StartSFTP(t)
	stranger := filepath.Join(t.TempDir(), "stranger")
	offsitetest.WritePrivateKey(t, stranger)
	noHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(noHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	unknownHost := withOption(srv.URL(""), "known-hosts", noHosts)
	wrongKey := withOption(srv.URL(""), "identity", stranger)
	name := "/redmine-20261123T060000Z.tar.zst"
	shown := "sftp://" + srv.User + "@" + srv.Addr
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"backup-volumes, host key unknown", []string{"backup-volumes", "--to", unknownHost}, exitOffsiteHostKey},
		{"backup-volumes, key refused", []string{"backup-volumes", "--to", wrongKey}, exitOffsiteAuth},
		{"restore-volumes, host key unknown", []string{"restore-volumes", "--yes", strings.Replace(unknownHost, "?", name+"?", 1)}, exitOffsiteHostKey},
		{"verify-backup, key refused", []string{"verify-backup", strings.Replace(wrongKey, "?", name+"?", 1)}, exitOffsiteAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, shown) {
				t.Fatalf("stackctl %v: exit %d, %s; want %d naming %s", tc.args, code, stderr, tc.code, shown)
			}
		})
	}
	if left := srv.Files(""); len(left) != 0 {
		t.Errorf("refused backups left %v on the server", left)
	}
}

// TestVerifyRemote: verify-backup reads an archive straight from SFTP and S3.
func TestVerifyRemote(t *testing.T) {
	for _, kind := range remoteKinds {
		t.Run(kind.name, func(t *testing.T) {
			raw, target := kind.open(t)
			name := archiveOn(t, target, time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC))
			location := offsite.ArchiveLocation(raw, name)
			code, stdout, stderr := run(t, "verify-backup", location)
			if code != exitBackupUntrusted || !strings.Contains(stderr, testSigner.Public.Fingerprint()) {
				t.Fatalf("verify-backup %s of a key not trusted: exit %d\n%s%s", location, code, stdout, stderr)
			}
			code, stdout, stderr = run(t, "verify-backup", "--trust-key", testSigner.Public.Fingerprint(), location)
			if code != exitOK || !strings.Contains(stdout, ": intact, signed by "+testSigner.Public.Fingerprint()) || !strings.Contains(stdout, "db-data.pgdump") {
				t.Fatalf("verify-backup %s: exit %d\n%s%s", location, code, stdout, stderr)
			}
		})
	}
}

// remoteKind is a kind of remote target: start runs its real server, which
// holds nothing yet, and gives the target's URL.
type remoteKind struct {
	name  string
	start func(t *testing.T) string
}

var remoteKinds = []remoteKind{
	{"sftp", func(t *testing.T) string { return offsitetest.StartSFTP(t).URL("") }},
	{"s3", func(t *testing.T) string { return offsitetest.StartS3(t).URL("redmine") }},
}

// open starts the server and opens the target, closed when the test ends.
func (k remoteKind) open(t *testing.T) (raw string, target offsite.Target) {
	t.Helper()
	raw = k.start(t)
	target, err := offsite.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	return raw, target
}
