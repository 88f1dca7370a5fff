package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
)

type configOptions struct {
	profile string
}

func (o *configOptions) AddFlags(fs *pflag.FlagSet) {
	profileFlag(fs, &o.profile, envProfile(), profileUsage)
}

func newConfigCommand(g *globalOptions) *cobra.Command {
	o := &configOptions{}
	cmd := &cobra.Command{
		Use:   "config STACK",
		Short: "Print a stack's compose file as the Compose SDK will run it",
		Long: `Print a stack's compose file as the Compose SDK will run it: loaded, interpolated
for the base profile and normalized. The profile is the recorded one, else --profile;
with auto and nothing recorded, the engine is asked which applies.`,
		Example: `  stackctl config nginx --profile debian
  stackctl config nginx --profile upstream > /tmp/nginx-upstream.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfig(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runConfig(ctx context.Context, g *globalOptions, o *configOptions, args []string) error {
	profile, err := catalog.ParseProfile(o.profile)
	if err != nil {
		return err
	}
	s, err := g.open(ctx, args, stack.Read, "config")
	if err != nil {
		return err
	}
	defer s.Close()
	y, err := s.Config(ctx, profile)
	if err != nil {
		return err
	}
	_, err = g.stdout.Write(y)
	return err
}
