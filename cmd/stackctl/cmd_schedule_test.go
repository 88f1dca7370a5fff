package main

import (
	"encoding/json"
	"fmt"
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
	if code, _, stderr := sched("update", "redmine", "--daily", "04:30", "--init", "systemd", "--security-only"); code != exitOK ||
		!strings.Contains(stderr, "the timer is not enabled: 'systemctl enable stackctl-update-redmine.timer'") {
		t.Fatalf("update: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := sched("list", "--json")
	if code != exitOK {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	var list []schedule.Installed
	if err := json.Unmarshal([]byte(stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Stack != "nginx" || list[0].Mode != schedule.Cron || list[0].Schedule != "every 30m" ||
		list[1].Stack != "redmine" || list[1].Job != schedule.Backup || list[1].Mode != schedule.Systemd || list[1].Schedule != "daily 03:15" ||
		!strings.HasSuffix(list[1].Command, "-- backup-volumes redmine --keep=7") ||
		list[2].Stack != "redmine" || list[2].Job != schedule.Update || list[2].Schedule != "daily 04:30" ||
		!strings.HasSuffix(list[2].Command, "-- update redmine --security-only=true") {
		t.Fatalf("list: %+v", list)
	}
	if !strings.Contains(stdout, `"job": "update"`) {
		t.Errorf("list --json does not name the job as \"job\":\n%s", stdout)
	}
	code, stdout, _ = sched("list")
	if code != exitOK || !strings.Contains(stdout, "redmine  backup  systemd  daily 03:15") || !strings.Contains(stdout, "redmine  update  systemd  daily 04:30") {
		t.Errorf("list: exit %d:\n%s", code, stdout)
	}
	// remove takes the backup by default, as before there were updates; the update stays.
	if code, _, stderr := sched("remove", "redmine"); code != exitOK || !strings.Contains(stderr, "stackctl-backup-redmine.timer") ||
		strings.Contains(stderr, "update") {
		t.Fatalf("remove: exit %d: %s", code, stderr)
	}
	if code, _, stderr := sched("remove", "redmine"); code != exitNotFound || !strings.Contains(stderr, "has no backup schedule") ||
		!strings.Contains(stderr, "its update schedule is removed with --job update") {
		t.Fatalf("remove again: exit %d: %s", code, stderr)
	}
	if code, _, stderr := sched("remove", "redmine", "--job", "upgrade"); code != exitInvalid || !strings.Contains(stderr, "--job") {
		t.Fatalf("remove --job upgrade: exit %d: %s", code, stderr)
	}
	if code, _, stderr := sched("remove", "redmine", "--job", "update"); code != exitOK || !strings.Contains(stderr, "stackctl-update-redmine.timer") {
		t.Fatalf("remove --job update: exit %d: %s", code, stderr)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "etc/systemd/system/*")); len(left) != 0 {
		t.Errorf("left after remove: %v", left)
	}
}

// signingKeyFile is a signing key of the operator's, mode 0600.
func signingKeyFile(t *testing.T) string {
	t.Helper()
	_, pem, err := signing.NewKey("ops")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "signing-key")
	if err := os.WriteFile(p, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// clearUpdateEnv unsets, for the test, the variables schedule update passes
// on: what the test runs with is then what it sets.
func clearUpdateEnv(t *testing.T) {
	for _, k := range []string{"STACKCTL_BACKUP_DIR", "STACKCTL_SIGNING_KEY", "STACKCTL_DEBIAN_MIRROR", "STACKCTL_DEBIAN_SECURITY_MIRROR"} {
		t.Setenv(k, "")
	}
}

func TestScheduleUpdateDryRun(t *testing.T) {
	clearUpdateEnv(t)
	key := signingKeyFile(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{
			name: "systemd, daily, update's flags passed on with paths made absolute",
			args: []string{"--init", "systemd", "--daily", "04:30", "--security-only", "--backup-dir", "backups",
				"--signing-key", key, "--mirror", "http://ftp.de.debian.org/debian", "--timeout", "20m"},
			want: []string{
				"/etc/systemd/system/stackctl-update-redmine.service (mode 0644)",
				"/etc/systemd/system/stackctl-update-redmine.timer (mode 0644)",
				"Description=stackctl update of stack redmine\n",
				"OnCalendar=*-*-* 04:30:00\nPersistent=true\nRandomizedDelaySec=5min\n",
				" schedule run redmine -- update redmine --security-only=true --backup-dir=" + must(filepath.Abs("backups")) +
					" --signing-key=" + key + " --mirror=http://ftp.de.debian.org/debian --timeout=20m0s\n",
				"'stackctl schedule remove redmine --job update' to remove it",
			},
		},
		{
			name: "cron, every 6 hours, nothing passed on but the stack",
			args: []string{"--init", "cron", "--every", "6h", "--notify-webhook", "https://hooks.example.org/T0/B0/s3cr3t"},
			want: []string{
				"/etc/cron.d/stackctl-update-redmine (mode 0644)",
				"0 */6 * * * root STACKCTL_STATE_DIR=",
				"--env-file /etc/stackctl/update-redmine.env -- update redmine 2>&1 | logger -t stackctl-update-redmine\n",
				"# /etc/stackctl/update-redmine.env (mode 0600) holds the notify settings: not shown",
			},
		},
		{
			name: "flags from the environment, which the unit has not, passed on",
			env: map[string]string{"STACKCTL_BACKUP_DIR": "/srv/backups", "STACKCTL_SIGNING_KEY": key,
				"STACKCTL_DEBIAN_MIRROR": "http://mirror.example.org/debian", "STACKCTL_DEBIAN_SECURITY_MIRROR": "http://mirror.example.org/debian-security"},
			args: []string{"--init", "systemd", "--daily", "04:30"},
			want: []string{
				"Environment=STACKCTL_DEBIAN_SECURITY_MIRROR=http://mirror.example.org/debian-security\n",
				" -- update redmine --backup-dir=/srv/backups --signing-key=" + key + " --mirror=http://mirror.example.org/debian\n",
			},
		},
		{
			name: "a flag given wins over the environment",
			env:  map[string]string{"STACKCTL_BACKUP_DIR": "/srv/backups", "STACKCTL_DEBIAN_MIRROR": "http://mirror.example/debian"},
			args: []string{"--init", "cron", "--daily", "04:30", "--backup-dir", "/srv/other", "--mirror", "https://deb.example.org/debian"},
			want: []string{" -- update redmine --backup-dir=/srv/other --mirror=https://deb.example.org/debian 2>&1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := run(t, append([]string{"schedule", "update", "redmine", "--dry-run", "--dir", "../.."}, tc.args...)...)
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
			if strings.Contains(stdout, "backup-volumes") || strings.Contains(stdout, "stackctl-backup-") {
				t.Errorf("an update's schedule names a backup's:\n%s", stdout)
			}
		})
	}
}

func TestScheduleUpdateRefusals(t *testing.T) {
	clearUpdateEnv(t)
	dir := t.TempDir()
	open := filepath.Join(dir, "open-key")
	_, pem, err := signing.NewKey("ops")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(open, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		msg  string
	}{
		{"no time", nil, []string{"redmine"}, "--daily HH:MM or --every"},
		{"unknown stack", nil, []string{"wordpress", "--daily", "04:30"}, "unknown stack"},
		{"signing key missing", nil, []string{"redmine", "--daily", "04:30", "--signing-key", filepath.Join(dir, "none")}, "--signing-key " + filepath.Join(dir, "none") + ": no such file"},
		{"signing key open to others", nil, []string{"redmine", "--daily", "04:30", "--signing-key", open}, "open to others"},
		{"signing key from the environment open to others", map[string]string{"STACKCTL_SIGNING_KEY": open}, []string{"redmine", "--daily", "04:30"}, "open to others"},
		{"mirror not a URL", nil, []string{"redmine", "--daily", "04:30", "--mirror", "deb.debian.org/debian"}, "want an http or https URL"},
		{"mirror over ftp", nil, []string{"redmine", "--daily", "04:30", "--mirror", "ftp://ftp.debian.org/debian"}, "want an http or https URL"},
		{"mirror a file: URL", nil, []string{"redmine", "--daily", "04:30", "--mirror", "file:///srv/mirror/debian"}, "reads the mirror's indexes over HTTP"},
		{"mirror from the environment not a URL", map[string]string{"STACKCTL_DEBIAN_MIRROR": "/srv/mirror"}, []string{"redmine", "--daily", "04:30"}, "--mirror"},
		{"mirror with a password", nil, []string{"redmine", "--daily", "04:30", "--mirror", "https://me:hunter2@deb.example.org/debian"}, "holds a password"},
		{"mirror with no security archive beside it", nil, []string{"redmine", "--daily", "04:30", "--mirror", "http://mirror.example.org/pub"}, "STACKCTL_DEBIAN_SECURITY_MIRROR"},
		{"security mirror not a URL", map[string]string{"STACKCTL_DEBIAN_SECURITY_MIRROR": "security.debian.org"}, []string{"redmine", "--daily", "04:30"}, "STACKCTL_DEBIAN_SECURITY_MIRROR"},
		{"no timeout", nil, []string{"redmine", "--daily", "04:30", "--timeout", "0s"}, "--timeout 0s: give a positive duration"},
		{"webhook not a URL", nil, []string{"redmine", "--daily", "04:30", "--notify-webhook", "hooks.example.org"}, "http or https URL"},
		{"a flag update does not take", nil, []string{"redmine", "--daily", "04:30", "--keep", "7"}, "unknown flag: --keep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := run(t, append([]string{"schedule", "update", "--dry-run", "--init", "cron", "--dir", "../.."}, tc.args...)...)
			if code != exitInvalid || !strings.Contains(stderr, tc.msg) {
				t.Fatalf("exit %d, %s; want %d saying %q", code, stderr, exitInvalid, tc.msg)
			}
			if stdout != "" || strings.Contains(stderr, "hunter2") {
				t.Errorf("printed %q, said %q", stdout, stderr)
			}
		})
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
	if rep.Job != schedule.Backup {
		t.Errorf("report of a backup names job %q", rep.Job)
	}

	// An update that fails is reported as one. 'update' with a flag it has
	// not fails before anything is asked of the engine.
	code, _, stderr = run(t, "--dir", "../..", "schedule", "run", "redmine", "--env-file", env, "--", "update", "redmine", "--no-such-flag")
	if code == exitOK || !strings.Contains(stderr, fmt.Sprintf("the scheduled update of stack redmine failed (exit %d)", code)) {
		t.Fatalf("update: exit %d: %s", code, stderr)
	}
	rep = <-reports
	if rep.Stack != "redmine" || rep.Job != schedule.Update || rep.ExitCode != code || !slices.Contains(rep.Command, "update") {
		t.Errorf("report %+v", rep)
	}
}

// TestScheduleRunRefuses: schedule run runs backup-volumes or update, after
// --, and no other command.
func TestScheduleRunRefuses(t *testing.T) {
	for name, args := range map[string][]string{
		"up":                {"redmine", "--", "up", "redmine"},
		"upgrade":           {"redmine", "--", "upgrade", "redmine", "--to", "6.0"},
		"restore-volumes":   {"redmine", "--", "restore-volumes", "redmine"},
		"backup":            {"redmine", "--", "backup", "redmine"},
		"schedule run":      {"redmine", "--", "schedule", "run", "redmine"},
		"no command":        {"redmine", "--"},
		"no stack after it": {"redmine", "--", "update"},
		"no --":             {"redmine", "update", "redmine"},
		"two stacks before": {"redmine", "nginx", "--", "update", "redmine"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := run(t, append([]string{"--dir", "../..", "schedule", "run"}, args...)...)
			if code != exitInvalid || !strings.Contains(stderr, "-- backup-volumes STACK") || !strings.Contains(stderr, "-- update STACK") {
				t.Errorf("exit %d: %s", code, stderr)
			}
		})
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
