package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/signing"
)

// hostile is a manifest a crafted archive could hold: its strings clear the
// screen, move to the start of the line to forge "all good", and reorder or
// break lines.
var hostile = archive.Manifest{
	Format: archive.FormatVersion, Stack: "redmine\x1b[2J\rall good", Profile: "debian\u2028\u202eboog lla",
	RedmineVersion: "6.0.5\u009b2J", PostgresVersion: "17\x7f", Created: time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC),
	Entries: []archive.Entry{{Name: "db-data.pgdump", Kind: archive.KindPostgres, Volume: "db-data\nall good"}},
}

// testSigner signs the tests' archives; hostileSigner too, with a comment
// that would clear the screen.
var (
	testSigner    = newTestKey("tests@stackctl")
	hostileSigner = newTestKey("tests\x1b[2J\x1b[Hall good")
)

func newTestKey(comment string) *signing.Key {
	k, _, err := signing.NewKey(comment)
	if err != nil {
		panic(err)
	}
	return k
}

// terminalControl says whether r is one a terminal would obey (a line break aside).
func terminalControl(r rune) bool {
	return r != '\n' && (r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 || r >= 0x202a && r <= 0x202e)
}

// writeHostile writes a small, intact archive with the hostile manifest into dir.
func writeHostile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, archive.FileName("redmine", hostile.Created, false))
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := archive.NewWriter(f, hostile, hostileSigner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add("db-data.pgdump", strings.NewReader("PGDMP")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestVerifyBackupEscapes: verify-backup prints a crafted manifest's strings
// escaped, so that they cannot clear the screen or forge a line; as JSON the
// output stays valid, each value the manifest's own.
func TestVerifyBackupEscapes(t *testing.T) {
	path := writeHostile(t, t.TempDir())
	code, stdout, stderr := run(t, "verify-backup", "--trust-key", hostileSigner.Public.String(), path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.ContainsFunc(stdout, terminalControl) {
		t.Errorf("a control character reached the output raw: %q", stdout)
	}
	for _, want := range []string{`("tests\x1b[2J\x1b[Hall good")`, `stack "redmine\x1b[2J\rall good"`, `base "debian\u2028\u202eboog lla"`, `Redmine "6.0.5\u009b2J"`, `PostgreSQL "17\x7f"`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the output lacks %s:\n%s", want, stdout)
		}
	}
	for _, line := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(line, "all good") {
			t.Errorf("a forged line: %q", stdout)
		}
	}

	code, stdout, stderr = run(t, "verify-backup", "--json", "--trust-key", hostileSigner.Public.Fingerprint(), path)
	if code != exitOK || !json.Valid([]byte(stdout)) {
		t.Fatalf("exit %d, valid JSON %v: %s%s", code, json.Valid([]byte(stdout)), stdout, stderr)
	}
	if strings.ContainsFunc(stdout, terminalControl) {
		t.Errorf("a control character reached the JSON raw: %q", stdout)
	}
	var m archive.Manifest
	if err := json.Unmarshal([]byte(stdout), &m); err != nil {
		t.Fatal(err)
	}
	if m.Stack != hostile.Stack || m.Profile != hostile.Profile || m.RedmineVersion != hostile.RedmineVersion || m.PostgresVersion != hostile.PostgresVersion ||
		len(m.Entries) != 1 || m.Entries[0].Volume != hostile.Entries[0].Volume {
		t.Errorf("the JSON changed the manifest's values: %+v", m)
	}
	for _, want := range []string{`\u001b[2J\rall good`, `\u2028\u202eboog`, `\u009b2J`, `17\u007f`, `db-data\nall good`} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the JSON lacks %s:\n%s", want, stdout)
		}
	}
}

// TestBackupsEscapes: the listing prints a sidecar's restore test message
// escaped, as text and as JSON.
func TestBackupsEscapes(t *testing.T) {
	dir := t.TempDir()
	path := writeHostile(t, dir)
	target, err := offsite.Parse(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	rt := backup.RestoreTest{At: hostile.Created, FailedStep: "log in\x1b[1A", Message: "HTTP 500\r\x1b[32mpassed\x1b[0m\u202e"}
	if err := backup.RecordRestoreTest(context.Background(), target, filepath.Base(path), rt); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "backups", "--to", dir)
	if code != exitOK || strings.ContainsFunc(stdout, terminalControl) || !strings.Contains(stdout, `log in\x1b[1A: HTTP 500\r\x1b[32mpassed\x1b[0m\u202e`) {
		t.Errorf("exit %d, the listing:\n%q\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = run(t, "backups", "--to", dir, "--json")
	var listed []backup.Listed
	if code != exitOK || strings.ContainsFunc(stdout, terminalControl) || json.Unmarshal([]byte(stdout), &listed) != nil ||
		len(listed) != 1 || listed[0].RestoreTest() == nil || listed[0].RestoreTest().Message != rt.Message {
		t.Errorf("exit %d, the JSON listing:\n%s\n%s", code, stdout, stderr)
	}
}
