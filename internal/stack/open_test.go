package stack

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/report"
	"github.com/stackctl/stackctl/internal/state"
)

// testEnv is an Env on a fresh state directory whose engine is a fake
// Compose with no containers (what Open's recovery reads), counting connects.
type testEnv struct {
	Env
	log      *bytes.Buffer
	connects int
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{log: &bytes.Buffer{}}
	e.Env = Env{Build: repoRoot(t), State: state.Dir(t.TempDir()), NoWaitLock: true, Report: report.New(e.log, report.Options{})}
	e.Connect = func(context.Context) (api.Compose, *engine.Engine, error) {
		e.connects++
		// Recovery of a stack without records asks the SDK only.
		return &fakeCompose{ps: []api.ContainerSummary{}}, nil, nil
	}
	return e
}

// badSettings is a settings file with a problem.
func badSettings() (catalog.Overrides, https.Config, error) {
	return catalog.Overrides{}, https.Config{}, errors.New("stackctl.yaml:3: unknown key \"listn\"")
}

func goodSettings() (catalog.Overrides, https.Config, error) {
	return catalog.Overrides{HTTPListen: "127.0.0.1:8081"}, https.Config{Mode: https.ModeOff}, nil
}

// TestOpenModes: a settings file with problems is refused only by a command
// that applies it, reported and left out otherwise; Read takes no lock and
// touches no engine, Change and Apply hold the stack's lock until Close and
// recover the stack through the engine first.
func TestOpenModes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mode     Mode
		settings func() (catalog.Overrides, https.Config, error)
		refused  bool
		// applied: the settings reach the stack.
		applied, locks bool
	}{
		{name: "read, bad settings left out", mode: Read, settings: badSettings},
		{name: "read, settings applied", mode: Read, settings: goodSettings, applied: true},
		{name: "change, bad settings left out", mode: Change, settings: badSettings, locks: true},
		{name: "apply, bad settings refused", mode: Apply, settings: badSettings, refused: true},
		{name: "apply, settings applied", mode: Apply, settings: goodSettings, applied: true, locks: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			env.Settings = tc.settings
			s, err := Open(t.Context(), env.Env, "redmine", tc.mode, OpenOptions{Purpose: "up"})
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), "stackctl.yaml:3") {
					t.Fatalf("Open = %v, want the settings file's problem", err)
				}
				if env.connects != 0 {
					t.Errorf("a refused open connected to the engine")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Overrides().HTTPListen != ""; got != tc.applied {
				t.Errorf("settings applied: %v, want %v", got, tc.applied)
			}
			if left := strings.Contains(env.log.String(), "up goes on without the settings file"); left == tc.applied {
				t.Errorf("log %q: says the settings were left out: %v, want %v", env.log, left, !tc.applied)
			}
			if recovered := env.connects == 1; recovered != tc.locks {
				t.Errorf("connected %d times: want a recovery only when the mode changes the stack", env.connects)
			}
			if s.Name() != "redmine" || s.Where() != OnEngine || s.Place() != "this engine" {
				t.Errorf("name %q where %q place %q", s.Name(), s.Where(), s.Place())
			}
			// Another command that changes the stack meanwhile: busy exactly while a lock is held.
			other, err := Open(t.Context(), env.Env, "redmine", Change, OpenOptions{Purpose: "down"})
			if busy := errors.Is(err, errs.ErrBusy); busy != tc.locks {
				t.Fatalf("a second open while this one is open: %v; want busy: %v", err, tc.locks)
			}
			if err == nil {
				other.Close()
			}
			s.Close()
			s.Close() // twice is harmless
			again, err := Open(t.Context(), env.Env, "redmine", Change, OpenOptions{Purpose: "down"})
			if err != nil {
				t.Fatalf("open after Close: %v", err)
			}
			again.Close()
		})
	}
}

// TestOpenRefusesBeforeLocking: an unknown stack and an unsafe state
// directory are refused before anything is locked or read.
func TestOpenRefusesBeforeLocking(t *testing.T) {
	env := newTestEnv(t)
	if _, err := Open(t.Context(), env.Env, "wordpress", Change, OpenOptions{}); err == nil {
		t.Error("an unknown stack opened")
	}
	env.State = ""
	if _, err := Open(t.Context(), env.Env, "redmine", Read, OpenOptions{}); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("no state directory: %v, want invalid input", err)
	}
}

