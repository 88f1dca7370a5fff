package schedule

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// Kind is what a scheduled job runs: the stack's backup or its update. It
// names the job's units and files, so that a stack may have one of each. The
// user meets it as the job: 'schedule remove --job', list's JOB column and
// "job" in its JSON and in a report.
type Kind string

const (
	// Backup runs 'stackctl backup-volumes STACK'.
	Backup Kind = "backup"
	// Update runs 'stackctl update STACK': Debian's security and stable
	// updates applied to the running stack, a backup taken first.
	Update Kind = "update"
)

// Kinds are the kinds of job, in the order a stack's schedules are listed.
var Kinds = []Kind{Backup, Update}

// ParseKind is the kind named s.
func ParseKind(s string) (Kind, error) {
	if k := Kind(s); slices.Contains(Kinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("%w: job %q: want backup or update", errs.ErrInvalidInput, s)
}

// Command is the stackctl command a job of kind k runs.
func (k Kind) Command() string {
	if k == Backup {
		return "backup-volumes"
	}
	return string(k)
}

// KindOf is the kind of job that runs the stackctl command command: false for
// a command no schedule runs.
func KindOf(command string) (Kind, bool) {
	for _, k := range Kinds {
		if k.Command() == command {
			return k, true
		}
	}
	return "", false
}

// Schedule is when a job runs: every day at a time of the host's local
// clock (as OnCalendar= and cron read it), or at a fixed interval.
type Schedule struct {
	// Daily is "HH:MM", 00:00 to 23:59.
	Daily string `json:"daily,omitempty"`
	// Every is the interval, a whole number of minutes.
	Every time.Duration `json:"every,omitempty"`
}

// Validate refuses a schedule that is neither daily nor every, or both, or
// whose time or interval is malformed.
func (s Schedule) Validate() error {
	switch {
	case s.Daily == "" && s.Every == 0:
		return fmt.Errorf("%w: say when it runs: --daily HH:MM or --every DURATION", errs.ErrInvalidInput)
	case s.Daily != "" && s.Every != 0:
		return fmt.Errorf("%w: --daily and --every both given: choose one", errs.ErrInvalidInput)
	case s.Daily != "":
		if _, _, err := s.clock(); err != nil {
			return err
		}
	case s.Every < time.Minute || s.Every%time.Minute != 0:
		return fmt.Errorf("%w: --every %s: give a whole number of minutes, 1m or more (e.g. 30m, 6h)", errs.ErrInvalidInput, s.Every)
	}
	return nil
}

// clock is Daily's hour and minute.
func (s Schedule) clock() (hour, minute int, err error) {
	t, perr := time.Parse("15:04", s.Daily)
	if perr != nil || len(s.Daily) != 5 {
		return 0, 0, fmt.Errorf("%w: --daily %q: give the time of day as HH:MM, 00:00 to 23:59 (e.g. 02:30)", errs.ErrInvalidInput, s.Daily)
	}
	return t.Hour(), t.Minute(), nil
}

// String is the schedule as the flags say it: "daily 02:30", "every 6h".
func (s Schedule) String() string {
	if s.Daily != "" {
		return "daily " + s.Daily
	}
	return "every " + shortDuration(s.Every)
}

// shortDuration is d without Go's trailing zero units: 6h, 1h30m, 45m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Notify is where a failed run is reported; empty fields are off.
type Notify struct {
	// Webhook is a URL that receives the Report as JSON in a POST. It often
	// holds a token, so it is kept in the schedule's environment file, never
	// on a command line.
	Webhook string `json:"webhook,omitempty"`
	// Mail is the operator's address, mailed through the site's SMTP server.
	Mail string `json:"mail,omitempty"`
}

// The environment variables that carry Notify into the run, from the
// schedule's environment file.
const (
	EnvWebhook = "STACKCTL_NOTIFY_WEBHOOK"
	EnvMail    = "STACKCTL_NOTIFY_MAIL"
)

// NotifyFromEnv is the Notify that the environment env (KEY=VALUE) carries.
func NotifyFromEnv(env []string) Notify {
	var n Notify
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case EnvWebhook:
			n.Webhook = v
		case EnvMail:
			n.Mail = v
		}
	}
	return n
}

