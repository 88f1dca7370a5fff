package schedule

import (
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// update reports -update: rewrite the golden files. A test helper linked in
// may define the flag already; share it.
var update = func() func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
	return func() bool { return flag.Lookup("update").Value.String() == "true" }
}()

// jobs are the golden cases: a daily backup and a daily update with every
// option, and one of each every six hours with none. The backups' files are
// those installed schedules have: their names and contents do not change.
var jobs = map[string]Job{
	"daily": {
		Kind: Backup, Stack: "redmine", Schedule: Schedule{Daily: "02:30"},
		Binary: "/usr/local/bin/stackctl", Site: "/srv/tracker", StateDir: "/var/lib/stackctl",
		Args:     []string{"--keep-daily=7", "--keep-weekly=5", "--to=s3://backups/tracker"},
		EnvFiles: []string{"/etc/stackctl/s3-credentials.env"},
		Notify:   Notify{Webhook: "https://hooks.example.org/T0/B0/s3cr3t", Mail: "ops@example.org"},
	},
	"every": {
		Kind: Backup, Stack: "redmine", Schedule: Schedule{Every: 6 * time.Hour},
		Binary: "/usr/local/bin/stackctl", Site: "/srv/tracker",
	},
	"update-daily": {
		Kind: Update, Stack: "redmine", Schedule: Schedule{Daily: "04:30"},
		Binary: "/usr/local/bin/stackctl", Site: "/srv/tracker", StateDir: "/var/lib/stackctl",
		Args: []string{"--security-only=true", "--backup-dir=/srv/backups/tracker", "--signing-key=/etc/stackctl/signing-key",
			"--mirror=http://ftp.de.debian.org/debian", "--timeout=20m0s"},
		Env:      []string{"STACKCTL_DEBIAN_SECURITY_MIRROR=http://security.example.org/debian-security"},
		EnvFiles: []string{"/etc/stackctl/proxy.env"},
		Notify:   Notify{Webhook: "https://hooks.example.org/T0/B0/s3cr3t", Mail: "ops@example.org"},
	},
	"update-every": {
		Kind: Update, Stack: "redmine", Schedule: Schedule{Every: 6 * time.Hour},
		Binary: "/usr/local/bin/stackctl", Site: "/srv/tracker",
	},
}

// TestGolden: the files each job installs, in each mode, are the golden ones
// (go test ./internal/schedule -update rewrites them).
func TestGolden(t *testing.T) {
	for name, j := range jobs {
		for _, m := range []Mode{Systemd, Cron} {
			files, err := j.Files(m)
			if err != nil {
				t.Fatalf("%s, %s: %v", name, m, err)
			}
			for _, f := range files {
				golden := filepath.Join("testdata", name+"-"+string(m), filepath.Base(f.Path))
				if update() {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, f.Content, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v: run go test ./internal/schedule -update", err)
				}
				if string(want) != string(f.Content) {
					t.Errorf("%s differs from %s (go test ./internal/schedule -update rewrites it):\n%s", f.Path, golden, f.Content)
				}
			}
		}
	}
}

