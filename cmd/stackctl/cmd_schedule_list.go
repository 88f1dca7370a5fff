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
		Short: "List the scheduled backups and updates installed on this host",
		Long: `List the schedules 'schedule backup' and 'schedule update' installed on this
host, systemd timers and cron entries alike: the stack (and its instance), the
job (backup or update), how it runs, when, and the command line. Under systemd,
'systemctl list-timers stackctl-*' shows the next and last runs, and
'journalctl -u stackctl-backup-STACK' (or stackctl-update-STACK) their output.`,
		Example: `  stackctl schedule list
  stackctl schedule list --json | jq -r '.[] | select(.job == "update") | .stack'`,
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
		g.rep.Printf("no schedules: 'stackctl schedule backup STACK --daily HH:MM' makes a backup's, 'stackctl schedule update STACK --daily HH:MM' an update's")
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STACK\tJOB\tBY\tSCHEDULE\tCOMMAND")
	for _, in := range list {
		stack := in.Stack
		if in.Instance != "" {
			stack += " (instance " + in.Instance + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", stack, in.Job, in.Mode, in.Schedule, in.Command)
	}
	return tw.Flush()
}
