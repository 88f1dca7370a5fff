package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
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
	st, err := stackArg(args)
	if err != nil {
		return err
	}
	if d, rec, ok, err := g.onSwarm(st); err != nil {
		return err
	} else if ok {
		return downSwarm(ctx, g, o, d, rec, st)
	}
	r, _, release, err := g.changing(ctx, st, "down")
	if err != nil {
		return err
	}
	defer release()
	if err := r.Down(ctx, st, o.volumes); err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "stack %s is down\n", st.Name)
	return nil
}

// downSwarm takes a stack off its swarm. Its volumes are node-local, on the
// nodes that ran its tasks, out of the manager's reach: stackctl does not
// remove them, and says where they are.
func downSwarm(ctx context.Context, g *globalOptions, o *downOptions, d swarm.Deployer, rec state.Swarm, st catalog.Stack) error {
	if o.volumes {
		return fmt.Errorf("%w: stack %s runs on a swarm, whose volumes are node-local (the database's on node %s): "+
			"take the stack down without --volumes, then remove the volumes labelled com.docker.stack.namespace=%s on each node with 'docker volume rm'",
			errs.InvalidInput, st.Name, rec.DataNode, st.ComposeProject())
	}
	release, err := g.lock(ctx, st, "down")
	if err != nil {
		return err
	}
	defer release()
	if err := d.Remove(ctx, st.ComposeProject()); err != nil {
		return err
	}
	sd, err := g.state()
	if err != nil {
		return err
	}
	if err := sd.Update(st.Name, func(s *state.State) error {
		if s.Swarm != nil {
			s.Swarm.Down = true
		}
		return nil
	}); err != nil {
		return fmt.Errorf("recording that stack %s is off the swarm: %w", st.Name, err)
	}
	fmt.Fprintf(g.stderr, "stack %s is off the swarm; its data stays in the volumes on node %s, which the next 'stackctl up %s' uses again ('up %s --on engine' runs it on this engine instead, without that data)\n", st.Name, rec.DataNode, st.Name, st.Name)
	return nil
}
