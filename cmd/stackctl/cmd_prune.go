package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/termsafe"
)

type pruneOptions struct {
	keep   int
	dryRun bool
	yes    bool
	json   bool
}

func (o *pruneOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.keep, "keep", 2, "how many generations to keep, the active one included, newest first")
	fs.BoolVar(&o.dryRun, "dry-run", false, "only list what would be removed")
	fs.BoolVarP(&o.yes, "yes", "y", false, "remove without asking (needed without a terminal)")
	fs.BoolVar(&o.json, "json", false, "print what is (with --dry-run, would be) removed and kept as JSON on stdout, and progress as JSON lines on stderr")
}

func newPruneCommand(g *globalOptions) *cobra.Command {
	o := &pruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune STACK",
		Short: "Remove old generations of a stack's data",
		Long: `Remove the generations of a stack's data beyond the newest --keep (the active
one always stays, and counts): their volumes, for good. It lists what it removes
first, and asks on a terminal; pass --yes where there is none, or --dry-run to
only see the list.`,
		Example: `  stackctl prune redmine --dry-run
  stackctl prune redmine --keep 3 --yes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrune(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runPrune(ctx context.Context, g *globalOptions, o *pruneOptions, args []string) error {
	s, err := g.open(ctx, args, stack.Change, "prune")
	if err != nil {
		return err
	}
	defer s.Close()
	st := s.Def
	plan, err := s.Prune(ctx, o.keep, true)
	if err != nil {
		return err
	}
	if o.json && (o.dryRun || len(plan.Removed) == 0) {
		return writeJSON(g.stdout, plan)
	}
	if len(plan.Removed) == 0 {
		g.rep.Printf("stack %s: nothing to prune: %d generation(s), --keep %d", st.Name, len(plan.Kept), o.keep)
		return nil
	}
	for _, x := range plan.Removed {
		if o.json {
			break
		}
		size := "size unknown"
		if x.Size >= 0 {
			size = backup.Bytes(x.Size)
		}
		fmt.Fprintf(g.stdout, "generation %d (%s, %s, %s): volumes %s\n", x.N, termsafe.String(x.What), x.At.Local().Format("2006-01-02 15:04"), size, strings.Join(x.Volumes, ", "))
	}
	if o.dryRun {
		return nil
	}
	if !o.yes {
		q := fmt.Sprintf("remove these %d generation(s) of stack %s and their data, for good?", len(plan.Removed), st.Name)
		if err := g.confirm(q, "--yes", errs.ErrInvalidInput); err != nil {
			return err
		}
	}
	res, err := s.Prune(ctx, o.keep, false)
	if err != nil {
		return err
	}
	g.rep.Printf("stack %s: removed %d generation(s); kept %v", st.Name, len(res.Removed), res.Kept)
	if o.json {
		return writeJSON(g.stdout, res)
	}
	return nil
}