// TestSystemdAnalyzeVerify: systemd's own checker accepts the service and
// timer of every golden job, backups and updates, and of one of each whose
// paths and settings need quoting.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		const why = "systemd-analyze is not installed (Debian's systemd package has it; scripts/bootstrap installs it)"
		if os.Getenv("STACKCTL_E2E") == "1" {
			t.Fatal(why + ", and STACKCTL_E2E=1 turns this skip into a failure")
		}
		t.Skip(why + ": the units are not verified")
	}
	dir := t.TempDir()
	// verify wants ExecStart's binary to exist and be executable.
	bin := filepath.Join(dir, "bin dir", "stackctl")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	odd := jobs["daily"]
	odd.Site, odd.StateDir = "/srv/my tracker/100% \"ours\" $HOME", "/var/lib/stack ctl"
	odd.Args = []string{"--to=sftp://me@host/path with space", ";", "--encrypt-to=$HOME/keys"}
	oddUpdate := jobs["update-daily"]
	oddUpdate.Site = odd.Site
	oddUpdate.Args = []string{"--backup-dir=/srv/back ups/100% $HOME", "--mirror=file:///srv/my mirror/debian"}
	oddUpdate.Env = []string{"STACKCTL_DEBIAN_SECURITY_MIRROR=file:///srv/my mirror/100% $security"}
	cases := map[string]Job{"odd": odd, "odd-update": oddUpdate}
	for name, j := range jobs {
		cases[name] = j
	}
	for name, j := range cases {
		t.Run(name, func(t *testing.T) {
			j.Binary = bin
			files, err := j.Files(Systemd)
			if err != nil {
				t.Fatal(err)
			}
			unitDir := filepath.Join(dir, name)
			var units []string
			for _, f := range files {
				if f.Secret {
					continue
				}
				p := filepath.Join(unitDir, filepath.Base(f.Path))
				if err := os.MkdirAll(unitDir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, f.Content, f.Mode); err != nil {
					t.Fatal(err)
				}
				units = append(units, p)
			}
			out, err := exec.Command(analyze, append([]string{"verify"}, units...)...).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Fatalf("systemd-analyze verify %v: %v\n%s", units, err, out)
			}
		})
	}
	// And it does catch a broken unit: the check is not vacuous.
	bad := filepath.Join(dir, "stackctl-backup-bad.timer")
	if err := os.WriteFile(bad, []byte("[Timer]\nOnCalendar=*-*-* 25:00:00\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", bad).CombinedOutput(); err == nil {
		t.Fatalf("systemd-analyze verify accepts a timer with hour 25: %s", out)
	}
}

func TestSystemdQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/local/bin/stackctl": "/usr/local/bin/stackctl",
		"--keep-daily=7":          "--keep-daily=7",
		"/srv/my tracker":         `"/srv/my tracker"`,
		"100%":                    "100%%",
		"$HOME":                   "$$HOME",
		`say "hi" \ bye`:          `"say \"hi\" \\ bye"`,
		";":                       `";"`,
		"":                        `""`,
	} {
		if got := systemdQuote(in, true); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := systemdQuote("STACKCTL_STATE_DIR=/a $b", false); got != `"STACKCTL_STATE_DIR=/a $b"` {
		t.Errorf("Environment= value: %s", got)
	}
}

// TestCronQuoting: the cron command line, run by sh, gives back the argv and
// the environment, a backup's and an update's.
func TestCronQuoting(t *testing.T) {
	backup := jobs["every"]
	backup.Args = []string{"--to=sftp://me@host/a b", ";"}
	update := jobs["update-every"]
	update.Args = []string{"--backup-dir=/srv/a b", ";"}
	update.Env = []string{"STACKCTL_DEBIAN_SECURITY_MIRROR=file:///srv/it's 100% $HOME"}
	for name, j := range map[string]Job{"backup": backup, "update": update} {
		t.Run(name, func(t *testing.T) {
			j.Site = "/srv/it's 100% $HOME `x`"
			entry, err := j.cron()
			if err != nil {
				t.Fatal(err)
			}
			var line string
			for _, l := range strings.Split(string(entry), "\n") {
				if strings.HasPrefix(l, "0 */6 * * * root ") {
					line = strings.TrimPrefix(l, "0 */6 * * * root ")
				}
			}
			cmdline, _, ok := strings.Cut(line, " 2>&1 | logger")
			if !ok {
				t.Fatalf("no command line in\n%s", entry)
			}
			// cron turns \% into %, then hands the line to sh: printf shows each word.
			cmdline = strings.ReplaceAll(cmdline, `\%`, "%")
			out, err := exec.Command("sh", "-c", "printf '%s\\n' "+cmdline).Output()
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			// The environment's assignments first, then the command.
			c := j.Command(Cron, "/")
			if want := append(slices.Clone(c.Env), c.Argv...); !slices.Equal(got, want) {
				t.Errorf("sh reads %q\nwant %q", got, want)
			}
		})
	}
}