// TestOpenRecoveryFails: what a stopped stackctl left must be sorted out
// before a change, and the lock is given back when it cannot be; down goes
// ahead all the same, as the way out.
func TestOpenRecoveryFails(t *testing.T) {
	env := newTestEnv(t)
	noEngine := errors.New("cannot connect to the Docker daemon")
	env.Connect = func(context.Context) (api.Compose, *engine.Engine, error) { return nil, nil, noEngine }
	if _, err := Open(t.Context(), env.Env, "redmine", Apply, OpenOptions{Purpose: "up"}); !errors.Is(err, noEngine) {
		t.Fatalf("up without an engine: %v, want the connect error", err)
	}
	s, err := Open(t.Context(), env.Env, "redmine", Change, OpenOptions{Purpose: "down"})
	if err != nil {
		t.Fatalf("down without an engine's recovery: %v (a lock left held would say busy)", err)
	}
	defer s.Close()
	if !strings.Contains(env.log.String(), "going down all the same") {
		t.Errorf("log %q does not say down goes on", env.log)
	}
	// Without any engine configured, a verb that needs one says so.
	env.Connect = nil
	r, err := Open(t.Context(), env.Env, "redmine", Read, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ps(t.Context()); !errors.Is(err, errs.ErrUnavailable) {
		t.Errorf("ps with no engine: %v, want unavailable", err)
	}
}

// TestOpenChoosesTheBackend: the state decides where a stack runs; --on
// moves it, refusing to leave a swarm the stack still runs on.
func TestOpenChoosesTheBackend(t *testing.T) {
	running := &state.Swarm{Manager: "tcp://manager:2376", DataNode: "node-1"}
	down := &state.Swarm{Manager: "tcp://manager:2376", DataNode: "node-1", Down: true}
	for _, tc := range []struct {
		name  string
		swarm *state.Swarm
		on    string
		// where is the backend chosen, "" for a refusal.
		where string
		// recorded says the state keeps a swarm record afterwards.
		recorded bool
	}{
		{name: "engine", where: OnEngine},
		{name: "swarm", swarm: running, where: OnSwarm, recorded: true},
		{name: "first deploy on a swarm", on: OnSwarm, where: OnSwarm},
		{name: "on a swarm already", swarm: running, on: OnSwarm, where: OnSwarm, recorded: true},
		{name: "leaving a swarm it runs on", swarm: running, on: OnEngine},
		{name: "back from a swarm it left", swarm: down, on: OnEngine, where: OnEngine},
		{name: "nowhere known", on: "kubernetes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t)
			if err := env.State.Save("redmine", state.State{Profile: catalog.ProfileUpstream, Swarm: tc.swarm}); err != nil {
				t.Fatal(err)
			}
			s, err := Open(t.Context(), env.Env, "redmine", Change, OpenOptions{Purpose: "up", On: tc.on})
			if tc.where == "" {
				if !errors.Is(err, errs.ErrInvalidInput) {
					t.Fatalf("Open = %v, want invalid input", err)
				}
				// Refused, the lock went with it.
				s, err := Open(t.Context(), env.Env, "redmine", Change, OpenOptions{Purpose: "down"})
				if errors.Is(err, errs.ErrBusy) {
					t.Fatal("a refused open kept the stack's lock")
				}
				if err == nil {
					s.Close()
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.Where() != tc.where {
				t.Errorf("runs on %s, want %s", s.Where(), tc.where)
			}
			if tc.where == OnSwarm && (s.State().Swarm == nil || s.Place() != "the swarm") {
				t.Errorf("on a swarm: state %+v, place %q", s.State().Swarm, s.Place())
			}
			// A swarm's recovery is its own (RecoverSwarm): no engine here.
			if tc.where == OnSwarm && env.connects != 0 {
				t.Errorf("opening a stack on a swarm connected to this engine")
			}
			rec, _ := env.State.Load("redmine")
			if (rec.Swarm != nil) != tc.recorded {
				t.Errorf("swarm recorded: %+v, want %v", rec.Swarm, tc.recorded)
			}
		})
	}
}

// TestSwarmBackendRefuses: a stack on a swarm answers the verbs it lacks
// with ErrUnsupported, each saying what to do instead, from one table; its
// other refusals come before anything is dialled, and what is dialled is the
// recorded manager unless --swarm-host says otherwise.
func TestSwarmBackendRefuses(t *testing.T) {
	env := newTestEnv(t)
	var dialled []string
	unreachable := errors.New("connection refused")
	env.Dial = func(host string) (client.APIClient, error) {
		dialled = append(dialled, host)
		return nil, unreachable
	}
	sw := &state.Swarm{Manager: "tcp://manager:2376", DataNode: "node-1", Registry: "registry.test:5000/redmine"}
	if err := env.State.Save("redmine", state.State{Profile: catalog.ProfileUpstream, Swarm: sw}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), env.Env, "redmine", Read, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for verb, instead := range swarmLacks {
		err := s.Supports(verb)
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), string(verb)) || !strings.Contains(err.Error(), instead) {
			t.Errorf("Supports(%s) = %v: want unsupported, naming it and what to do instead", verb, err)
		}
	}
	if err := s.Supports("backup"); err != nil {
		t.Errorf("Supports(backup) = %v: a swarm has backups", err)
	}
	for _, tc := range []struct {
		name   string
		call   func() error
		target error
		says   string
		dials  []string
	}{
		{"plan", func() error { _, err := s.Plan(ctx, UpOptions{}); return err }, unreachable, "", []string{"tcp://manager:2376"}},
		{"trial", func() error { _, err := s.Trial(ctx, nil, "a.tar.zst", UpOptions{}); return err }, ErrUnsupported, swarmLacks[VerbTrial], nil},
		{"generations", func() error { _, err := s.Generations(ctx); return err }, ErrUnsupported, swarmLacks[VerbGenerations], nil},
		{"prune", func() error { _, err := s.Prune(ctx, 2, false); return err }, ErrUnsupported, swarmLacks[VerbPrune], nil},
		{"renew", func() error { _, err := s.ApplyHTTPS(ctx, true); return err }, ErrUnsupported, swarmLacks[VerbRenew], nil},
		{"status", func() error { _, err := s.OnEngine(ctx, VerbStatus); return err }, ErrUnsupported, swarmLacks[VerbStatus], nil},
		{"another engine-only verb", func() error { _, err := s.OnEngine(ctx, "kernel build"); return err }, ErrUnsupported, "where kernel build does not work", nil},
		{"down --volumes", func() error { _, err := s.Down(ctx, true); return err }, errs.ErrInvalidInput, "com.docker.stack.namespace=stackctl-redmine on each node", nil},
		{"data without the data node's address", func() error { _, _, err := s.Runner(ctx); return err }, ErrSwarmRefused, "--data-node-host", nil},
		{"restore without it", func() error {
			_, err := s.NewGeneration(ctx, nil, state.MadeRestore, "a.tar.zst", GenOptions{})
			return err
		}, ErrSwarmRefused, "node-1", nil},
		{"rollback without it", func() error { _, err := s.Rollback(ctx, 1, UpOptions{}); return err }, ErrSwarmRefused, "node-1", nil},
		{"a restore's plan without it", func() error {
			_, err := s.PlanNewGeneration(ctx, nil, state.MadeRestore, "a.tar.zst", GenOptions{})
			return err
		}, ErrSwarmRefused, "node-1", nil},
		{"a rollback's plan without it", func() error { _, err := s.PlanRollback(ctx, 1, UpOptions{}); return err }, ErrSwarmRefused, "node-1", nil},
		{"ps", func() error { _, err := s.Ps(ctx); return err }, unreachable, "", []string{"tcp://manager:2376"}},
		{"logs", func() error { return s.Logs(ctx, LogsOptions{}) }, unreachable, "", []string{"tcp://manager:2376"}},
		{"down", func() error { _, err := s.Down(ctx, false); return err }, unreachable, "", []string{"tcp://manager:2376"}},
		{"up", func() error { _, err := s.Up(ctx, UpOptions{}); return err }, unreachable, "", []string{"tcp://manager:2376"}},
		{"up --swarm-host", func() error {
			_, err := s.Up(ctx, UpOptions{Swarm: SwarmUp{Host: "tcp://other:2376"}})
			return err
		}, unreachable, "", []string{"tcp://other:2376"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dialled = nil
			err := tc.call()
			if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("%s: %v; want %v saying %q", tc.name, err, tc.target, tc.says)
			}
			if !slices.Equal(dialled, tc.dials) {
				t.Errorf("dialled %q, want %q", dialled, tc.dials)
			}
		})
	}
	// Nothing recorded to pull from: up asks for a registry before dialling.
	sw.Registry = ""
	if err := env.State.Save("redmine", state.State{Profile: catalog.ProfileUpstream, Swarm: sw}); err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), env.Env, "redmine", Read, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dialled = nil
	if _, err := s.Up(ctx, UpOptions{}); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "--registry") || dialled != nil {
		t.Errorf("up with no registry: %v (dialled %q); want invalid input asking for --registry", err, dialled)
	}
	if _, err := s.Plan(ctx, UpOptions{}); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "--registry") || dialled != nil {
		t.Errorf("a plan with no registry: %v (dialled %q); want invalid input asking for --registry", err, dialled)
	}
}

