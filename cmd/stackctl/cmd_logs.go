package main

import (
	"context"

	"github.com/docker/compose/v5/cmd/formatter"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type logsOptions struct {
	follow     bool
	tail       string
	timestamps bool
}

func (o *logsOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.follow, "follow", "f", false, "keep streaming new log lines until interrupted")
	fs.StringVar(&o.tail, "tail", "all", "number of lines to show from the end of each container's log")
	fs.BoolVarP(&o.timestamps, "timestamps", "t", false, "prefix each line with its timestamp")
}

func newLogsCommand(g *globalOptions) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs STACK [SERVICE...]",
		Short: "Show a stack's container logs",
		Example: `  stackctl logs nginx
  stackctl logs nginx -f --tail 20`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runLogs(ctx context.Context, g *globalOptions, o *logsOptions, args []string) error {
	st, err := stackArg(args[:min(len(args), 1)])
	if err != nil {
		return err
	}
	if d, _, ok, err := g.onSwarm(st); err != nil {
		return err
	} else if ok {
		return d.Logs(ctx, st.ComposeProject(), args[1:], g.stdout, client.ServiceLogsOptions{
			Follow: o.follow, Tail: o.tail, Timestamps: o.timestamps,
		})
	}
	r, _, err := g.runner(ctx)
	if err != nil {
		return err
	}
	consumer := formatter.NewLogConsumer(ctx, g.stdout, g.stderr, g.stderrIsTerminal(), true, o.timestamps)
	return r.Logs(ctx, st, consumer, api.LogOptions{
		Services: args[1:], Follow: o.follow, Tail: o.tail, Timestamps: o.timestamps,
	})
}