// Job is one stack's scheduled backup or update.
type Job struct {
	Kind  Kind   `json:"kind"`
	Stack string `json:"stack"`
	// Instance is the stack's instance ("" for the stack itself): the run
	// gets STACKCTL_INSTANCE, empty or not, and the units are named for both.
	Instance string   `json:"instance,omitempty"`
	Schedule Schedule `json:"schedule"`
	// Binary is the absolute path of the stackctl that runs.
	Binary string `json:"binary"`
	// Site is the absolute path of the site's directory, passed as --dir.
	Site string `json:"site"`
	// StateDir, when set, is STACKCTL_STATE_DIR for the run: the state
	// directory whose stack lock and secrets the operator's commands use.
	StateDir string `json:"state_dir,omitempty"`
	// Args are the flags of the command the job runs (backup-volumes or
	// update), passed as given ("--keep=7").
	Args []string `json:"args,omitempty"`
	// Env are KEY=VALUE settings the run gets besides STACKCTL_STATE_DIR and
	// STACKCTL_INSTANCE: what the command reads from the environment of the
	// operator who scheduled it, which a unit does not have.
	Env []string `json:"env,omitempty"`
	// EnvFiles are the operator's files of KEY=VALUE lines (mode 0600) that
	// the run reads its credentials from: an off-site target's keys.
	EnvFiles []string `json:"env_files,omitempty"`
	Notify   Notify   `json:"notify"`
}

// Validate refuses a job that cannot make a unit: every problem is named.
func (j Job) Validate() error {
	var bad []string
	if _, err := ParseKind(string(j.Kind)); err != nil {
		bad = append(bad, strings.TrimPrefix(err.Error(), errs.ErrInvalidInput.Error()+": "))
	}
	if j.Stack == "" || strings.ContainsAny(j.Stack, "/. \t\n\\%$'\"") {
		bad = append(bad, fmt.Sprintf("stack %q is not a stack name", j.Stack))
	}
	if err := j.Schedule.Validate(); err != nil {
		bad = append(bad, strings.TrimPrefix(err.Error(), errs.ErrInvalidInput.Error()+": "))
	}
	for _, p := range append([]string{j.Binary, j.Site}, j.EnvFiles...) {
		if !filepath.IsAbs(p) {
			bad = append(bad, fmt.Sprintf("%q is not an absolute path", p))
		}
	}
	if j.StateDir != "" && !filepath.IsAbs(j.StateDir) {
		bad = append(bad, fmt.Sprintf("state directory %q is not an absolute path", j.StateDir))
	}
	for _, e := range j.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || !envName.MatchString(k) {
			bad = append(bad, fmt.Sprintf("%q is not KEY=VALUE", e))
		}
	}
	for _, s := range slices.Concat([]string{j.Binary, j.Site, j.StateDir, j.Notify.Mail}, j.Args, j.EnvFiles, j.Env) {
		if strings.ContainsAny(s, "\n\r\x00") {
			bad = append(bad, fmt.Sprintf("%q holds a line break", s))
		}
	}
	if strings.ContainsAny(j.Notify.Webhook, "\n\r\x00") {
		// Not quoted: the URL may hold a token.
		bad = append(bad, "the webhook URL holds a line break")
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: schedule for stack %s: %s", errs.ErrInvalidInput, j.Stack, strings.Join(bad, "; "))
	}
	return nil
}

// Mode is how a schedule is installed.
type Mode string

const (
	// Systemd: a service and a timer in /etc/systemd/system.
	Systemd Mode = "systemd"
	// Cron: an entry in /etc/cron.d, where systemd does not run.
	Cron Mode = "cron"
)