// TestEngineBackendRefusesSwarmOptions: a stack on this engine supports
// every verb, and refuses a swarm's options before it connects.
func TestEngineBackendRefusesSwarmOptions(t *testing.T) {
	env := newTestEnv(t)
	s, err := Open(t.Context(), env.Env, "redmine", Read, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for v := range swarmLacks {
		if err := s.Supports(v); err != nil {
			t.Errorf("Supports(%s) on this engine: %v", v, err)
		}
	}
	_, err = s.Up(t.Context(), UpOptions{Swarm: SwarmUp{Registry: "registry.test", Replicas: 2}})
	if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "--registry, --replicas are for a stack on a swarm") {
		t.Errorf("up with swarm options: %v", err)
	}
	_, err = s.NewGeneration(t.Context(), nil, state.MadeRestore, "a.tar.zst", GenOptions{FilesVolume: map[string]string{"type": "nfs"}})
	if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "--files-volume") {
		t.Errorf("restore with --files-volume: %v", err)
	}
	_, err = s.PlanNewGeneration(t.Context(), nil, state.MadeRestore, "a.tar.zst", GenOptions{FilesVolume: map[string]string{"type": "nfs"}})
	if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "--files-volume") {
		t.Errorf("a restore's plan with --files-volume: %v", err)
	}
	if env.connects != 0 {
		t.Errorf("refusals connected to the engine %d times", env.connects)
	}
	// Config under a given profile reads only the build directory.
	y, err := s.Config(t.Context(), catalog.ProfileUpstream)
	if err != nil || !strings.Contains(string(y), "name: stackctl-redmine") || env.connects != 0 {
		t.Errorf("config --profile upstream: %v (connects %d)", err, env.connects)
	}
	// auto asks the engine what it has.
	env.Env.Connect = nil
	s, _ = Open(t.Context(), env.Env, "redmine", Read, OpenOptions{})
	if _, err := s.Config(t.Context(), catalog.ProfileAuto); !errors.Is(err, errs.ErrUnavailable) {
		t.Errorf("config with profile auto and no engine: %v", err)
	}
}

