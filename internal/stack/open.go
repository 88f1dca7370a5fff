package stack

import (
	"context"
	"errors"
	"fmt"

	"github.com/stackctl/stackctl/internal/report"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/state"
)

// Env holds what every verb needs, built once per run by the CLI's root
// command (tests build one with fakes): the clients, reached only when a verb
// first needs them, the state directory, the site and where progress goes.
type Env struct {
	// Connect reaches this engine: the Compose SDK and the engine handle.
	Connect func(ctx context.Context) (api.Compose, *engine.Engine, error)
	// Dial reaches another engine by its API address (a swarm's manager or
	// data node; "" is DOCKER_HOST's).
	Dial func(host string) (client.APIClient, error)
	// Push tags image as target and pushes it, returning the digest
	// reference the registry holds it under (a deploy on a swarm).
	Push func(ctx context.Context, image, target string) (string, error)
	// Build is the directory the site's stacks are built from.
	Build BuildDir
	// Instance tells apart copies of a stack on one engine (catalog.Stack.Instance).
	Instance string
	State    state.Dir
	// Settings reads the site's settings file: what it changes in the
	// stacks and its tls settings. A file with problems fails it.
	Settings func() (catalog.Overrides, https.Config, error)
	// NoWaitLock fails at once when another command changes the stack.
	NoWaitLock bool
	// Report receives stackctl's own progress lines.
	Report *report.Reporter
}

// Mode is what a command does to the stack it opens, which decides the lock
// it takes and how a settings file with problems is met.
type Mode int

const (
	// Read looks at the stack: no lock, and a bad settings file is reported
	// and left out (a typo must not keep an operator from looking).
	Read Mode = iota
	// Change changes the stack without starting it as the settings say
	// (down, a backup, prune, check-theme): its lock, what a stopped
	// stackctl left finished first, and a bad settings file left out.
	Change
	// Apply starts containers as the site's settings say (up, restore,
	// rollback, upgrade, renew): its lock, and a bad settings file refused.
	Apply
)

// Where a stack runs.
const (
	OnEngine = "engine"
	OnSwarm  = "swarm"
)

// OpenOptions are what Open needs beyond the stack's name and the mode.
type OpenOptions struct {
	// Purpose names the command for the lock's holder and for messages
	// ("up", "restore-volumes").
	Purpose string
	// On moves the stack: OnSwarm deploys it on a swarm, OnEngine brings a
	// stack taken off its swarm back to this engine; "" keeps it where it
	// runs (up --on).
	On string
}

// Stack is one stack opened for one command: its catalogue entry, its state
// as loaded once, its lock when the mode takes one, and the backend it runs
// on (this engine, or a swarm), chosen once from the state. Its verbs are the
// same on both; a verb a backend lacks answers ErrUnsupported.
type Stack struct {
	Def       catalog.Stack
	env       Env
	mode      Mode
	rec       state.State
	overrides catalog.Overrides
	https     https.Config
	b         backend
	// runner is this engine's runner once a verb connected it.
	runner *Runner
	unlock func()
}

