package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/schedule"
)

// scheduleUpdateOptions are the flags of update that 'schedule update' passes
// on to every scheduled run.
type scheduleUpdateOptions struct {
	securityOnly bool
	backupDir    string
	signingKey   string
	mirror       string
	timeout      time.Duration
}

func (o *scheduleUpdateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.securityOnly, "security-only", false, "act on security fixes alone: a base whose only fixes are stable updates is left as it is (update --security-only)")
	fs.StringVar(&o.backupDir, "backup-dir", os.Getenv("STACKCTL_BACKUP_DIR"), "backup directory the backup taken before each update goes to (env STACKCTL_BACKUP_DIR; default: backups/ under --state-dir)")
	fs.StringVar(&o.signingKey, "signing-key", os.Getenv("STACKCTL_SIGNING_KEY"), "sign that backup with this OpenSSH ed25519 private key (yours, mode 0600, no passphrase) instead of the state directory's own (env STACKCTL_SIGNING_KEY)")
	mirrorFlag(fs, &o.mirror)
	fs.DurationVar(&o.timeout, "timeout", 0, "how long update waits for the rebuilt images to become healthy (default: update's own)")
}

// scheduledUpdateFlags are the flags of scheduleUpdateOptions, in the order
// they are passed on; env names the variable a flag's default comes from.
// The unit does not have the environment of the shell that scheduled it, so
// a value from there is passed on as if given.
var scheduledUpdateFlags = []struct{ name, env string }{
	{"security-only", ""},
	{"backup-dir", "STACKCTL_BACKUP_DIR"},
	{"signing-key", "STACKCTL_SIGNING_KEY"},
	{"mirror", "STACKCTL_DEBIAN_MIRROR"},
	{"timeout", ""},
}

