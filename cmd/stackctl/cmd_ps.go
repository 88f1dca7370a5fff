package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/stack"
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
	s, err := g.open(ctx, args, stack.Read, "ps")
	if err != nil {
		return err
	}
	defer s.Close()
	l, err := s.Ps(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(l.Header, "\t"))
	for _, row := range l.Rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
