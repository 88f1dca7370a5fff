package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/stack"
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
	s, err := g.open(ctx, args[:min(len(args), 1)], stack.Read, "logs")
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Logs(ctx, stack.LogsOptions{
		Services: args[1:], Follow: o.follow, Tail: o.tail, Timestamps: o.timestamps,
		Out: g.stdout, Err: g.stderr, Color: g.stderrIsTerminal(),
	})
}
