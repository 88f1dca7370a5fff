package schedule

import (
	"bytes"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// File is one file a job installs.
type File struct {
	// Path is relative to the host's root: etc/systemd/system/….
	Path string
	Mode fs.FileMode
	// Secret: the content holds credentials and is never printed.
	Secret  bool
	Content []byte
}

// Files are the files that install j in mode m: a service and a timer, or a
// cron entry; and the environment file holding the notify settings when any
// is set.
func (j Job) Files(m Mode) ([]File, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	var files []File
	switch m {
	case Systemd:
		timer, err := j.timer()
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: servicePath(j.Kind, j.name()), Mode: 0o644, Content: j.service()},
			File{Path: timerPath(j.Kind, j.name()), Mode: 0o644, Content: timer})
	case Cron:
		entry, err := j.cron()
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: cronPath(j.Kind, j.name()), Mode: 0o644, Content: entry})
	default:
		return nil, fmt.Errorf("unknown mode %q", m)
	}
	if j.hasEnvFile() {
		var b bytes.Buffer
		b.WriteString("# " + j.header() + "\n# Where 'stackctl schedule run' reports a failed " + string(j.Kind) + ". Private: the webhook URL may hold a token.\n")
		var vars [][2]string
		if j.Notify.Webhook != "" {
			vars = append(vars, [2]string{EnvWebhook, j.Notify.Webhook})
		}
		if j.Notify.Mail != "" {
			vars = append(vars, [2]string{EnvMail, j.Notify.Mail})
		}
		if err := writeEnv(&b, vars); err != nil {
			return nil, err
		}
		files = append(files, File{Path: envFilePath(j.Kind, j.name()), Mode: 0o600, Secret: true, Content: b.Bytes()})
	}
	return files, nil
}

// header opens every file: the command that made it, which list reads back.
func (j Job) header() string {
	flag := "--every " + shortDuration(j.Schedule.Every)
	if j.Schedule.Daily != "" {
		flag = "--daily " + j.Schedule.Daily
	}
	return "stackctl schedule " + string(j.Kind) + " " + j.Stack + " " + flag
}

func (j Job) comment() string {
	remove := "stackctl schedule remove " + j.Stack
	if j.Kind != Backup {
		// A backup's is the default job of remove.
		remove += " --job " + string(j.Kind)
	}
	return "# " + j.header() + "\n# Generated: run that again to change the schedule, '" + remove + "' to remove it.\n"
}

// service is the job's unit. It sets no TimeoutStartSec=: a Type=oneshot
// service has no start timeout unless given one, so neither a long backup nor
// an update's base rebuild is cut short; the command keeps its own timeouts.
func (j Job) service() []byte {
	c := j.Command(Systemd, "/")
	var b bytes.Buffer
	b.WriteString(j.comment())
	fmt.Fprintf(&b, `[Unit]
Description=stackctl %s of stack %s
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=oneshot
SyslogIdentifier=%s
`, j.Kind, j.Stack, j.Unit())
	for _, e := range c.Env {
		fmt.Fprintf(&b, "Environment=%s\n", systemdQuote(e, false))
	}
	for _, f := range c.EnvFiles {
		fmt.Fprintf(&b, "EnvironmentFile=%s\n", strings.ReplaceAll(f, "%", "%%"))
	}
	args := make([]string, len(c.Argv))
	for i, a := range c.Argv {
		args[i] = systemdQuote(a, true)
	}
	fmt.Fprintf(&b, "ExecStart=%s\n", strings.Join(args, " "))
	return b.Bytes()
}

