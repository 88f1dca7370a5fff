package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

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
		Short: "Run a stack's backups by themselves: systemd timers, or cron where systemd does not run",
		Long: `Schedule a stack's backups: 'schedule backup' installs a systemd service and timer
(stackctl-backup-STACK.service and .timer in /etc/systemd/system), or an entry in
/etc/cron.d where systemd does not run, that runs backup-volumes at the time given.
The run holds the stack's lock as any backup-volumes does.

A failed run fails the service, so systemctl and the timer show it; and, when asked,
it is reported to a webhook (a JSON POST) and by mail to an operator through the
site's SMTP server (mail.smtp in stackctl.yaml). Installing needs root.`,
		Example: `  sudo stackctl schedule backup redmine --daily 02:30 --keep 14
  stackctl schedule list
  sudo stackctl schedule remove redmine`,
	}
	cmd.AddCommand(
		newScheduleBackupCommand(g, o),
		newScheduleListCommand(g, o),
		newScheduleRemoveCommand(g, o),
		newScheduleRunCommand(g),
	)
	return cmd
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
