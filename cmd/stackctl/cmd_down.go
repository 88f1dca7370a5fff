package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/stack"
)

type downOptions struct {
	volumes bool
}

func (o *downOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVarP(&o.volumes, "volumes", "v", false, "also remove the stack's named volumes, i.e. all its data, and forget its base profile")
}

func newDownCommand(g *globalOptions) *cobra.Command {
	o := &downOptions{}
	cmd := &cobra.Command{
		Use:   "down STACK",
		Short: "Stop and remove a stack's containers and network",
		Long: `Stop and remove a stack's containers and network. Named volumes, and with
them the stack's data, are kept unless --volumes is given.`,
		Example: `  stackctl down nginx
  stackctl down nginx --volumes   # start over: removes the data too`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDown(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runDown(ctx context.Context, g *globalOptions, o *downOptions, args []string) error {
	s, err := g.open(ctx, args, stack.Change, "down")
	if err != nil {
		return err
	}
	defer s.Close()
	said, err := s.Down(ctx, o.volumes)
	if err != nil {
		return err
	}
	g.rep.Printf("%s", said)
	return nil
}
