package main

import (
	"cmp"
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/termsafe"
)

type generationsOptions struct {
	json bool
}

func (o *generationsOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print the generations as a JSON array")
}

func newGenerationsCommand(g *globalOptions) *cobra.Command {
	o := &generationsOptions{}
	cmd := &cobra.Command{
		Use:   "generations STACK",
		Short: "List the generations of a stack's data, the active one marked",
		Long: `List the generations of a stack's data: each is a set of the stack's data volumes,
made by its first start or by a restore, with the images it last ran on. One is
active (nginx serves it); the others stay, reachable with 'stackctl rollback',
until 'stackctl prune' removes them. Sizes are what du counts in each generation's
volumes, from a throwaway container of the stack's own image ("unknown" when a
volume is missing or that image is).`,
		Example: `  stackctl generations redmine
  stackctl generations redmine --json | jq '.[] | select(.active) | .n'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenerations(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runGenerations(ctx context.Context, g *globalOptions, o *generationsOptions, args []string) error {
	s, err := g.open(ctx, args, stack.Read, "generations")
	if err != nil {
		return err
	}
	defer s.Close()
	st := s.Def
	gens, err := s.Generations(ctx)
	if err != nil {
		return err
	}
	if o.json {
		return writeJSONArray(g.stdout, gens)
	}
	if len(gens) == 0 {
		g.rep.Printf("stack %s has no generations yet: 'stackctl up %s' makes the first", st.Name, st.Name)
		return nil
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GEN\tACTIVE\tRELEASE\tMADE\tWHEN\tSIZE\tSTATUS")
	for _, x := range gens {
		active, status, size := "", "ready", "unknown"
		if x.Active {
			active = "*"
		}
		if !x.Ready {
			status = "unfinished"
		}
		if x.Size >= 0 {
			size = backup.Bytes(x.Size)
		}
		// What made it names the archive it was restored from: escaped.
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", x.N, active, termsafe.String(cmp.Or(x.Release, catalog.DefaultRelease)), termsafe.String(x.What), x.At.Local().Format("2006-01-02 15:04"), size, status)
	}
	return tw.Flush()
}
