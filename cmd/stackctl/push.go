package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/registry"
)

// push tags image as target and pushes it through this engine d, with the
// standard Docker configuration's credentials, returning the digest reference.
func (g *globalOptions) push(ctx context.Context, d *engine.Docker, image, target string) (string, error) {
	p := registry.Pusher{API: d.CLI.Client(), Config: d.CLI.ConfigFile()}
	p.Progress, p.TTY, p.FD = g.toolOutput()
	t, err := registry.ParseTarget(target)
	if err != nil {
		return "", err
	}
	res, err := p.Push(ctx, image, t)
	if err != nil {
		return "", err
	}
	return res.Ref, nil
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
