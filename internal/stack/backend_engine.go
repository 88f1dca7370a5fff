package stack

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/compose/v5/cmd/formatter"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
)

// engineBackend runs the stack on this engine through the Compose SDK.
type engineBackend struct{ s *Stack }

func (b *engineBackend) where() string { return OnEngine }
func (b *engineBackend) place() string { return "this engine" }

// supports every verb: this engine is where stackctl began.
func (b *engineBackend) supports(Verb) error { return nil }

func (b *engineBackend) recover(ctx context.Context) error {
	r, err := b.s.local(ctx)
	if err != nil {
		return err
	}
	return r.Recover(ctx)
}

func (b *engineBackend) plan(ctx context.Context, o UpOptions) (Plan, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return Plan{}, err
	}
	return r.PlanUp(ctx, o)
}

func (b *engineBackend) up(ctx context.Context, o UpOptions) (UpResult, error) {
	if o.Swarm.set() {
		return UpResult{}, fmt.Errorf("%w: %s are for a stack on a swarm; stack %s runs on this engine (up --on swarm deploys it there)",
			errs.ErrInvalidInput, strings.Join(o.Swarm.flags(), ", "), b.s.Def.Name)
	}
	r, err := b.s.local(ctx)
	if err != nil {
		return UpResult{}, err
	}
	return r.Up(ctx, o)
}

func (b *engineBackend) down(ctx context.Context, volumes bool) (string, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return "", err
	}
	if err := r.Down(ctx, volumes); err != nil {
		return "", err
	}
	return fmt.Sprintf("stack %s is down", b.s.Def.Name), nil
}

func (b *engineBackend) ps(ctx context.Context) (Listing, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return Listing{}, err
	}
	cs, err := r.Ps(ctx)
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Header: []string{"SERVICE", "CONTAINER", "STATE", "HEALTH", "PORTS"}}
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
		l.Rows = append(l.Rows, []string{c.Service, c.Name, string(c.State), health, strings.Join(ports, ", ")})
	}
	return l, nil
}

func (b *engineBackend) logs(ctx context.Context, o LogsOptions) error {
	r, err := b.s.local(ctx)
	if err != nil {
		return err
	}
	consumer := formatter.NewLogConsumer(ctx, o.Out, o.Err, o.Color, true, o.Timestamps)
	return r.Logs(ctx, consumer, api.LogOptions{Services: o.Services, Follow: o.Follow, Tail: o.Tail, Timestamps: o.Timestamps})
}

func (b *engineBackend) newGeneration(ctx context.Context, seed Seed, made, source string, o GenOptions) (NewResult, error) {
	if len(o.FilesVolume) > 0 {
		return NewResult{}, fmt.Errorf("%w: --files-volume is for a stack on a swarm; stack %s runs on this engine", errs.ErrInvalidInput, b.s.Def.Name)
	}
	r, err := b.s.local(ctx)
	if err != nil {
		return NewResult{}, err
	}
	return r.NewGeneration(ctx, seed, made, source, o.Up)
}

func (b *engineBackend) trial(ctx context.Context, seed Seed, source string, o UpOptions) (TrialResult, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return TrialResult{}, err
	}
	return r.Trial(ctx, seed, source, o)
}

func (b *engineBackend) rollback(ctx context.Context, to int, o UpOptions) (RollbackResult, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return RollbackResult{}, err
	}
	return r.Rollback(ctx, to, o)
}

func (b *engineBackend) generations(ctx context.Context) ([]GenerationInfo, error) {
	if len(b.s.rec.Generations) == 0 {
		// None recorded (never started, or no data): the state answers alone.
		return b.s.offline().Generations(ctx)
	}
	r, err := b.s.local(ctx)
	if err != nil {
		return nil, err
	}
	return r.Generations(ctx)
}

func (b *engineBackend) prune(ctx context.Context, keep int, dryRun bool) (PruneResult, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return PruneResult{}, err
	}
	return r.Prune(ctx, keep, dryRun)
}

func (b *engineBackend) applyHTTPS(ctx context.Context, force bool) (HTTPSResult, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return HTTPSResult{}, err
	}
	return r.ApplyHTTPS(ctx, force)
}

func (b *engineBackend) access(ctx context.Context, service string) (Access, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return Access{}, err
	}
	return r.Access(ctx, service)
}

func (b *engineBackend) data(ctx context.Context) (Runner, *engine.Engine, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return Runner{}, nil, err
	}
	e, _ := r.Engine.(*engine.Engine)
	return r, e, nil
}

func (b *engineBackend) onEngine(ctx context.Context, _ Verb) (Runner, error) {
	return b.s.local(ctx)
}
