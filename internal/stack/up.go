package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/state"
)

// UpOptions are the operator's choices for Up.
type UpOptions struct {
	Profile catalog.Profile
	// Listen overrides the recorded or default host address:port; empty keeps it.
	Listen string
	// Mirror and RebuildBases apply to debian bases.
	Mirror       string
	RebuildBases bool
	// Timeout bounds each wait for the stack to become healthy and answer.
	Timeout time.Duration
	// NoWait returns once containers are created and started, without waiting
	// for health; a first start's configuration then waits for the next up.
	NoWait bool
	// Seed, when set (never with NoWait), fills the stack's volumes before its applications run on
	// them: a restore.
	Seed Seed
	// ReplaceVolumes removes the stack's containers and volumes once its images
	// are built and Seed has checked them, so that Seed fills fresh ones.
	ReplaceVolumes bool
}

// A Seed fills a stack's new volumes during Up, before the applications first
// run on them.
type Seed interface {
	// Check runs once the images are built, before anything changes: refuse here.
	Check(ctx context.Context, p Prepared) error
	// Begin runs once the volumes and containers are created, before any of
	// them starts: slow preparations start here, in the background.
	Begin(ctx context.Context, p Prepared) error
	// Fill runs once the stack's database (if it has one), alone, is healthy;
	// the rest of the stack starts when it returns.
	Fill(ctx context.Context, p Prepared) error
}

// UpResult is what Up reports back.
type UpResult struct {
	Choice Choice
	URL    string
	// AdminPasswordFile holds the generated administrator password, for stacks that have one.
	AdminPasswordFile string
}

// Prepared is a stack ready to be built and created: profile chosen and
// recorded, bases and secrets in place, compose project loaded.
type Prepared struct {
	Stack   catalog.Stack
	Choice  Choice
	State   state.State
	Project *types.Project
}

const defaultTimeout = 5 * time.Minute

// Up is the one start-up sequence of a stack, for up and restore alike: choose
// the profile, build what is missing (bases, then images), let a Seed check the
// images, create, let it fill the volumes, start, wait until every service is
// healthy and the entry URL answers, and run the stack's first start once.
// Running it again changes nothing.
func (r Runner) Up(ctx context.Context, st catalog.Stack, o UpOptions) (UpResult, error) {
	if o.Seed != nil && o.NoWait {
		return UpResult{}, errors.New("a seeded start waits for health: only then is its data marked as set up")
	}
	timeout := cmp.Or(o.Timeout, defaultTimeout)
	prep, err := r.prepare(ctx, st, o)
	if err != nil {
		return UpResult{}, err
	}
	if err := r.create(ctx, &prep, o, timeout); err != nil {
		return UpResult{}, err
	}
	if err := r.start(ctx, st.Name, prep.Project, !o.NoWait, timeout); err != nil {
		return UpResult{}, err
	}
	res := UpResult{Choice: prep.Choice}
	if res.URL, err = catalog.EntryURL(prep.State.Listen); err != nil {
		return UpResult{}, err
	}
	if o.NoWait {
		return res, nil
	}
	if err := waitHTTP(ctx, res.URL, timeout); err != nil {
		return UpResult{}, fmt.Errorf("stack %s started but %s does not answer: %w: see 'stackctl logs %s'", st.Name, res.URL, err, st.Name)
	}
	if err := r.configure(ctx, prep); err != nil {
		return UpResult{}, err
	}
	// Only now is the password set, on a first start.
	if st.HasSecret(catalog.AdminPassword) {
		res.AdminPasswordFile = r.State.SecretPath(st.Name, catalog.AdminPassword)
	}
	return res, nil
}

// prepare chooses the profile, builds missing debian bases, generates missing
// secrets, loads the project and records the profile.
func (r Runner) prepare(ctx context.Context, st catalog.Stack, o UpOptions) (Prepared, error) {
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return Prepared{}, err
	}
	choice, err := ChooseProfile(ctx, st, o.Profile, rec.Profile, r.Engine)
	if err != nil {
		return Prepared{}, err
	}
	r.logf("stack %s: base %s (%s)", st.Name, choice.Profile, choice.Reason)
	if choice.Profile == catalog.ProfileDebian {
		bb := basebuild.Builder{Engine: r.Engine, Mirror: o.Mirror, Force: o.RebuildBases, Log: r.Log}
		for _, b := range st.Bases() {
			if _, err := bb.Ensure(ctx, b); err != nil {
				return Prepared{}, err
			}
		}
	}
	if err := r.State.EnsureSecrets(st); err != nil {
		return Prepared{}, err
	}
	listen := cmp.Or(o.Listen, rec.Listen, catalog.DefaultListen)
	p, err := r.load(ctx, st, choice.Profile, listen)
	if err != nil {
		return Prepared{}, err
	}
	if rec.Profile == "" {
		rec.FirstUpAt = time.Now().UTC()
	}
	rec.Profile, rec.Listen = choice.Profile, listen
	if err := r.State.Save(st.Name, rec); err != nil {
		return Prepared{}, fmt.Errorf("recording the profile of %s: %w", st.Name, err)
	}
	return Prepared{Stack: st, Choice: choice, State: rec, Project: p}, nil
}

