package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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

type scheduleOptions struct {
	systemRoot string
}

func (o *scheduleOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.systemRoot, "system-root", "/", "the root of the system the schedules are on: another directory for an image being built or a test, where systemctl is never run")
}

func (o *scheduleOptions) host() schedule.Host { return schedule.Host{Root: o.systemRoot} }

func newScheduleCommand(g *globalOptions) *cobra.Command {
	// Each subcommand that installs, lists or removes takes --system-root.
	o := &scheduleOptions{}
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Run a stack's backups and updates by themselves: systemd timers, or cron where systemd does not run",
		Long: `Schedule a stack's backups and updates: 'schedule backup' installs a systemd
service and timer (stackctl-backup-STACK.service and .timer in /etc/systemd/system),
or an entry in /etc/cron.d where systemd does not run, that runs backup-volumes at
the time given; 'schedule update' does the same for 'stackctl update', named
stackctl-update-STACK, so that a stack may have both. A run holds the stack's lock
as any backup-volumes or update does.

A failed run fails the service, so systemctl and the timer show it; and, when asked,
it is reported to a webhook (a JSON POST) and by mail to an operator through the
site's SMTP server (mail.smtp in stackctl.yaml). Installing needs root.`,
		Example: `  sudo stackctl schedule backup redmine --daily 02:30 --keep 14
  sudo stackctl schedule update redmine --daily 04:30 --security-only
  stackctl schedule list
  sudo stackctl schedule remove redmine
  sudo stackctl schedule remove redmine --job update`,
	}
	cmd.AddCommand(
		newScheduleBackupCommand(g, o),
		newScheduleUpdateCommand(g, o),
		newScheduleListCommand(g, o),
		newScheduleRemoveCommand(g, o),
		newScheduleRunCommand(g),
	)
	return cmd
}

// scheduleJobOptions are the flags of every command that installs a
// schedule ('schedule backup', 'schedule update'): when it runs, where a
// failure is reported, the credentials the run has, how it is installed.
type scheduleJobOptions struct {
	daily         string
	every         time.Duration
	notifyWebhook string
	notifyMail    string
	credentials   []string
	init          string
	dryRun        bool
}

func (o *scheduleJobOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.daily, "daily", "", "run every day at HH:MM, the host's local time")
	fs.DurationVar(&o.every, "every", 0, "run at this interval, a whole number of minutes (30m, 6h); under cron it must divide an hour or a day")
	fs.StringVar(&o.notifyWebhook, "notify-webhook", "", "POST a JSON report of a failed run to this URL (kept in a 0600 file, never on a command line)")
	fs.StringVar(&o.notifyMail, "notify-mail", "", "mail the report of a failed run to this address, through the site's mail.smtp server")
	fs.StringArrayVar(&o.credentials, "credentials", nil, "a file of KEY=VALUE lines, mode 0600, that the run takes its environment from (an off-site target's keys); repeatable")
	fs.StringVar(&o.init, "init", "auto", "install as systemd units or a cron entry: systemd, cron, or auto (systemd where it runs)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the files that would be installed, and install nothing")
}

// job is the schedule of kind k for stack that the flags describe, every
// path in it absolute: it runs the command of k with args, env set.
func (o *scheduleJobOptions) job(g *globalOptions, k schedule.Kind, stack string, args, env []string) (schedule.Job, error) {
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
		Kind: k, Stack: stack, Schedule: schedule.Schedule{Daily: o.daily, Every: o.every},
		Binary: bin, Site: s.Dir, Args: args, Env: env,
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

// install installs j as o says (--init, --dry-run) on so's host, and says
// how it runs.
func (o *scheduleJobOptions) install(ctx context.Context, g *globalOptions, so *scheduleOptions, j schedule.Job) error {
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
	done := map[schedule.Kind]string{schedule.Backup: "backed up", schedule.Update: "updated"}[j.Kind]
	switch {
	case mode == schedule.Cron:
		g.rep.Printf("stack %s is %s %s by cron", j.Stack, done, j.Schedule)
	case h.Enables():
		g.rep.Printf("stack %s is %s %s: 'systemctl list-timers %s.timer' shows the next run", j.Stack, done, j.Schedule, j.Unit())
	default:
		g.rep.Printf("stack %s is scheduled %s; systemd does not run here, so the timer is not enabled: 'systemctl enable %s.timer' where it runs", j.Stack, j.Schedule, j.Unit())
	}
	return nil
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

// asRoot says how to get past a refused write into /etc.
func asRoot(err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: run it as root (sudo)", err)
	}
	return err
}

// siteSMTP is the SMTP server of the site's settings (mail.smtp), which
// reports are mailed through.
func siteSMTP(s site.Site) (schedule.SMTP, error) {
	set, err := s.Settings()
	if err != nil {
		return schedule.SMTP{}, err
	}
	server, ok, err := set.SMTP()
	if err != nil {
		return schedule.SMTP{}, fmt.Errorf("%s: %w", filepath.Join(s.Dir, site.SettingsFile), err)
	}
	if !ok {
		return schedule.SMTP{}, fmt.Errorf("%w: no SMTP server to mail through: set mail.smtp in %s", errs.ErrInvalidInput, filepath.Join(s.Dir, site.SettingsFile))
	}
	return server, nil
}