// Where a schedule's files go, under the host's root.
const (
	unitDir = "etc/systemd/system"
	cronDir = "etc/cron.d"
	envDir  = "etc/stackctl"
)

// unitName names the service, the timer and the cron entry of the job of kind
// k for name (a stack, and its instance): stackctl-backup-redmine,
// stackctl-update-redmine.
func unitName(k Kind, name string) string { return "stackctl-" + string(k) + "-" + name }

func servicePath(k Kind, name string) string {
	return filepath.Join(unitDir, unitName(k, name)+".service")
}

func timerPath(k Kind, name string) string { return filepath.Join(unitDir, unitName(k, name)+".timer") }

func cronPath(k Kind, name string) string { return filepath.Join(cronDir, unitName(k, name)) }

func envFilePath(k Kind, name string) string {
	return filepath.Join(envDir, string(k)+"-"+name+".env")
}

// stackFiles are every file the job of kind k for name may have, in either
// mode; the timer first, to be stopped before the rest goes.
func stackFiles(k Kind, name string) []string {
	return []string{timerPath(k, name), servicePath(k, name), cronPath(k, name), envFilePath(k, name)}
}

// hasEnvFile: the job has notify settings, which go into its environment file.
func (j Job) hasEnvFile() bool { return j.Notify != Notify{} }

// name is what the job's units are named for: the stack, and its instance.
func (j Job) name() string { return InstanceName(j.Stack, j.Instance) }

// Unit names the job's units (Unit().timer, Unit().service) and cron entry:
// stackctl-backup-redmine, stackctl-update-redmine-team2.
func (j Job) Unit() string { return unitName(j.Kind, j.name()) }

// InstanceName is the name of the schedule of stack's instance.
func InstanceName(stack, instance string) string {
	if instance == "" {
		return stack
	}
	return stack + "-" + instance
}

func (j Job) envFile(root string) string {
	return filepath.Join(root, envFilePath(j.Kind, j.name()))
}

// Command is what the timer or cron runs, as data: the integrator's tests run
// it as the timer would.
type Command struct {
	// Argv is the command line: 'stackctl schedule run', which runs
	// backup-volumes or update and reports its failure.
	Argv []string `json:"argv"`
	// Env is what the unit sets: STACKCTL_STATE_DIR, STACKCTL_INSTANCE and
	// the job's Env.
	Env []string `json:"env,omitempty"`
	// EnvFiles are the files of KEY=VALUE lines whose variables the unit sets:
	// the schedule's own (the notify settings) and the operator's credentials.
	EnvFiles []string `json:"env_files,omitempty"`
}

// Command is the job's command in mode m for a host whose root is root
// ("/" on the machine itself). Under systemd the unit loads the environment
// files (EnvironmentFile=); cron has no such thing, so there the command
// line names them and 'schedule run' reads them itself.
func (j Job) Command(m Mode, root string) Command {
	c := Command{Argv: []string{j.Binary, "--dir", j.Site, "schedule", "run", j.Stack}}
	if j.StateDir != "" {
		c.Env = []string{"STACKCTL_STATE_DIR=" + j.StateDir}
	}
	// Always, empty too (the stack of no instance): a run acts on the stack
	// the schedule was made for, even once the site's settings name another.
	c.Env = append(c.Env, "STACKCTL_INSTANCE="+j.Instance)
	c.Env = append(c.Env, j.Env...)
	if j.hasEnvFile() {
		c.EnvFiles = append(c.EnvFiles, j.envFile(root))
	}
	c.EnvFiles = append(c.EnvFiles, j.EnvFiles...)
	if m == Cron {
		for _, f := range c.EnvFiles {
			c.Argv = append(c.Argv, "--env-file", f)
		}
	}
	c.Argv = append(c.Argv, "--", j.Kind.Command(), j.Stack)
	c.Argv = append(c.Argv, j.Args...)
	return c
}