// create builds the stack's images, lets a seed check them, replaces the
// volumes when asked, and creates what diverged from the model (so that a
// second up changes nothing); a seed then fills the new volumes.
func (r Runner) create(ctx context.Context, prep *Prepared, o UpOptions, timeout time.Duration) error {
	name := prep.Stack.Name
	if err := r.Compose.Build(ctx, prep.Project, api.BuildOptions{Deps: true}); err != nil {
		return fmt.Errorf("building %s: %w", name, err)
	}
	if o.Seed != nil {
		if err := o.Seed.Check(ctx, *prep); err != nil {
			return err
		}
	}
	if o.ReplaceVolumes {
		if err := r.replace(ctx, prep); err != nil {
			return err
		}
	}
	err := r.Compose.Create(ctx, prep.Project, api.CreateOptions{
		RemoveOrphans: true, Recreate: api.RecreateDiverged, RecreateDependencies: api.RecreateDiverged,
	})
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	if o.Seed != nil {
		return r.seed(ctx, *prep, o.Seed, timeout)
	}
	return nil
}

// configure runs the stack's first start on data that does not carry its mark,
// and marks the data: whether a stack is configured is a fact of its database,
// never a record that could outlive the volumes (removed behind stackctl's
// back, the next start must not leave Redmine's default admin login open). Data
// a seed brought gets it too: the first start leaves data set up before alone,
// and a backup of a stack that never had it must not restore an open login.
func (r Runner) configure(ctx context.Context, prep Prepared) error {
	st := prep.Stack
	if st.FirstStart == nil {
		return nil
	}
	done, err := r.configured(ctx, st)
	if err != nil || done {
		return err
	}
	if err := r.firstStart(ctx, st, st.FirstStart); err != nil {
		return err
	}
	return r.markConfigured(ctx, st)
}

// replace removes the stack's containers and volumes.
func (r Runner) replace(ctx context.Context, prep *Prepared) error {
	p := prep.Project
	if err := r.Compose.Down(ctx, p.Name, api.DownOptions{Project: p, RemoveOrphans: true, Volumes: true}); err != nil {
		return fmt.Errorf("removing the data of %s: %w", prep.Stack.Name, err)
	}
	return nil
}

// seed lets s fill the created stack: its database starts alone (a fresh
// PostgreSQL initialises an empty database for the seed), then s fills it.
func (r Runner) seed(ctx context.Context, prep Prepared, s Seed, timeout time.Duration) error {
	if err := s.Begin(ctx, prep); err != nil {
		return err
	}
	if d := prep.Stack.Database; d != nil {
		p, err := prep.Project.WithSelectedServices([]string{d.Service})
		if err != nil {
			return fmt.Errorf("starting %s: %w", prep.Stack.Name, err)
		}
		if err := r.start(ctx, prep.Stack.Name, p, true, timeout); err != nil {
			return err
		}
	}
	return s.Fill(ctx, prep)
}

// start starts every service of p, a project of stack name (the SDK starts all
// it is given), waiting until they are healthy when wait is set.
func (r Runner) start(ctx context.Context, name string, p *types.Project, wait bool, timeout time.Duration) error {
	if err := r.Compose.Start(ctx, p.Name, api.StartOptions{Project: p, Wait: wait, WaitTimeout: timeout}); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	return nil
}

// firstStart runs the stack's first-start command in its service's container,
// with the named secret on standard input.
func (r Runner) firstStart(ctx context.Context, st catalog.Stack, fs *catalog.FirstStart) error {
	id, err := r.Container(ctx, st, fs.Service)
	if err != nil {
		return err
	}
	o := engine.ExecOptions{}
	if fs.StdinSecret != "" {
		v, err := r.State.ReadSecret(st.Name, fs.StdinSecret)
		if err != nil {
			return err
		}
		o.Stdin = strings.NewReader(v + "\n")
	}
	r.logf("stack %s: first start: %s", st.Name, fs.Says)
	if err := r.Engine.Exec(ctx, id, fs.Command, o); err != nil {
		return fmt.Errorf("first start of %s: %w", st.Name, err)
	}
	return nil
}