// Open opens the stack name for a command that does mode to it: it takes
// the stack's lock when the mode changes it, reads the settings as the mode
// allows, loads the state once, chooses the backend and, for a change, has
// the backend finish or undo what a stopped stackctl left. Close gives the
// lock up.
func Open(ctx context.Context, env Env, name string, mode Mode, o OpenOptions) (*Stack, error) {
	def, err := catalog.LookupStack(name)
	if err != nil {
		return nil, err
	}
	if err := catalog.CheckInstance(env.Instance); err != nil {
		return nil, err
	}
	def.Instance = env.Instance
	if err := env.State.Check(); err != nil {
		return nil, err
	}
	s := &Stack{Def: def, env: env, mode: mode, unlock: func() {}}
	if s.overrides, s.https, err = s.readSettings(o.Purpose); err != nil {
		return nil, err
	}
	if mode != Read {
		if s.unlock, err = env.State.Lock(ctx, def.Name, state.LockOptions{
			Purpose: o.Purpose + " " + def.Name, NoWait: env.NoWaitLock,
			Waiting: func(holder string) {
				s.logf("stack %s is being changed by another stackctl (%s): waiting for it (Ctrl-C to give up)", def.Name, holder)
			},
		}); err != nil {
			return nil, err
		}
	}
	if err := s.open(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// open loads the state, moves the stack as o.On asks, chooses its backend
// and recovers it.
func (s *Stack) open(ctx context.Context, o OpenOptions) error {
	rec, err := s.env.State.Load(s.Def.Name)
	if err != nil {
		return err
	}
	switch o.On {
	case "":
	case OnSwarm:
		if rec.Swarm == nil {
			rec.Swarm = &state.Swarm{}
			s.rec = rec
			s.b = &swarmBackend{s: s, fresh: true}
			return nil
		}
	case OnEngine:
		if rec.Swarm != nil && !rec.Swarm.Down {
			return fmt.Errorf("%w: stack %s runs on a swarm (manager %s): take it down there first ('stackctl down %s')",
				errs.ErrInvalidInput, s.Def.Name, rec.Swarm.Manager, s.Def.Name)
		}
		if rec.Swarm != nil && s.mode != Read {
			// Off the swarm: this state directory now describes the stack here.
			s.logf("stack %s leaves the swarm (manager %s); its data stays in the volumes on node %s", s.Def.Name, rec.Swarm.Manager, rec.Swarm.DataNode)
			if err := s.env.State.Update(s.Def.Name, func(st *state.State) error { st.Swarm = nil; return nil }); err != nil {
				return err
			}
		}
		// A look (up --dry-run) sees the stack here and records nothing.
		rec.Swarm = nil
	default:
		return fmt.Errorf("%w: --on %q: give %s or %s", errs.ErrInvalidInput, o.On, OnEngine, OnSwarm)
	}
	s.rec = rec
	if rec.Swarm != nil {
		s.b = &swarmBackend{s: s}
	} else {
		s.b = &engineBackend{s: s}
	}
	if s.mode == Read {
		return nil
	}
	// What a stopped stackctl left half done is finished or undone first;
	// down goes ahead whatever that says, as the way out.
	if err := s.b.recover(ctx); err != nil {
		if o.Purpose != "down" {
			return err
		}
		s.logf("stack %s: finishing what a stopped stackctl left failed (%v): going down all the same", s.Def.Name, err)
	}
	return nil
}

// readSettings reads the site's settings: refused with problems when the
// command applies them, else reported and left out.
func (s *Stack) readSettings(purpose string) (catalog.Overrides, https.Config, error) {
	if s.env.Settings == nil {
		return catalog.Overrides{}, https.Config{}, nil
	}
	site, tls, err := s.env.Settings()
	if err == nil || s.mode == Apply {
		return site, tls, err
	}
	s.env.Report.Warnf("%v", err)
	s.env.Report.Warnf("%s goes on without the settings file, which it does not apply; fix the file before the next up", purpose)
	return catalog.Overrides{}, https.Config{}, nil
}

// Close gives up the stack's lock, if the mode took it, and closes the
// engines a swarm's verbs dialled.
func (s *Stack) Close() {
	if b, ok := s.b.(*swarmBackend); ok {
		b.close()
	}
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}

// Name is the stack's name.
func (s *Stack) Name() string { return s.Def.Name }

// Where says where the stack runs: OnEngine or OnSwarm.
func (s *Stack) Where() string { return s.b.where() }

// Place says where the stack runs, for messages: "this engine", "the swarm".
func (s *Stack) Place() string { return s.b.place() }

// State is the stack's state as Open loaded it.
func (s *Stack) State() state.State { return s.rec }

// Overrides is what the site's settings file changes in the stack.
func (s *Stack) Overrides() catalog.Overrides { return s.overrides }

// local is the runner on this engine, connected on first use.
func (s *Stack) local(ctx context.Context) (Runner, error) {
	if s.runner != nil {
		return *s.runner, nil
	}
	if s.env.Connect == nil {
		return Runner{}, fmt.Errorf("%w: no Docker engine to connect to", errs.ErrUnavailable)
	}
	c, e, err := s.env.Connect(ctx)
	if err != nil {
		return Runner{}, err
	}
	r := s.offline()
	r.Compose, r.Engine = c, e
	s.runner = &r
	return r, nil
}

// offline is the runner without an engine: what reads only the build
// directory and the state needs.
func (s *Stack) offline() Runner {
	return Runner{Stack: s.Def, Build: s.env.Build, State: s.env.State, Overrides: s.overrides, HTTPS: s.https, Report: s.env.Report}
}

// Runner is the runner the stack's data is read and written through, and
// the engine that holds the data: this engine's, or on a swarm, its data
// node's. Backups, restores, upgrades and status read the stack through it.
func (s *Stack) Runner(ctx context.Context) (Runner, *engine.Engine, error) {
	return s.b.data(ctx)
}

// Config is the stack's normalized compose YAML under profile, or the
// recorded one when profile is auto (which asks this engine what it has).
func (s *Stack) Config(ctx context.Context, profile catalog.Profile) ([]byte, error) {
	r := s.offline()
	if profile == catalog.ProfileAuto {
		var err error
		if r, err = s.local(ctx); err != nil {
			return nil, err
		}
	}
	return r.Config(ctx, profile)
}

func (s *Stack) logf(format string, args ...any) { s.env.Report.Printf(format, args...) }

// ErrUnsupported answers a verb the backend a stack runs on does not have.
var ErrUnsupported = errors.New("not supported where the stack runs")

// OnRunner is def on this engine driven by r (bound to def), its state as
// r's state directory has it, with no lock: what a test builds around fakes.
func OnRunner(def catalog.Stack, r Runner) (*Stack, error) {
	r = r.For(def)
	rec, err := r.State.Load(def.Name)
	if err != nil {
		return nil, err
	}
	s := &Stack{Def: def, env: Env{Build: r.Build, State: r.State, Report: r.Report}, rec: rec, overrides: r.Overrides, https: r.HTTPS, runner: &r}
	s.b = &engineBackend{s: s}
	return s, nil
}
