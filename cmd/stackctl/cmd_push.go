package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/registry"
)

type pushOptions struct {
	to      string
	profile string
}

func (o *pushOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.to, "to", "", "where to push: REGISTRY/REPOSITORY:TAG (Docker Hub when REGISTRY is left out)")
	profileFlag(fs, &o.profile, "", "push the image built on this profile, upstream or debian (default: the stack's recorded profile)")
}

func newPushCommand(g *globalOptions) *cobra.Command {
	o := &pushOptions{}
	cmd := &cobra.Command{
		Use:   "push STACK --to REGISTRY/REPOSITORY:TAG",
		Short: "Tag a stack's built image and push it to a registry",
		Long: `Tag a stack's built image (nginx: stackctl/nginx:<profile>; redmine:
stackctl/redmine:<profile>, with its themes) and push it through the Docker engine
to any registry, Docker Hub or another. Credentials come from the standard Docker
configuration, as 'docker login' leaves them ($DOCKER_CONFIG or ~/.docker). The
engine's progress is shown on stderr; the pushed image's digest reference is
printed on stdout.

Exits 3 when the image is not built yet, 4 when the registry cannot be reached,
23 when it wants credentials that are missing or refuses them.`,
		Example: `  docker login && stackctl push redmine --to myteam/redmine:6.0.5-harbor
  stackctl push nginx --to registry.example.com:5000/ops/nginx:1.0
  stackctl push redmine --profile upstream --to ghcr.io/myteam/redmine:6.0.10`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPush(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runPush(ctx context.Context, g *globalOptions, o *pushOptions, args []string) error {
	st, err := g.stackArg(args)
	if err != nil {
		return err
	}
	if o.to == "" {
		return fmt.Errorf("%w: say where to push with --to REGISTRY/REPOSITORY:TAG", errUsage)
	}
	target, err := registry.ParseTarget(o.to)
	if err != nil {
		return err
	}
	profile, err := pushProfile(o.profile)
	if err != nil {
		return err
	}
	d, err := g.connect(ctx)
	if err != nil {
		return err
	}
	image, err := pushedImage(ctx, g, d.Engine, st, profile)
	if err != nil {
		return err
	}
	p := registry.Pusher{API: d.CLI.Client(), Config: d.CLI.ConfigFile()}
	p.Progress, p.TTY, p.FD = g.toolOutput()
	g.rep.Printf("pushing %s as %s", image, target)
	start := time.Now()
	res, err := p.Push(ctx, image, target)
	if err != nil {
		return err
	}
	g.rep.Printf("pushed %s in %s", target, time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintln(g.stdout, res.Ref)
	return nil
}

// pushProfile is the profile --profile names ("" for none), checked before
// anything is reached: auto names no one image.
func pushProfile(profile string) (catalog.Profile, error) {
	if profile == "" {
		return "", nil
	}
	p, err := catalog.ParseProfile(profile)
	if err != nil {
		return "", err
	}
	if p == catalog.ProfileAuto {
		return "", fmt.Errorf("%w: --profile auto: say which image to push, upstream or debian", errUsage)
	}
	return p, nil
}

// pushedImage is the stack's image under the chosen profile: --profile, else the
// recorded one, else the one image of the two profiles that is built.
func pushedImage(ctx context.Context, g *globalOptions, e *engine.Engine, st catalog.Stack, profile catalog.Profile) (string, error) {
	sd, err := g.state()
	if err != nil {
		return "", err
	}
	state, err := sd.Load(st.Name)
	if err != nil {
		return "", err
	}
	// The image of the release the stack runs.
	release := state.ReleaseOf(state.Active)
	var candidates []catalog.Profile
	switch {
	case profile != "":
		candidates = []catalog.Profile{profile}
	default:
		if state.Profile != "" {
			candidates = []catalog.Profile{state.Profile}
		} else {
			candidates = []catalog.Profile{catalog.ProfileUpstream, catalog.ProfileDebian}
		}
	}
	var built []string
	for _, p := range candidates {
		ref := st.ImageRef(p, release)
		if _, found, err := e.Image(ctx, ref); err != nil {
			return "", err
		} else if found {
			built = append(built, ref)
		}
	}
	switch len(built) {
	case 1:
		return built[0], nil
	case 0:
		return "", fmt.Errorf("%w: image %s is not built yet: build it with 'stackctl up %s'", errs.ErrNotFound, st.ImageRef(candidates[0], release), st.Name)
	}
	return "", fmt.Errorf("%w: both %s and %s are built: choose one with --profile", errUsage, built[0], built[1])
}
