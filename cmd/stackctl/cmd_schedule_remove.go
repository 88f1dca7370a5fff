package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/schedule"
)

type scheduleRemoveOptions struct {
	job string
}

func (o *scheduleRemoveOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.job, "job", string(schedule.Backup), "which of the stack's schedules to remove: backup or update")
}

func newScheduleRemoveCommand(g *globalOptions, so *scheduleOptions) *cobra.Command {
	o := &scheduleRemoveOptions{}
	cmd := &cobra.Command{
		Use:   "remove STACK [--job backup|update]",
		Short: "Stop and remove a stack's scheduled backup, or its scheduled update",
		Long: `Stop and remove one of a stack's schedules: by default its scheduled backup,
with --job update its scheduled update. Its timer is disabled and stopped, its
service, timer, cron entry and notify settings removed. The stack's other
schedule stays: run remove once for each to remove both. A run under way is not
stopped; what it made (an archive, an updated stack) stays.`,
		Example: `  sudo stackctl schedule remove redmine
  sudo stackctl schedule remove redmine --job update`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runScheduleRemove(cmd.Context(), g, so, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	so.AddFlags(cmd.Flags())
	return cmd
}

func runScheduleRemove(ctx context.Context, g *globalOptions, so *scheduleOptions, o *scheduleRemoveOptions, args []string) error {
	st, err := g.stackArg(args)
	if err != nil {
		return err
	}
	job, err := schedule.ParseKind(o.job)
	if err != nil {
		return fmt.Errorf("%w: --job %q: want backup or update", errs.ErrInvalidInput, o.job)
	}
	removed, err := so.host().Remove(ctx, job, schedule.InstanceName(st.Name, g.instance))
	if err != nil {
		return asRoot(err)
	}
	for _, p := range removed {
		g.rep.Printf("removed %s", p)
	}
	return nil
}
