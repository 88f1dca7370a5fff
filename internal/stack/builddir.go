package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/swarm"
)

// BuildDir is the directory a site's stacks are built from, laid out as a
// checkout of stackctl's repository: stacks/ (the Dockerfiles, configuration and
// generated compose files), themes/ and .dockerignore, which the compose files'
// build contexts expect. It is the checkout itself, or the tree internal/site
// writes for any other site.
type BuildDir string

// StackDir is where a stack's Dockerfile, configuration and compose file live.
func (c BuildDir) StackDir(s catalog.Stack) string { return filepath.Join(string(c), "stacks", s.Name) }

// ComposeFile is the generated compose file of a stack.
func (c BuildDir) ComposeFile(s catalog.Stack) string {
	return filepath.Join(c.StackDir(s), "compose.yaml")
}

// Load reads the stack's compose file with compose-go under set, and labels it
// the way the Compose SDK's own loader does, so that Ps and Down find it.
func (c BuildDir) Load(ctx context.Context, s catalog.Stack, set catalog.Settings) (*types.Project, error) {
	env, err := s.Env(set)
	if err != nil {
		return nil, err
	}
	file := c.ComposeFile(s)
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(c.StackDir(s)),
		cli.WithEnv(envList(env)),
		cli.WithName(s.ComposeProject()),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", file, err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", file, err)
	}
	if set.Overrides.HTTPS {
		if err := s.PublishHTTPS(p, set.Listen); err != nil {
			return nil, err
		}
	}
	label(p)
	if err := stampContent(p); err != nil {
		return nil, fmt.Errorf("loading %s: %w", file, err)
	}
	return p, nil
}

// stampContent labels each of p's file-based configs with the SHA-256 of its
// file (catalog.ContentLabel), so that a service whose config file changed
// has another configuration hash.
func stampContent(p *types.Project) error {
	for name, c := range p.Configs {
		if c.File == "" {
			continue
		}
		b, err := os.ReadFile(c.File)
		if err != nil {
			return fmt.Errorf("config %s: %w", name, err)
		}
		sum := sha256.Sum256(b)
		c.Labels = maps.Clone(c.Labels)
		if c.Labels == nil {
			c.Labels = types.Labels{}
		}
		c.Labels[catalog.ContentLabel] = hex.EncodeToString(sum[:])
		p.Configs[name] = c
	}
	return nil
}

// label labels p's services the way the Compose SDK's own loader does, so that
// Ps and Down find them.
func label(p *types.Project) {
	for name, svc := range p.Services {
		labels := types.Labels{
			api.ProjectLabel:     p.Name,
			api.ServiceLabel:     name,
			api.VersionLabel:     api.ComposeVersion,
			api.WorkingDirLabel:  p.WorkingDir,
			api.ConfigFilesLabel: strings.Join(p.ComposeFiles, ","),
			api.OneoffLabel:      "False",
		}
		// Kept: what the model put there (catalog.ConfigLabel).
		maps.Copy(labels, svc.CustomLabels)
		svc.CustomLabels = labels
		p.Services[name] = svc
	}
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// Generated is every file generated from st's model, by its path under c:
// its compose file and, for a stack with a Swarm form, its Swarm stack file.
func (c BuildDir) Generated(st catalog.Stack) (map[string][]byte, error) {
	compose, err := catalog.Generate(st)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{c.ComposeFile(st): compose}
	if swarm.Supports(st) {
		if files[filepath.Join(c.StackDir(st), swarm.FileName)], err = swarm.Render(st, swarm.Options{}); err != nil {
			return nil, err
		}
	}
	return files, nil
}
