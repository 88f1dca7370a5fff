package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/stack"
)

type rollbackOptions struct {
	to      int
	timeout time.Duration
	dryRun  bool
	json    bool
}

func (o *rollbackOptions) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.to, "to", 0, "the generation to return to (default: the one that served before the active, else the newest older one)")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for the generation to become healthy")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what the rollback would do (the generation it returns to, its start and checks, the switch, the outage, what serves after); change nothing")
	fs.BoolVar(&o.json, "json", false, "print the result (with --dry-run, the plan) as JSON on stdout, and progress as JSON lines on stderr")
}

func newRollbackCommand(g *globalOptions) *cobra.Command {
	o := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback STACK",
		Short: "Serve an earlier generation of a stack's data again, without an outage",
		Long: `Serve an earlier generation of a stack's data again (see 'stackctl generations'):
the one before a restore, say. Its containers start beside the active generation,
which keeps serving; once they are healthy and answer a smoke check, nginx is
pointed at them (requests under way finish) and the active generation's
containers stop. Its volumes stay, reachable by another rollback, until
'stackctl prune' removes them. If the generation does not come up healthy, the
active one keeps serving and nothing changes.

On a stack deployed on a swarm, the generation's volumes on the data node are
deployed again: Redmine's tasks stop, Swarm replaces the database, and Redmine
starts on the generation's data; the tracker does not answer for that while.

With --dry-run, rollback refuses what it would refuse (no generation to return
to, one whose volumes are gone), with the same exit codes, and prints its plan
instead: what a stopped stackctl left and is finished or undone first, the
generation it returns to, its start beside the active one and its checks, where
nginx is pointed, the active generation's containers stopped and kept, whether
and how long the tracker would not answer, and what serves after. It takes no
lock and changes nothing; the rollback then does what it printed.`,
		Example: `  stackctl rollback redmine --dry-run   # which generation, and what serves after
  stackctl rollback redmine
  stackctl rollback redmine --to 1
  stackctl rollback redmine --to 1 --dry-run --json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRollback(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runRollback(ctx context.Context, g *globalOptions, o *rollbackOptions, args []string) error {
	if o.dryRun {
		// Looks only: no lock, nothing finished or recorded.
		s, err := g.open(ctx, args, stack.Read, "rollback --dry-run")
		if err != nil {
			return err
		}
		defer s.Close()
		plan, err := s.PlanRollback(ctx, o.to, stack.UpOptions{Timeout: o.timeout})
		if err != nil {
			return err
		}
		return writePlan(g.stdout, plan, o.json)
	}
	s, err := g.open(ctx, args, stack.Apply, "rollback")
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	res, err := s.Rollback(ctx, o.to, stack.UpOptions{Timeout: o.timeout})
	if err != nil {
		return err
	}
	took := time.Since(start).Round(100 * time.Millisecond)
	g.rep.Printf("stack %s serves generation %d again (generation %d is kept) in %s", s.Name(), res.To, res.From, took)
	if o.json {
		return writeJSON(g.stdout, rollbackResult{Stack: s.Name(), Generation: res.To, From: res.From, URL: res.URL, Seconds: took.Seconds()})
	}
	fmt.Fprintln(g.stdout, res.URL)
	return nil
}

// rollbackResult is what rollback prints with --json.
type rollbackResult struct {
	Stack string `json:"stack"`
	// Generation serves now; From served before and is kept.
	Generation int     `json:"generation"`
	From       int     `json:"from"`
	URL        string  `json:"url"`
	Seconds    float64 `json:"seconds"`
}