func (j Job) timer() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(j.comment())
	fmt.Fprintf(&b, "[Unit]\nDescription=Run %s.service %s\n\n[Timer]\n", j.Unit(), j.Schedule)
	if j.Schedule.Daily != "" {
		h, m, err := j.Schedule.clock()
		if err != nil {
			return nil, err
		}
		// Persistent: a run missed while the host was off happens at boot.
		// It means something only for OnCalendar=, so --every has none.
		fmt.Fprintf(&b, "OnCalendar=*-*-* %02d:%02d:00\nPersistent=true\nRandomizedDelaySec=%s\n", h, m, systemdSpan(5*time.Minute))
	} else {
		every := systemdSpan(j.Schedule.Every)
		fmt.Fprintf(&b, "OnActiveSec=%s\nOnUnitActiveSec=%s\nRandomizedDelaySec=%s\n", every, every,
			systemdSpan(min(5*time.Minute, (j.Schedule.Every/10).Truncate(time.Second))))
	}
	b.WriteString("\n[Install]\nWantedBy=timers.target\n")
	return b.Bytes(), nil
}

// cron is the /etc/cron.d entry. Cron keeps no exit status of a run, so the
// run's output goes to syslog and 'schedule run' reports the failure.
func (j Job) cron() ([]byte, error) {
	when, err := j.cronTime()
	if err != nil {
		return nil, err
	}
	c := j.Command(Cron, "/")
	var words []string
	for _, e := range c.Env {
		k, v, _ := strings.Cut(e, "=")
		words = append(words, k+"="+shellQuote(v))
	}
	for _, a := range c.Argv {
		words = append(words, shellQuote(a))
	}
	// % ends a cron command unless escaped.
	line := strings.ReplaceAll(strings.Join(words, " "), "%", `\%`)
	var b bytes.Buffer
	b.WriteString(j.comment())
	b.WriteString("# Cron keeps no exit status: 'stackctl schedule run' reports a failed run; the output goes to syslog.\n")
	b.WriteString("SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
	fmt.Fprintf(&b, "%s root %s 2>&1 | logger -t %s\n", when, line, j.Unit())
	return b.Bytes(), nil
}

// cronTime is the schedule's five cron fields. Cron counts minutes within an
// hour and hours within a day, so an interval must divide one of them.
func (j Job) cronTime() (string, error) {
	s := j.Schedule
	if s.Daily != "" {
		h, m, err := s.clock()
		return fmt.Sprintf("%d %d * * *", m, h), err
	}
	switch m, h := int(s.Every/time.Minute), int(s.Every/time.Hour); {
	case m == 60:
		return "0 * * * *", nil
	case m < 60 && 60%m == 0:
		return fmt.Sprintf("*/%d * * * *", m), nil
	case s.Every%time.Hour == 0 && h == 24:
		return "0 0 * * *", nil
	case s.Every%time.Hour == 0 && 24%h == 0:
		return fmt.Sprintf("0 */%d * * *", h), nil
	}
	return "", fmt.Errorf("%w: --every %s: cron (this host has no systemd) can only run at an interval that divides an hour or a day: 15m, 30m, 2h, 6h…, or use --daily",
		errs.ErrInvalidInput, shortDuration(s.Every))
}

// systemdSpan writes d as systemd reads a time span: "6h", "1h 30min", "6s".
func systemdSpan(d time.Duration) string {
	var parts []string
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "min"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			parts = append(parts, fmt.Sprintf("%d%s", n, u.name))
			d -= n * u.d
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " ")
}

var (
	systemdSafe = regexp.MustCompile(`^[A-Za-z0-9@%$+=:,./_~-]+$`)
	shellSafe   = regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_~-]+$`)
)

// systemdQuote writes one word of a unit setting: % doubled (specifiers),
// $ doubled where the setting expands variables (ExecStart=), and the word
// double-quoted with C escapes when it holds anything else.
func systemdQuote(s string, dollar bool) string {
	s = strings.ReplaceAll(s, "%", "%%")
	if dollar {
		s = strings.ReplaceAll(s, "$", "$$")
	}
	if systemdSafe.MatchString(s) {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// shellQuote writes one word for sh: as it is when safe, else single-quoted.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