func newScheduleUpdateCommand(g *globalOptions, so *scheduleOptions) *cobra.Command {
	o := &scheduleJobOptions{}
	uo := &scheduleUpdateOptions{}
	cmd := &cobra.Command{
		Use:   "update STACK --daily HH:MM | --every DURATION",
		Short: "Install a timer (or cron entry) that applies Debian's security and stable updates to a stack",
		Long: `Install a schedule that runs 'stackctl update STACK' for this site (--dir) and
state directory (STACKCTL_STATE_DIR): the debian bases with pending fixes rebuilt,
then the images, handed over without an outage, a backup taken first; a run with
nothing pending changes nothing and succeeds. The update flags given here are
passed on as they are: --security-only, --backup-dir, --signing-key, --mirror,
--timeout. The unit does not have this shell's environment, so --backup-dir,
--signing-key and --mirror taken from STACKCTL_BACKUP_DIR, STACKCTL_SIGNING_KEY and
STACKCTL_DEBIAN_MIRROR are passed on too, and STACKCTL_DEBIAN_SECURITY_MIRROR,
when set, is set in the unit's environment.
What update would refuse at every run is refused here: a signing key that cannot
be loaded, a mirror that is not an http(s) URL or a file: URL, or one with no
security archive known beside it. Scheduling a stack's update again replaces it;
the stack's backup schedule is another, which this leaves as it is.

Under systemd the timer is persistent (a daily run missed while the host was off
happens at boot) and starts each run up to 5 minutes late, at random, so that
hosts do not all start at once; the service has no start timeout, as a base
rebuild takes minutes. A failed run fails the service (systemctl status,
systemctl list-timers) and is reported to --notify-webhook and --notify-mail,
which are kept in /etc/stackctl/update-STACK.env, mode 0600; the units are
stackctl-update-STACK.service and .timer (the cron entry stackctl-update-STACK).
'stackctl schedule remove STACK --job update' removes them.`,
		Example: `  sudo stackctl schedule update redmine --daily 04:30 --security-only
  sudo stackctl schedule update redmine --daily 05:00 --backup-dir /srv/backups/redmine --notify-mail ops@example.org
  sudo stackctl schedule update redmine --every 24h --mirror http://ftp.de.debian.org/debian --timeout 20m
  sudo stackctl schedule update redmine --daily 04:30 --notify-webhook https://hooks.example.org/T0/B0/XXXX
  stackctl schedule update redmine --daily 04:30 --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScheduleUpdate(cmd.Context(), g, so, o, uo, cmd.Flags(), args)
		},
	}
	o.AddFlags(cmd.Flags())
	uo.AddFlags(cmd.Flags())
	so.AddFlags(cmd.Flags())
	return cmd
}

func runScheduleUpdate(ctx context.Context, g *globalOptions, so *scheduleOptions, o *scheduleJobOptions, uo *scheduleUpdateOptions, flags *pflag.FlagSet, args []string) error {
	st, err := g.stackArg(args)
	if err != nil {
		return err
	}
	updateArgs, env, err := uo.args(flags)
	if err != nil {
		return err
	}
	j, err := o.job(g, schedule.Update, st.Name, updateArgs, env)
	if err != nil {
		return err
	}
	if os.Getenv(basebuild.SecurityMirrorEnv) == "none" {
		g.rep.Warnf("%s=none is passed on: the scheduled updates rebuild the bases without Debian's security fixes (not for a tracker others use)", basebuild.SecurityMirrorEnv)
	}
	return o.install(ctx, g, so, j)
}

// args are update's arguments for the flags given on fs or taken from the
// environment ("--mirror=…"), with paths made absolute, and env the
// variables the run needs from this environment. It refuses what update
// would refuse at every run, checked now rather than at 4 a.m.
func (o *scheduleUpdateOptions) args(fs *pflag.FlagSet) (args, env []string, err error) {
	// Made absolute in place: the flags' values are these fields.
	for _, p := range []*string{&o.backupDir, &o.signingKey} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return nil, nil, err
			}
		}
	}
	if o.signingKey != "" {
		if err := checkSigningKey(o.signingKey); err != nil {
			return nil, nil, err
		}
	}
	if fs.Changed("timeout") && o.timeout <= 0 {
		return nil, nil, fmt.Errorf("%w: --timeout %s: give a positive duration, e.g. 20m, or leave it out for update's own", errs.ErrInvalidInput, o.timeout)
	}
	if err := checkMirrorURL("--mirror", o.mirror); err != nil {
		return nil, nil, err
	}
	security := os.Getenv(basebuild.SecurityMirrorEnv)
	if security != "" {
		if security != "none" {
			if err := checkMirrorURL(basebuild.SecurityMirrorEnv, security); err != nil {
				return nil, nil, err
			}
		}
		env = append(env, basebuild.SecurityMirrorEnv+"="+security)
	}
	if _, _, err := basebuild.NewSources(o.mirror, security); err != nil {
		return nil, nil, err
	}
	for _, f := range scheduledUpdateFlags {
		flag := fs.Lookup(f.name)
		if !flag.Changed && (f.env == "" || os.Getenv(f.env) == "") || flag.Value.String() == "" {
			continue
		}
		args = append(args, "--"+f.name+"="+flag.Value.String())
	}
	return args, env, nil
}

// checkMirrorURL refuses a Debian mirror (named what, a flag or a variable)
// that mmdebstrap cannot take from a unit: an http or https URL, or a file:
// URL of an absolute path on this host. A URL with a password is refused too,
// since a unit's command line is readable by every user.
func checkMirrorURL(what, mirror string) error {
	u, err := url.Parse(mirror)
	if err != nil {
		return fmt.Errorf("%w: %s: %q is not a URL: give one like %s", errs.ErrInvalidInput, what, mirror, basebuild.DefaultMirror)
	}
	if _, ok := u.User.Password(); ok {
		return fmt.Errorf("%w: %s %s holds a password, which the unit would show to every user: use a mirror URL without one",
			errs.ErrInvalidInput, what, u.Redacted())
	}
	switch {
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
		return nil
	}
	// update reads the mirror's indexes over HTTP, as apt does inside a build.
	return fmt.Errorf("%w: %s %q: want an http or https URL, e.g. %s: update reads the mirror's indexes over HTTP (serve a mirror on this host with any web server)",
		errs.ErrInvalidInput, what, u.Redacted(), basebuild.DefaultMirror)
}
