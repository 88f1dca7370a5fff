package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/schedule"
)

func newScheduleBackupCommand(g *globalOptions, so *scheduleOptions) *cobra.Command {
	o := &scheduleJobOptions{}
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

func runScheduleBackup(ctx context.Context, g *globalOptions, so *scheduleOptions, o *scheduleJobOptions, flags *pflag.FlagSet, args []string) error {
	st, err := g.stackArg(args)
	if err != nil {
		return err
	}
	backupArgs, err := scheduledBackupArgs(flags)
	if err != nil {
		return err
	}
	j, err := o.job(g, schedule.Backup, st.Name, backupArgs, nil)
	if err != nil {
		return err
	}
	return o.install(ctx, g, so, j)
}
