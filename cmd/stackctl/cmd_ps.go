package main

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/swarm"
)

func newPsCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "ps STACK",
		Short:   "List a stack's containers with their state, health and published ports",
		Example: `  stackctl ps nginx`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(cmd.Context(), g, args)
		},
	}
}

func runPs(ctx context.Context, g *globalOptions, args []string) error {
	st, err := stackArg(args)
	if err != nil {
		return err
	}
	if d, _, ok, err := g.onSwarm(st); err != nil {
		return err
	} else if ok {
		return psSwarm(ctx, g, d, st)
	}
	r, _, err := g.runner(ctx)
	if err != nil {
		return err
	}
	cs, err := r.Ps(ctx, st)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tCONTAINER\tSTATE\tHEALTH\tPORTS")
	for _, c := range cs {
		var ports []string
		for _, p := range c.Publishers {
			if p.PublishedPort != 0 {
				ports = append(ports, p.String())
			}
		}
		health := string(c.Health)
		if health == "" {
			health = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Service, c.Name, c.State, health, strings.Join(ports, ", "))
	}
	return tw.Flush()
}

// psSwarm lists the tasks of a stack on a swarm.
func psSwarm(ctx context.Context, g *globalOptions, d swarm.Deployer, st catalog.Stack) error {
	tasks, err := d.Tasks(ctx, st.ComposeProject())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSLOT\tNODE\tDESIRED\tSTATE\tSINCE\tERROR")
	for _, t := range tasks {
		slot := "-"
		if t.Slot > 0 {
			slot = strconv.Itoa(t.Slot)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Service, slot, t.Node, t.Desired, t.State,
			t.Since.UTC().Format(time.RFC3339), cmp.Or(t.Err, "-"))
	}
	return tw.Flush()
}
