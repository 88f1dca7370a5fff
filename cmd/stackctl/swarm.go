package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/docker/cli/cli/streams"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/registry"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
)

// swarmAPI is a client of the swarm manager at host (tcp://…, unix://…,
// ssh is not supported), or of DOCKER_HOST's engine when host is empty.
func swarmAPI(host string) (client.APIClient, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: the swarm manager %q: %v", errs.InvalidInput, host, err)
	}
	return c, nil
}

// onSwarm returns a deployer of st's swarm when st's state says it runs on
// one; ok is false for a stack on this engine.
func (g *globalOptions) onSwarm(st catalog.Stack) (d swarm.Deployer, rec state.Swarm, ok bool, err error) {
	sd, err := g.state()
	if err != nil {
		return swarm.Deployer{}, state.Swarm{}, false, err
	}
	s, err := sd.Load(st.Name)
	if err != nil || s.Swarm == nil {
		return swarm.Deployer{}, state.Swarm{}, false, err
	}
	api, err := swarmAPI(s.Swarm.Manager)
	if err != nil {
		return swarm.Deployer{}, state.Swarm{}, false, err
	}
	return swarm.Deployer{API: api, Log: g.stderr}, *s.Swarm, true, nil
}

// swarmData is what a restore or a rollback of st needs on its swarm: its
// manager, and its data node's engine; ok is false for a stack on this engine.
func (g *globalOptions) swarmData(st catalog.Stack, files []string, timeout time.Duration) (so stack.SwarmDataOptions, ok bool, err error) {
	d, rec, ok, err := g.onSwarm(st)
	if err != nil || !ok {
		return stack.SwarmDataOptions{}, false, err
	}
	if rec.DataNodeHost == "" {
		return stack.SwarmDataOptions{}, false, fmt.Errorf("%w: stack %s runs on a swarm, and stackctl does not know the API address of its data node %s's engine, "+
			"where the data is: deploy again with --data-node-host tcp://ADDRESS:PORT", swarm.ErrRefused, st.Name, rec.DataNode)
	}
	api, err := swarmAPI(rec.DataNodeHost)
	if err != nil {
		return stack.SwarmDataOptions{}, false, err
	}
	fv, err := parseDriverOpts(files)
	if err != nil {
		return stack.SwarmDataOptions{}, false, err
	}
	return stack.SwarmDataOptions{Manager: d.API, Data: &engine.Engine{API: api}, FilesVolume: fv, Timeout: timeout}, true, nil
}

// pusher pushes through this engine with the standard Docker configuration's credentials.
func (g *globalOptions) pusher(ctx context.Context) (func(ctx context.Context, image, target string) (string, error), error) {
	d, err := g.connect(ctx)
	if err != nil {
		return nil, err
	}
	p := registry.Pusher{API: d.CLI.Client(), Config: d.CLI.ConfigFile(), Progress: g.stderr}
	if f, ok := g.stderr.(*os.File); ok {
		out := streams.NewOut(f)
		p.TTY, p.FD = out.IsTerminal(), out.FD()
	}
	return func(ctx context.Context, image, target string) (string, error) {
		t, err := registry.ParseTarget(target)
		if err != nil {
			return "", err
		}
		res, err := p.Push(ctx, image, t)
		if err != nil {
			return "", err
		}
		return res.Ref, nil
	}, nil
}

// parseDriverOpts reads KEY=VALUE pairs, as --files-volume gives them.
func parseDriverOpts(pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: --files-volume %q: give the local driver's options as KEY=VALUE, "+
				"such as type=nfs,o=addr=10.0.0.5,device=:/export/redmine-files", errUsage, p)
		}
		out[k] = v
	}
	return out, nil
}
