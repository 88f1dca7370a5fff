package stack

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
)

// TestAccess: a stack never started, or off its swarm, cannot be reached;
// on a swarm it is reached at the URL its deploy recorded, on this engine
// through its front on the recorded address once the service runs.
func TestAccess(t *testing.T) {
	st := mustRedmine()
	for _, tc := range []struct {
		name   string
		rec    state.State
		ps     []api.ContainerSummary
		target error
		url    string
	}{
		{name: "never started", target: errs.ErrNotRunning},
		{name: "off its swarm", rec: state.State{Profile: catalog.ProfileUpstream, Swarm: &state.Swarm{URL: "http://manager:8080/", Down: true}}, target: errs.ErrNotRunning},
		{name: "never served on its swarm", rec: state.State{Profile: catalog.ProfileUpstream, Swarm: &state.Swarm{}}, target: errs.ErrNotRunning},
		{name: "on a swarm", rec: state.State{Profile: catalog.ProfileUpstream, Swarm: &state.Swarm{URL: "http://manager:8080/"}}, url: "http://manager:8080/"},
		{name: "service stopped", rec: state.State{Profile: catalog.ProfileUpstream, Listen: "127.0.0.1:8099", Active: 1},
			ps: []api.ContainerSummary{{ID: "c-nginx", Service: "nginx", State: "running"}}, target: errs.ErrNotRunning},
		{name: "on this engine", rec: state.State{Profile: catalog.ProfileUpstream, Listen: "127.0.0.1:8099", Active: 1}, url: "http://127.0.0.1:8099/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Runner{Stack: st, Compose: &fakeCompose{ps: tc.ps}, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
			if err := r.State.Save(st.Name, tc.rec); err != nil {
				t.Fatal(err)
			}
			s, err := OnRunner(st, r)
			if err != nil {
				t.Fatal(err)
			}
			a, err := s.Access(t.Context(), "redmine")
			if tc.target != nil {
				if !errors.Is(err, tc.target) {
					t.Fatalf("Access = %v, want %v", err, tc.target)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Front.URL != tc.url || a.Image != st.ImageRef(catalog.ProfileUpstream, "") || !strings.HasSuffix(a.AdminPasswordFile, catalog.AdminPassword) {
				t.Errorf("access %+v, want %s", a, tc.url)
			}
		})
	}
}

// TestGenContainerOnASwarm: on a swarm, a generation a restore fills runs
// on the data node under its own name; any other is the service's task
// there, and a node without one says where the data is.
func TestGenContainerOnASwarm(t *testing.T) {
	st := mustRedmine()
	e := newScripted()
	r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	if err := r.State.Save(st.Name, state.State{Profile: catalog.ProfileUpstream, Swarm: &state.Swarm{DataNode: "node-1", Gen: 2, Pending: 3}}); err != nil {
		t.Fatal(err)
	}
	if id, err := r.GenContainer(t.Context(), "db", 3); err != nil || id != swarm.LocalName(st.ComposeProject(), "db", 3) {
		t.Errorf("the pending generation's db: %q, %v", id, err)
	}
	e.task = "task-db"
	if id, err := r.Container(t.Context(), "db"); err != nil || id != "task-db" {
		t.Errorf("the serving db: %q, %v", id, err)
	}
	e.taskErr = errors.New("no task of stackctl-redmine_redmine on this node")
	_, err := r.GenContainer(t.Context(), "redmine", 2)
	if err == nil || !strings.Contains(err.Error(), "its data node node-1 keeps the database") || !errors.Is(err, e.taskErr) {
		t.Errorf("no task here: %v", err)
	}
}

// TestPersistence: the data volumes are the active generation's, on this
// engine as recorded, on a swarm as its record has them.
func TestPersistence(t *testing.T) {
	st := mustRedmine()
	for _, tc := range []struct {
		name string
		rec  state.State
		gen  int
	}{
		{name: "never started", gen: 1},
		{name: "on this engine", rec: state.State{Profile: catalog.ProfileUpstream, Active: 2, Generations: []state.Generation{{N: 1}, {N: 2}}}, gen: 2},
		{name: "on a swarm", rec: state.State{Profile: catalog.ProfileUpstream, Active: 1, Swarm: &state.Swarm{Gen: 3}}, gen: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
			if err := r.State.Save(st.Name, tc.rec); err != nil {
				t.Fatal(err)
			}
			p, err := r.Persistence(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range p.Mounts {
				names = append(names, m.Name)
			}
			slices.Sort(names)
			want := genVolumes(tc.gen)
			slices.Sort(want)
			if p.Database == nil || !slices.Equal(names, want) {
				t.Errorf("volumes %q (database %v), want %q", names, p.Database, want)
			}
		})
	}
}

// TestConfigKeepsTheProfile: config shows the recorded profile, and refuses
// one that contradicts it.
func TestConfigKeepsTheProfile(t *testing.T) {
	st := mustRedmine()
	r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
	if err := r.State.Save(st.Name, state.State{Profile: catalog.ProfileDebian}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Config(t.Context(), catalog.ProfileUpstream); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("config --profile upstream on a debian stack: %v", err)
	}
	y, err := r.Config(t.Context(), catalog.ProfileAuto)
	if err != nil || !strings.Contains(string(y), st.ImageRef(catalog.ProfileDebian, "")) {
		t.Errorf("config of the recorded profile: %v", err)
	}
}

// TestBuildRelease: the images of a release are built while the stack
// serves, nothing else; an unknown release is refused before any build.
func TestBuildRelease(t *testing.T) {
	st := mustRedmine()
	c := &fakeCompose{}
	r := Runner{Stack: st, Compose: c, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
	if err := r.State.Save(st.Name, state.State{Profile: catalog.ProfileUpstream, Active: 1, Generations: []state.Generation{{N: 1, Release: "6.0", Ready: true}}}); err != nil {
		t.Fatal(err)
	}
	if err := r.BuildRelease(t.Context(), "6.1", UpOptions{}); err != nil || !slices.Equal(c.calls, []string{"build"}) {
		t.Errorf("BuildRelease: %v, calls %q", err, c.calls)
	}
	c.calls = nil
	if err := r.BuildRelease(t.Context(), "5.0", UpOptions{}); !errors.Is(err, errs.ErrInvalidInput) || len(c.calls) > 0 {
		t.Errorf("BuildRelease of an unknown release: %v, calls %q", err, c.calls)
	}
	c.fail = "build"
	if err := r.BuildRelease(t.Context(), "6.1", UpOptions{}); err == nil || !strings.Contains(err.Error(), "building redmine on release 6.1") {
		t.Errorf("a failed build: %v", err)
	}
}

// TestEngineBackendReachesTheRunner: a stack on this engine hands each verb
// to the runner, which answers it.
func TestEngineBackendReachesTheRunner(t *testing.T) {
	st := mustRedmine()
	c := &fakeCompose{}
	r := Runner{Stack: st, Compose: c, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
	rec := state.State{Profile: catalog.ProfileUpstream, Active: 1}
	rec.PutGen(state.Generation{N: 1, Made: state.MadeFirstStart, Ready: true})
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	s, err := OnRunner(st, r)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if gens, err := s.Generations(ctx); err != nil || len(gens) != 1 || !gens[0].Active {
		t.Errorf("generations: %+v, %v", gens, err)
	}
	if res, err := s.Prune(ctx, 1, true); err != nil || !slices.Equal(res.Kept, []int{1}) {
		t.Errorf("prune: %+v, %v", res, err)
	}
	if _, err := s.Rollback(ctx, 0, UpOptions{}); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("rollback with one generation: %v", err)
	}
	if p, err := s.Plan(ctx, UpOptions{}); err != nil || p.Stack != st.Name || p.Profile != catalog.ProfileUpstream {
		t.Errorf("plan: %+v, %v", p, err)
	}
	if res, err := s.ApplyHTTPS(ctx, false); err != nil || res.Mode != "off" || res.Reloaded {
		t.Errorf("renew with tls off: %+v, %v", res, err)
	}
	c.fail = "seed check"
	var te *TrialError
	if _, err := s.Trial(ctx, seedRecorder{c: c}, "a.tar.zst", UpOptions{}); !errors.As(err, &te) || te.Step != StepRestore {
		t.Errorf("trial refused by its seed: %v", err)
	}
	c.fail = "build"
	if _, err := s.Up(ctx, UpOptions{}); err == nil || !strings.Contains(err.Error(), "building redmine") {
		t.Errorf("up with a failing build: %v", err)
	}
	if _, err := s.NewGeneration(ctx, seedRecorder{c: c}, state.MadeRestore, "a.tar.zst", GenOptions{}); err == nil || !strings.Contains(err.Error(), "building redmine") {
		t.Errorf("restore with a failing build: %v", err)
	}
}
