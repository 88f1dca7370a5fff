package main

import (
	"encoding/json"
	"github.com/stackctl/stackctl/internal/signing"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/schedule"
)

// TestMain lets the test binary stand in for stackctl: 'schedule run' runs
// its own binary, which is this one in a test.
func TestMain(m *testing.M) {
	if os.Getenv("STACKCTL_TEST_AS_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

func TestScheduleBackupDryRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{
			name: "systemd, daily, backup-volumes' flags passed on with paths made absolute",
			args: []string{"--init", "systemd", "--daily", "02:30", "--keep", "14", "--out", "backups",
				"--encrypt-to", "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"},
			want: []string{
				"/etc/systemd/system/stackctl-backup-redmine.service (mode 0644)",
				"/etc/systemd/system/stackctl-backup-redmine.timer (mode 0644)",
				"OnCalendar=*-*-* 02:30:00\n",
				" schedule run redmine -- backup-volumes redmine --out=" + must(filepath.Abs("backups")) +
					" --keep=14 --encrypt-to=age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
				"Environment=STACKCTL_STATE_DIR=",
			},
		},
		{
			name: "cron, every 6 hours, with a webhook kept out of the entry",
			args: []string{"--init", "cron", "--every", "6h", "--notify-webhook", "https://hooks.example.org/T0/B0/s3cr3t"},
			want: []string{
				"/etc/cron.d/stackctl-backup-redmine (mode 0644)",
				"0 */6 * * * root STACKCTL_STATE_DIR=",
				"--env-file /etc/stackctl/backup-redmine.env -- backup-volumes redmine 2>&1 | logger -t stackctl-backup-redmine\n",
				"# /etc/stackctl/backup-redmine.env (mode 0600) holds the notify settings: not shown",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"schedule", "backup", "redmine", "--dry-run", "--dir", "../.."}, tc.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("the dry run lacks %q:\n%s", w, stdout)
				}
			}
			if strings.Contains(stdout, "s3cr3t") {
				t.Errorf("the dry run shows the webhook's token:\n%s", stdout)
			}
		})
	}
}