// TestOnRunnerVerbs: a Stack around a runner of fakes goes to this engine's
// backend, whose verbs reach the runner: ps as rows, logs through the
// formatter, down with its message.
func TestOnRunnerVerbs(t *testing.T) {
	st := mustRedmine()
	c := &fakeCompose{ps: []api.ContainerSummary{
		{ID: "c-nginx", Name: "stackctl-redmine-nginx-1", Service: "nginx", State: "running", Health: "healthy",
			Publishers: api.PortPublishers{{URL: "0.0.0.0", TargetPort: 8080, PublishedPort: 8080, Protocol: "tcp"}, {TargetPort: 443, Protocol: "tcp"}}},
		{ID: "c-db", Name: "stackctl-redmine-db-1", Service: "db", State: "exited"},
	}}
	r := Runner{Compose: c, Engine: &fakeEngine{}, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	rec := state.State{Profile: catalog.ProfileUpstream, Active: 1}
	rec.PutGen(state.Generation{N: 1, Ready: true})
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	s, err := OnRunner(st, r)
	if err != nil {
		t.Fatal(err)
	}
	if s.Where() != OnEngine || s.State().Active != 1 {
		t.Errorf("where %s, active %d", s.Where(), s.State().Active)
	}
	l, err := s.Ps(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"nginx", "stackctl-redmine-nginx-1", "running", "healthy", "8080/tcp -> 0.0.0.0:8080"},
		{"db", "stackctl-redmine-db-1", "exited", "-", ""},
	}
	if len(l.Rows) != len(want) || !slices.Equal(l.Header, []string{"SERVICE", "CONTAINER", "STATE", "HEALTH", "PORTS"}) {
		t.Fatalf("ps = %+v", l)
	}
	for i := range want {
		if !slices.Equal(l.Rows[i], want[i]) {
			t.Errorf("row %d = %q, want %q", i, l.Rows[i], want[i])
		}
	}
	var out bytes.Buffer
	if err := s.Logs(t.Context(), LogsOptions{Out: &out, Err: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "boom (RuntimeError)") {
		t.Errorf("logs wrote %q", out.String())
	}
	msg, err := s.Down(t.Context(), false)
	if err != nil || msg != "stack redmine is down" || !slices.Equal(c.calls, []string{"down"}) {
		t.Errorf("down: %q, %v; calls %q", msg, err, c.calls)
	}
	if got, err := s.OnEngine(t.Context(), VerbStatus); err != nil || got.State != r.State || got.Stack.Name != st.Name {
		t.Errorf("OnEngine: %+v, %v; want the runner, bound to the stack", got, err)
	}
	// The fake is no *engine.Engine: the runner comes without the handle.
	if got, e, err := s.Runner(t.Context()); err != nil || e != nil || got.State != r.State {
		t.Errorf("Runner: %v, %v", e, err)
	}
	if _, err := OnRunner(st, Runner{State: state.Dir(t.TempDir() + "/none/\x00")}); err == nil {
		t.Error("OnRunner read a state directory that cannot exist")
	}
}

// TestRunnerKnowsItsStack: the runner an opened stack hands out runs that
// stack, its instance included.
func TestRunnerKnowsItsStack(t *testing.T) {
	env := newTestEnv(t)
	env.Instance = "team2"
	s, err := Open(t.Context(), env.Env, "redmine", Read, OpenOptions{Purpose: "status"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, _, err := s.Runner(t.Context())
	if err != nil || r.Stack.Name != "redmine" || r.Stack.Instance != "team2" {
		t.Errorf("Runner: stack %q, instance %q, %v; want redmine, team2", r.Stack.Name, r.Stack.Instance, err)
	}
}

// TestOpenReadMovesNothing checks that a look at a stack brought back from
// its swarm (up --dry-run --on engine) sees it on this engine and leaves the
// state as it was.
func TestOpenReadMovesNothing(t *testing.T) {
	dir := state.Dir(t.TempDir())
	if err := dir.Save("redmine", state.State{Profile: "debian", Swarm: &state.Swarm{Manager: "tcp://10.0.0.2:2375", Down: true}}); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(string(dir), "redmine", "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Env{State: dir}, "redmine", Read, OpenOptions{Purpose: "up --dry-run", On: OnEngine})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Where() != OnEngine {
		t.Errorf("a stack brought back from its swarm is seen on %s", s.Where())
	}
	after, err := os.ReadFile(filepath.Join(string(dir), "redmine", "state.json"))
	if err != nil || string(after) != string(before) {
		t.Errorf("a look changed the state (%v):\n%s\n->\n%s", err, before, after)
	}
}
