package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/schedule"
)

func newScheduleRemoveCommand(g *globalOptions, so *scheduleOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove STACK",
		Short: "Stop and remove a stack's scheduled backup",
		Long: `Stop and remove a stack's scheduled backup: its timer is disabled and stopped,
its service, timer, cron entry and notify settings removed. A run under way is not
stopped; the archives it made stay.`,
		Example: `  sudo stackctl schedule remove redmine`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScheduleRemove(cmd.Context(), g, so, args)
		},
	}
	so.AddFlags(cmd.Flags())
	return cmd
}

func runScheduleRemove(ctx context.Context, g *globalOptions, so *scheduleOptions, args []string) error {
	st, err := g.stackArg(args)
	if err != nil {
		return err
	}
	removed, err := so.host().Remove(ctx, schedule.InstanceName(st.Name, g.instance))
	if err != nil {
		return asRoot(err)
	}
	for _, p := range removed {
		g.rep.Printf("removed %s", p)
	}
	return nil
}