// TestScheduleInstallListRemove installs under a root of the test's (where
// systemd does not run: nothing is enabled), lists, and removes.
func TestScheduleInstallListRemove(t *testing.T) {
	root := t.TempDir()
	sched := func(args ...string) (int, string, string) {
		return run(t, append(append([]string{"schedule"}, args...), "--system-root", root, "--dir", "../..")...)
	}
	if code, _, stderr := sched("backup", "redmine", "--daily", "03:15", "--init", "systemd", "--keep", "7"); code != exitOK ||
		!strings.Contains(stderr, "the timer is not enabled") {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	if code, _, stderr := sched("backup", "nginx", "--every", "30m"); code != exitOK || !strings.Contains(stderr, "by cron") {
		t.Fatalf("backup nginx: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := sched("list", "--json")
	if code != exitOK {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	var list []schedule.Installed
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Stack != "nginx" || list[0].Mode != schedule.Cron || list[0].Schedule != "every 30m" ||
		list[1].Stack != "redmine" || list[1].Mode != schedule.Systemd || list[1].Schedule != "daily 03:15" ||
		!strings.HasSuffix(list[1].Command, "-- backup-volumes redmine --keep=7") {
		t.Fatalf("list: %+v", list)
	}
	if code, stdout, _ := sched("list"); code != exitOK || !strings.Contains(stdout, "redmine  systemd  daily 03:15") {
		t.Errorf("list: exit %d:\n%s", code, stdout)
	}
	if code, _, stderr := sched("remove", "redmine"); code != exitOK || !strings.Contains(stderr, "stackctl-backup-redmine.timer") {
		t.Fatalf("remove: exit %d: %s", code, stderr)
	}
	if code, _, stderr := sched("remove", "redmine"); code != exitNotFound || !strings.Contains(stderr, "has no schedule") {
		t.Fatalf("remove again: exit %d: %s", code, stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "etc/systemd/system/*")); len(left) != 0 {
		t.Errorf("left after remove: %v", left)
	}
}

// TestSchedulePassedFlags: every flag of the one list is offered and passed on.
func TestSchedulePassedFlags(t *testing.T) {
	_, pem, err := signing.NewKey("ops")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "signing-key")
	if err := os.WriteFile(keyFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{"to": "/srv/backups", "out": "/srv/backups", "encrypt-to": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
		"test-restore": "true", "identity": "/etc/stackctl/backup-identity.txt", "timeout": "10m0s",
		"signing-key": keyFile}
	// Flags that backup-volumes takes only beside another.
	with := map[string][]string{"identity": {"--test-restore"}, "timeout": {"--test-restore"}}
	for _, name := range scheduledBackupFlags {
		v, ok := values[name]
		if !ok {
			v = "3"
		}
		args := append([]string{"schedule", "backup", "redmine", "--dir", "../..", "--daily", "01:00", "--init", "cron", "--dry-run", "--" + name + "=" + v}, with[name]...)
		code, stdout, stderr := run(t, args...)
		if code != exitOK || !strings.Contains(stdout, " --"+name+"="+v) {
			t.Errorf("--%s: exit %d, not passed on:\n%s%s", name, code, stdout, stderr)
		}
	}
	// A URL is passed on as it is, a directory made absolute.
	for to, want := range map[string]string{
		"sftp://backup@nas.example.org/srv/backups?known-hosts=/etc/stackctl/known_hosts": "sftp://backup@nas.example.org/srv/backups?known-hosts=/etc/stackctl/known_hosts",
		"backups": must(filepath.Abs("backups")),
	} {
		code, stdout, stderr := run(t, "schedule", "backup", "redmine", "--dir", "../..", "--daily", "01:00", "--init", "cron", "--dry-run", "--to", to)
		if code != exitOK || !strings.Contains(stdout, "--to="+want) {
			t.Errorf("--to %s: exit %d, not passed on as %s:\n%s%s", to, code, want, stdout, stderr)
		}
	}
}

func TestScheduleRefusals(t *testing.T) {
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "stackctl.yaml"), []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A site whose settings name an SSH key as the password for their SMTP server.
	keySite, home := t.TempDir(), t.TempDir()
	key := filepath.Join(home, ".ssh", "id_ed25519")
	if err := os.Mkdir(filepath.Dir(key), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	settings := "version: 1\nmail:\n  smtp: {host: smtp.attacker.example, user: me, password_file: " + key + ", from: r@example.org}\n"
	if err := os.WriteFile(filepath.Join(keySite, "stackctl.yaml"), []byte(settings), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no time", []string{"redmine"}, exitInvalid, "--daily HH:MM or --every"},
		{"both", []string{"redmine", "--daily", "01:00", "--every", "1h"}, exitInvalid, "choose one"},
		{"unknown stack", []string{"wordpress", "--daily", "01:00"}, exitInvalid, "unknown stack"},
		{"bad init", []string{"redmine", "--daily", "01:00", "--init", "upstart"}, exitInvalid, "--init"},
		{"webhook not a URL", []string{"redmine", "--daily", "01:00", "--notify-webhook", "hooks.example.org"}, exitInvalid, "http or https URL"},
		{"mail with no SMTP server", []string{"redmine", "--daily", "01:00", "--notify-mail", "ops@example.org", "--dir", site}, exitInvalid, "set mail.smtp"},
		{"mail through a password file in .ssh", []string{"redmine", "--daily", "01:00", "--notify-mail", "ops@example.org", "--dir", keySite}, exitInvalid,
			"mail.smtp.password_file: " + key + " is in a .ssh directory"},
		{"mail not an address", []string{"redmine", "--daily", "01:00", "--notify-mail", "Ops <ops@example.org>"}, exitInvalid, "bare address"},
		{"bad recipient", []string{"redmine", "--daily", "01:00", "--encrypt-to", "/nonexistent/recipients"}, exitInvalid, "--encrypt-to"},
		{"credentials file open to others", []string{"redmine", "--daily", "01:00", "--credentials", "../../go.mod"}, exitInvalid, "--credentials"},
		{"negative retention", []string{"redmine", "--daily", "01:00", "--keep-daily", "-1"}, exitInvalid, "keep-daily -1"},
		{"--keep and --keep-last differ", []string{"redmine", "--daily", "01:00", "--keep", "7", "--keep-last", "3"}, exitInvalid, "give one"},
		{"--out and --to", []string{"redmine", "--daily", "01:00", "--out", "/srv/a", "--to", "/srv/b"}, exitInvalid, "--out and --to"},
		{"target with a password", []string{"redmine", "--daily", "01:00", "--to", "sftp://backup:hunter2@nas/srv"}, exitInvalid, "holds a password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"schedule", "backup", "--dry-run"}, tc.args...)
			if !slices.Contains(tc.args, "--dir") {
				args = append(args, "--dir", "../..")
			}
			code, _, stderr := run(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("exit %d, %s; want %d saying %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}

// TestScheduleRun runs 'schedule run' as the timer does, with this test
// binary as stackctl: a backup that fails (a refused --keep, before any
// engine is asked) fails the run with its own exit code, and is reported to
// the webhook in the environment file.
func TestScheduleRun(t *testing.T) {
	reports := make(chan schedule.Report, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep schedule.Report
		_ = json.NewDecoder(r.Body).Decode(&rep)
		reports <- rep
	}))
	defer srv.Close()
	env := filepath.Join(t.TempDir(), "backup-redmine.env")
	if err := os.WriteFile(env, []byte(schedule.EnvWebhook+"="+srv.URL+"/hook\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STACKCTL_TEST_AS_MAIN", "1")
	code, _, stderr := run(t, "--dir", "../..", "schedule", "run", "redmine", "--env-file", env, "--", "backup-volumes", "redmine", "--keep=-1")
	if code != exitInvalid || !strings.Contains(stderr, "--keep -1") || !strings.Contains(stderr, "failed (exit 2)") {
		t.Fatalf("exit %d, want %d: %s", code, exitInvalid, stderr)
	}
	rep := <-reports
	if rep.Stack != "redmine" || rep.ExitCode != exitInvalid || len(rep.Output) == 0 || !strings.Contains(strings.Join(rep.Output, "\n"), "--keep -1") {
		t.Errorf("report %+v", rep)
	}
	if code, _, stderr := run(t, "schedule", "run", "redmine", "--", "up", "redmine"); code != exitInvalid || !strings.Contains(stderr, "backup-volumes") {
		t.Errorf("schedule run of another command: exit %d: %s", code, stderr)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// A signing key from STACKCTL_SIGNING_KEY is passed on to the unit, which
// has not that environment; one that cannot sign fails now, not at 2 a.m.
func TestScheduleSigningKey(t *testing.T) {
	_, pem, err := signing.NewKey("ops")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good, open := filepath.Join(dir, "good"), filepath.Join(dir, "open")
	if err := os.WriteFile(good, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(open, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STACKCTL_SIGNING_KEY", good)
	code, stdout, stderr := run(t, "schedule", "backup", "redmine", "--dir", "../..", "--daily", "01:00", "--init", "cron", "--dry-run")
	if code != exitOK || !strings.Contains(stdout, " --signing-key="+good) {
		t.Errorf("from the environment: exit %d, not passed on:\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = run(t, "schedule", "backup", "redmine", "--dir", "../..", "--daily", "01:00", "--init", "cron", "--dry-run", "--signing-key", open)
	if code != exitInvalid || !strings.Contains(stderr, "--signing-key") || !strings.Contains(stderr, "open to others") {
		t.Errorf("a key open to others: exit %d: %s", code, stderr)
	}
}
