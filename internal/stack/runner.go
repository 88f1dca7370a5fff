package stack

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// Engine is what the runner needs from the Docker engine beside the Compose
// SDK: images for the profile choice and the debian bases, and exec for a
// stack's first start. engine.Engine has it.
type Engine interface {
	Availability
	basebuild.Images
	Exec(ctx context.Context, container string, cmd []string, o engine.ExecOptions) error
}

// Runner runs the catalogue's stacks through the Compose SDK, in-process.
type Runner struct {
	Compose  api.Compose
	Engine   Engine
	Checkout Checkout
	State    state.Dir
	// Log receives stackctl's own progress lines (the SDK renders its own events).
	Log io.Writer
}

// Container returns the ID of the running container of service in st.
func (r Runner) Container(ctx context.Context, st catalog.Stack, service string) (string, error) {
	cs, err := r.Ps(ctx, st)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.Service == service && c.State == "running" {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("%w: service %s of stack %s is not running: see 'stackctl ps %s'", errs.NotRunning, service, st.Name, st.Name)
}

// Persistence describes the named volumes of the stack as last started.
func (r Runner) Persistence(ctx context.Context, st catalog.Stack) (catalog.Persistence, error) {
	p, err := r.recorded(ctx, st)
	if err != nil {
		return catalog.Persistence{}, err
	}
	return catalog.PersistenceOf(st, p), nil
}

// Down stops and removes the stack's containers and network; with volumes it also
// removes its named volumes, and forgets the recorded profile with them.
func (r Runner) Down(ctx context.Context, st catalog.Stack, volumes bool) error {
	p, err := r.recorded(ctx, st)
	if err != nil {
		return err
	}
	if volumes {
		var names []string
		for _, mt := range catalog.PersistenceOf(st, p).Mounts {
			names = append(names, mt.Name)
		}
		r.logf("stack %s: removing its containers and its data: volumes %s", st.Name, strings.Join(names, ", "))
	}
	if err := r.Compose.Down(ctx, p.Name, api.DownOptions{Project: p, RemoveOrphans: true, Volumes: volumes}); err != nil {
		return fmt.Errorf("stopping %s: %w", st.Name, err)
	}
	if volumes {
		return r.State.Forget(st.Name)
	}
	return nil
}

// Ps lists the stack's containers; errs.NotRunning when there are none.
func (r Runner) Ps(ctx context.Context, st catalog.Stack) ([]api.ContainerSummary, error) {
	cs, err := r.Compose.Ps(ctx, st.ComposeProject(), api.PsOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", st.Name, err)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w: stack %s has no containers: start it with 'stackctl up %s'", errs.NotRunning, st.Name, st.Name)
	}
	return cs, nil
}

// Logs streams the stack's container logs to consumer.
func (r Runner) Logs(ctx context.Context, st catalog.Stack, consumer api.LogConsumer, o api.LogOptions) error {
	if _, err := r.Ps(ctx, st); err != nil {
		return err
	}
	p, err := r.recorded(ctx, st)
	if err != nil {
		return err
	}
	o.Project = p
	return r.Compose.Logs(ctx, p.Name, consumer, o)
}

// Config returns the stack's normalized compose YAML under the given profile,
// or the recorded one when profile is auto.
func (r Runner) Config(ctx context.Context, st catalog.Stack, profile catalog.Profile) ([]byte, error) {
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return nil, err
	}
	choice, err := ChooseProfile(ctx, st, profile, rec.Profile, r.Engine)
	if err != nil {
		return nil, err
	}
	p, err := r.load(ctx, st, choice.Profile, rec.Listen)
	if err != nil {
		return nil, err
	}
	return p.MarshalYAML()
}

// recorded loads the stack as it was last started. A stack never started loads
// as upstream: only names matter then, and they do not depend on the profile.
func (r Runner) recorded(ctx context.Context, st catalog.Stack) (*types.Project, error) {
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return nil, err
	}
	profile := rec.Profile
	if profile == "" {
		profile = catalog.ProfileUpstream
	}
	return r.load(ctx, st, profile, rec.Listen)
}

// load reads st's compose project under profile, published on listen (or the
// default), with the stack's secrets that exist.
func (r Runner) load(ctx context.Context, st catalog.Stack, profile catalog.Profile, listen string) (*types.Project, error) {
	secrets, err := r.State.SecretValues(st)
	if err != nil {
		return nil, err
	}
	return r.Checkout.Load(ctx, st, catalog.Settings{Profile: profile, Listen: cmp.Or(listen, catalog.DefaultListen), Secrets: secrets})
}

func (r Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}