func TestScheduleValidate(t *testing.T) {
	for _, tc := range []struct {
		s   Schedule
		bad string
	}{
		{Schedule{Daily: "02:30"}, ""},
		{Schedule{Daily: "23:59"}, ""},
		{Schedule{Every: 15 * time.Minute}, ""},
		{Schedule{}, "--daily HH:MM or --every"},
		{Schedule{Daily: "02:30", Every: time.Hour}, "choose one"},
		{Schedule{Daily: "2:30"}, "HH:MM"},
		{Schedule{Daily: "24:00"}, "HH:MM"},
		{Schedule{Daily: "02:30:00"}, "HH:MM"},
		{Schedule{Every: 30 * time.Second}, "whole number of minutes"},
		{Schedule{Every: 90 * time.Second}, "whole number of minutes"},
	} {
		err := tc.s.Validate()
		if tc.bad == "" && err != nil || tc.bad != "" && (!errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.bad)
		}
	}
}

func TestCronTime(t *testing.T) {
	for _, tc := range []struct {
		s    Schedule
		want string // "" when cron cannot
	}{
		{Schedule{Daily: "02:30"}, "30 2 * * *"},
		{Schedule{Daily: "00:05"}, "5 0 * * *"},
		{Schedule{Every: 15 * time.Minute}, "*/15 * * * *"},
		{Schedule{Every: time.Hour}, "0 * * * *"},
		{Schedule{Every: 6 * time.Hour}, "0 */6 * * *"},
		{Schedule{Every: 24 * time.Hour}, "0 0 * * *"},
		{Schedule{Every: 7 * time.Minute}, ""},
		{Schedule{Every: 90 * time.Minute}, ""},
		{Schedule{Every: 5 * time.Hour}, ""},
		{Schedule{Every: 48 * time.Hour}, ""},
	} {
		j := jobs["every"]
		j.Schedule = tc.s
		got, err := j.cronTime()
		if tc.want == "" {
			if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "--daily") {
				t.Errorf("%s: %q, %v; want refused", tc.s, got, err)
			}
			continue
		}
		if got != tc.want || err != nil {
			t.Errorf("%s: %q, %v; want %q", tc.s, got, err, tc.want)
		}
	}
}

// TestJobValidateCases: each problem of a job is named, and a job with none
// is valid.
func TestJobValidateCases(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Job)
		bad  string // "" when valid
	}{
		{"a backup", func(j *Job) {}, ""},
		{"an update", func(j *Job) { *j = jobs["update-daily"] }, ""},
		{"an update of an instance", func(j *Job) { *j = jobs["update-every"]; j.Instance = "team2" }, ""},
		{"no kind", func(j *Job) { j.Kind = "" }, `job "": want backup or update`},
		{"another kind", func(j *Job) { j.Kind = "upgrade" }, `job "upgrade": want backup or update`},
		{"a setting with no =", func(j *Job) { j.Env = []string{"STACKCTL_DEBIAN_SECURITY_MIRROR"} }, "is not KEY=VALUE"},
		{"a setting with no name", func(j *Job) { j.Env = []string{"=none"} }, `"=none" is not KEY=VALUE`},
		{"a setting with a line break", func(j *Job) { j.Env = []string{"A=b\nExecStartPre=/bin/rm"} }, "holds a line break"},
		{"an update's flag with a line break", func(j *Job) {
			*j = jobs["update-every"]
			j.Args = []string{"--mirror=http://x\nExecStartPre=/bin/rm"}
		}, "holds a line break"},
		{"no schedule", func(j *Job) { j.Schedule = Schedule{} }, "--daily HH:MM or --every"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := jobs["daily"]
			tc.edit(&j)
			err := j.Validate()
			if tc.bad == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.bad) {
				t.Fatalf("%v, want it to say %q", err, tc.bad)
			}
			if _, err := j.Files(Cron); err == nil {
				t.Error("Files made a cron entry of an invalid job")
			}
		})
	}
}

