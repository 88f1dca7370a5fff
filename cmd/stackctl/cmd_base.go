package main

import (
	"context"
	"fmt"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
)

func newBaseCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Annotations: map[string]string{annotSiteFree: ""},
		Use:         "base",
		Short:       "Build the debian base images from a Debian mirror",
		Long: `The debian profile builds every stack on base images that stackctl makes itself
from a Debian mirror with mmdebstrap and imports into the engine, for hosts that
cannot pull from Docker Hub. Each honours the contract of its official twin, so
the stacks' Dockerfiles and compose files serve both profiles unchanged.`,
	}
	cmd.AddCommand(newBaseBuildCommand(g))
	return cmd
}

type baseBuildOptions struct {
	mirror string
	force  bool
}

func (o *baseBuildOptions) AddFlags(fs *pflag.FlagSet) {
	mirrorFlag(fs, &o.mirror)
	fs.BoolVar(&o.force, "force", false, "rebuild even when the image already matches its recipe")
}

func newBaseBuildCommand(g *globalOptions) *cobra.Command {
	o := &baseBuildOptions{}
	cmd := &cobra.Command{
		Use:   "build [BASE|all]",
		Short: "Build debian base images that are missing or whose recipe changed",
		Long: `Build debian base images that are missing or whose recipe changed.

The recipe's hash is recorded as the image label ` + basebuild.LabelRecipe + `; an image
whose label matches is left alone, so running this again is cheap. The image is
tagged only once it is complete: a failed or interrupted build leaves the previous
image, if any, in place.`,
		Example: `  stackctl base build nginx
  stackctl base build redmine:forky   # the base of a newer release ('stackctl upgrade')
  stackctl base build all --mirror http://mirror.example.internal/debian`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBaseBuild(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runBaseBuild(ctx context.Context, g *globalOptions, o *baseBuildOptions, args []string) error {
	names := catalog.BaseNames()
	if len(args) == 1 && args[0] != "all" {
		if _, err := catalog.LookupBase(args[0]); err != nil {
			return err
		}
		names = []string{args[0]}
	}
	d, err := g.connect(ctx)
	if err != nil {
		return err
	}
	bb := basebuild.Builder{Engine: d.Engine, Mirror: o.mirror, Force: o.force, Report: g.rep}
	for _, n := range names {
		b, _ := catalog.LookupBase(n)
		res, err := bb.Ensure(ctx, b)
		if err != nil {
			return err
		}
		state := "up to date"
		if res.Built {
			state = "built in " + res.Elapsed.Round(1e9).String()
		}
		fmt.Fprintf(g.stdout, "%s\t%s\t%s\n", res.Ref, units.HumanSize(float64(res.Size)), state)
	}
	return nil
}
