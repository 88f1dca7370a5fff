package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
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