// TestKinds: a job's kind is named by the command it runs, and a schedule
// runs no other command.
func TestKinds(t *testing.T) {
	for cmd, want := range map[string]Kind{"backup-volumes": Backup, "update": Update, "backup": "", "upgrade": "", "up": "", "": ""} {
		got, ok := KindOf(cmd)
		if got != want || ok != (want != "") {
			t.Errorf("KindOf(%q) = %q, %t; want %q", cmd, got, ok, want)
		}
		if ok && got.Command() != cmd {
			t.Errorf("%s runs %q, not %q", got, got.Command(), cmd)
		}
	}
	for _, s := range []string{"backup", "update"} {
		if k, err := ParseKind(s); err != nil || string(k) != s {
			t.Errorf("ParseKind(%q) = %q, %v", s, k, err)
		}
	}
	if _, err := ParseKind("backup-volumes"); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("ParseKind(backup-volumes): %v, want refused", err)
	}
}

// TestUpdateJob: an update's files are its own, named apart from a backup's
// of the same stack, and its unit runs update with its flags and settings.
func TestUpdateJob(t *testing.T) {
	j := jobs["update-daily"]
	for m, want := range map[Mode][]string{
		Systemd: {"etc/systemd/system/stackctl-update-redmine.service", "etc/systemd/system/stackctl-update-redmine.timer", "etc/stackctl/update-redmine.env"},
		Cron:    {"etc/cron.d/stackctl-update-redmine", "etc/stackctl/update-redmine.env"},
	} {
		files, err := j.Files(m)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range files {
			got = append(got, f.Path)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: files %q, want %q", m, got, want)
		}
	}
	c := j.Command(Systemd, "/")
	wantArgv := []string{"/usr/local/bin/stackctl", "--dir", "/srv/tracker", "schedule", "run", "redmine", "--", "update", "redmine",
		"--security-only=true", "--backup-dir=/srv/backups/tracker", "--signing-key=/etc/stackctl/signing-key",
		"--mirror=http://ftp.de.debian.org/debian", "--timeout=20m0s"}
	if !slices.Equal(c.Argv, wantArgv) {
		t.Errorf("argv %q\nwant %q", c.Argv, wantArgv)
	}
	if !slices.Contains(c.Env, "STACKCTL_DEBIAN_SECURITY_MIRROR=http://security.example.org/debian-security") {
		t.Errorf("the run's environment %q lacks the security mirror", c.Env)
	}
	if got := j.Unit(); got != "stackctl-update-redmine" {
		t.Errorf("unit %s", got)
	}
	if got := jobs["daily"].Unit(); got != "stackctl-backup-redmine" {
		t.Errorf("a backup's unit is %s: installed schedules would be orphaned", got)
	}
}

func TestJobValidate(t *testing.T) {
	j := jobs["daily"]
	j.Stack, j.Binary, j.EnvFiles = "red mine", "stackctl", []string{"creds.env"}
	j.Args = append(j.Args, "--to=x\nExecStartPre=/bin/rm")
	j.Notify.Webhook = "https://hooks.example.org/s3cr3t\nExecStartPre=/bin/rm"
	err := j.Validate()
	for _, want := range []string{`stack "red mine"`, `"stackctl" is not an absolute path`, `"creds.env" is not an absolute path`, "line break", "the webhook URL holds a line break"} {
		if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: want it to name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("%v: quotes the webhook URL", err)
	}
	if _, err := j.Files(Systemd); err == nil {
		t.Error("Files made units of an invalid job")
	}
}

func TestSystemdSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		6 * time.Hour: "6h", 90 * time.Minute: "1h 30min", 5 * time.Minute: "5min", 6 * time.Second: "6s", 0: "0",
	} {
		if got := systemdSpan(d); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
}
