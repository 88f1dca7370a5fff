package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/stack"
)

type generateOptions struct {
	check bool
}

func (o *generateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.check, "check", false, "write nothing; fail (exit 2) when a generated file differs from its model")
}

func newGenerateCommand(g *globalOptions) *cobra.Command {
	o := &generateOptions{}
	cmd := &cobra.Command{
		Annotations: map[string]string{annotSiteFree: ""},
		Use:         "generate [STACK...]",
		Short:       "Write the stacks' compose files, and Swarm stack files, from their typed models",
		Long: `Write stacks/<stack>/compose.yaml from the typed compose model in internal/catalog,
and stacks/<stack>/swarm.yaml, the same model in the form Docker Swarm deploys, for a
stack that has one (redmine; docs/swarm.md). The files are generated, never edited by
hand; the test suite fails when a committed file drifts from its model.`,
		Example: `  stackctl generate
  stackctl generate nginx --check`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenerate(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runGenerate(_ context.Context, g *globalOptions, o *generateOptions, args []string) error {
	if len(args) == 0 {
		args = catalog.StackNames()
	}
	dir, err := g.repository("generate")
	if err != nil {
		return err
	}
	root := stack.BuildDir(dir)
	var drifted []string
	for _, name := range args {
		st, err := catalog.LookupStack(name)
		if err != nil {
			return err
		}
		files, err := root.Generated(st)
		if err != nil {
			return err
		}
		for _, path := range slices.Sorted(maps.Keys(files)) {
			have, _ := os.ReadFile(path)
			switch {
			case bytes.Equal(have, files[path]):
				g.rep.Printf("%s: up to date", path)
			case o.check:
				drifted = append(drifted, path)
			default:
				if err := os.WriteFile(path, files[path], 0o644); err != nil {
					return fmt.Errorf("writing %s: %w", path, err)
				}
				g.rep.Printf("%s: written", path)
			}
		}
	}
	if len(drifted) > 0 {
		return fmt.Errorf("%w: %v differ from their models: run 'stackctl generate'", errs.ErrInvalidInput, drifted)
	}
	return nil
}
