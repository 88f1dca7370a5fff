package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type scheduleListOptions struct {
	json bool
}

func (o *scheduleListOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print the schedules as a JSON array")
}

func newScheduleListCommand(g *globalOptions, so *scheduleOptions) *cobra.Command {
	o := &scheduleListOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the scheduled backups installed on this host",
		Long: `List the scheduled backups 'schedule backup' installed on this host, systemd
timers and cron entries alike: the stack, how it runs, when, and the command line.
Under systemd, 'systemctl list-timers stackctl-backup-*' shows the next and last
runs, and 'journalctl -u stackctl-backup-STACK' their output.`,
		Example: `  stackctl schedule list
  stackctl schedule list --json | jq -r '.[].stack'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScheduleList(cmd.Context(), g, so, o)
		},
	}
	o.AddFlags(cmd.Flags())
	so.AddFlags(cmd.Flags())
	return cmd
}

func runScheduleList(_ context.Context, g *globalOptions, so *scheduleOptions, o *scheduleListOptions) error {
	list, err := so.host().List()
	if err != nil {
		return err
	}
	if o.json {
		return writeJSONArray(g.stdout, list)
	}
	if len(list) == 0 {
		g.rep.Printf("no scheduled backups: 'stackctl schedule backup STACK --daily HH:MM' makes one")
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STACK\tBY\tSCHEDULE\tCOMMAND")
	for _, in := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", in.Stack, in.Mode, in.Schedule, in.Command)
	}
	return tw.Flush()
}
