package main

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/schedule"
	"github.com/stackctl/stackctl/internal/site"
)

type scheduleBackupOptions struct {
	daily         string
	every         time.Duration
	notifyWebhook string
	notifyMail    string
	credentials   []string
	init          string
	dryRun        bool
}

func (o *scheduleBackupOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.daily, "daily", "", "run every day at HH:MM, the host's local time")
	fs.DurationVar(&o.every, "every", 0, "run at this interval, a whole number of minutes (30m, 6h); under cron it must divide an hour or a day")
	fs.StringVar(&o.notifyWebhook, "notify-webhook", "", "POST a JSON report of a failed run to this URL (kept in a 0600 file, never on a command line)")
	fs.StringVar(&o.notifyMail, "notify-mail", "", "mail the report of a failed run to this address, through the site's mail.smtp server")
	fs.StringArrayVar(&o.credentials, "credentials", nil, "a file of KEY=VALUE lines, mode 0600, that the run takes its environment from (an off-site target's keys); repeatable")
	fs.StringVar(&o.init, "init", "auto", "install as systemd units or a cron entry: systemd, cron, or auto (systemd where it runs)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the files that would be installed, and install nothing")
}

func newScheduleBackupCommand(g *globalOptions, so *scheduleOptions) *cobra.Command {
	o := &scheduleBackupOptions{}
	cmd := &cobra.Command{
		Use:   "backup STACK --daily HH:MM | --every DURATION",
		Short: "Install a timer (or cron entry) that backs up a stack",
		Long: `Install a schedule that runs 'stackctl backup-volumes STACK' for this site
(--dir) and state directory (STACKCTL_STATE_DIR), with the backup-volumes flags
given here, passed on as they are: --to or --out, --keep-* (--keep), --encrypt-to,
--test-restore (with --identity, --timeout).
What backup-volumes would refuse at every run is refused here. Scheduling a stack
again replaces its schedule.

Under systemd the timer is persistent (a daily run missed while the host was off
happens at boot) and starts each run up to 5 minutes late, at random, so that
hosts do not all start at once. A failed run fails the service (systemctl
status, systemctl list-timers) and is reported to --notify-webhook and
--notify-mail. The webhook URL and the mail address are kept in
/etc/stackctl/backup-STACK.env, mode 0600; credentials the backup needs come
from --credentials files, loaded by the unit, never on its command line.`,
		Example: `  sudo stackctl schedule backup redmine --daily 02:30 --keep 14
  sudo stackctl schedule backup redmine --daily 03:00 --to 's3://team-backups/redmine?region=eu-west-1' --credentials /etc/stackctl/s3.env --keep-daily 7 --keep-weekly 4
  sudo stackctl schedule backup redmine --every 6h --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  sudo stackctl schedule backup redmine --daily 03:00 --notify-webhook https://hooks.example.org/T0/B0/XXXX --notify-mail ops@example.org
  stackctl schedule backup redmine --daily 02:30 --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScheduleBackup(cmd.Context(), g, so, o, cmd.Flags(), args)
		},
	}
	o.AddFlags(cmd.Flags())
	so.AddFlags(cmd.Flags())
	addScheduledBackupFlags(cmd.Flags(), newBackupVolumesCommand(g).Flags())
	return cmd
}

func runScheduleBackup(ctx context.Context, g *globalOptions, so *scheduleOptions, o *scheduleBackupOptions, flags *pflag.FlagSet, args []string) error {
	st, err := g.stackArg(args)
	if err != nil {
		return err
	}
	j, err := o.job(g, st.Name, flags)
	if err != nil {
		return err
	}
	h := so.host()
	mode := h.Mode()
	switch o.init {
	case "auto":
	case "systemd", "cron":
		mode = schedule.Mode(o.init)
	default:
		return fmt.Errorf("%w: --init %q: want systemd, cron or auto", errs.ErrInvalidInput, o.init)
	}
	if o.dryRun {
		files, err := j.Files(mode)
		if err != nil {
			return err
		}
		for _, f := range files {
			path := filepath.Join(h.Root, f.Path)
			if f.Secret {
				fmt.Fprintf(g.stdout, "# %s (mode %04o) holds the notify settings: not shown\n\n", path, f.Mode)
				continue
			}
			fmt.Fprintf(g.stdout, "# %s (mode %04o)\n%s\n", path, f.Mode, f.Content)
		}
		return nil
	}
	written, err := h.Install(ctx, j, mode)
	for _, p := range written {
		g.rep.Printf("wrote %s", p)
	}
	if err != nil {
		return asRoot(err)
	}
	switch {
	case mode == schedule.Cron:
		g.rep.Printf("stack %s is backed up %s by cron", st.Name, j.Schedule)
	case h.Enables():
		g.rep.Printf("stack %s is backed up %s: 'systemctl list-timers stackctl-backup-%s.timer' shows the next run", st.Name, j.Schedule, j.Name())
	default:
		g.rep.Printf("stack %s is scheduled %s; systemd does not run here, so the timer is not enabled: 'systemctl enable stackctl-backup-%s.timer' where it runs", st.Name, j.Schedule, j.Name())
	}
	return nil
}

// job is the schedule the flags describe, every path in it absolute.
func (o *scheduleBackupOptions) job(g *globalOptions, stack string, flags *pflag.FlagSet) (schedule.Job, error) {
	backupArgs, err := scheduledBackupArgs(flags)
	if err != nil {
		return schedule.Job{}, err
	}
	start, err := g.start()
	if err != nil {
		return schedule.Job{}, err
	}
	s, err := site.Find(start)
	if err != nil {
		return schedule.Job{}, err
	}
	bin, err := executable()
	if err != nil {
		return schedule.Job{}, err
	}
	j := schedule.Job{
		Stack: stack, Schedule: schedule.Schedule{Daily: o.daily, Every: o.every},
		Binary: bin, Site: s.Dir, Args: backupArgs,
		Notify: schedule.Notify{Webhook: o.notifyWebhook, Mail: o.notifyMail},
	}
	j.Instance = g.instance
	if g.stateRoot != "" {
		if j.StateDir, err = filepath.Abs(g.stateRoot); err != nil {
			return schedule.Job{}, err
		}
	}
	if err := checkNotify(s, j.Notify); err != nil {
		return schedule.Job{}, err
	}
	for _, c := range o.credentials {
		abs, err := filepath.Abs(c)
		if err != nil {
			return schedule.Job{}, err
		}
		if _, err := schedule.ReadEnvFile(abs); err != nil {
			return schedule.Job{}, fmt.Errorf("--credentials: %w", err)
		}
		j.EnvFiles = append(j.EnvFiles, abs)
	}
	return j, j.Validate()
}

// checkNotify refuses a webhook that is not an http(s) URL, and a mail
// report with no way to send it: no SMTP server in the site's settings, no
// sender, or a password file that is not private.
func checkNotify(s site.Site, n schedule.Notify) error {
	if n.Webhook != "" {
		if u, err := url.Parse(n.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: --notify-webhook: want an http or https URL", errs.ErrInvalidInput)
		}
	}
	if n.Mail == "" {
		return nil
	}
	if a, err := mail.ParseAddress(n.Mail); err != nil || a.Address != n.Mail {
		return fmt.Errorf("%w: --notify-mail %q: want a bare address, e.g. ops@example.org", errs.ErrInvalidInput, n.Mail)
	}
	// siteSMTP checks the password file as the run reads it.
	server, err := siteSMTP(s)
	switch {
	case err != nil:
		return fmt.Errorf("--notify-mail: %w", err)
	case server.From == "":
		return fmt.Errorf("%w: --notify-mail needs a sender: set mail.smtp.from or redmine.emission_email in %s", errs.ErrInvalidInput, filepath.Join(s.Dir, site.SettingsFile))
	}
	return nil
}

// executable is the absolute path of the running stackctl, which the
// schedule runs.
func executable() (string, error) {
	p, err := os.Executable()
	if err == nil {
		p, err = filepath.EvalSymlinks(p)
	}
	if err != nil {
		return "", fmt.Errorf("finding the stackctl binary to run: %w", err)
	}
	return p, nil
}
