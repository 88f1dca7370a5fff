package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
	swarmform "github.com/stackctl/stackctl/internal/swarm"
)

const testRegistry = "registry.test:5000/tracker"

// deployedOnSwarm is the redmine stack deployed on a swarm of three nodes,
// every service running as the stack file says.
func deployedOnSwarm() swarmObservation {
	return swarmObservation{Stack: mustRedmine(), Choice: Choice{Profile: catalog.ProfileDebian, Reason: "recorded when the stack was first started"},
		Gen: 1, DataNode: "node-1", Port: "8080", Deployed: true,
		Services: []swarmform.ServiceState{
			{Name: "db", Exists: true, Tasks: 1, Want: 1, OnDataNode: true, Order: "stop-first", Running: 1, Desired: 1},
			{Name: "nginx", Exists: true, Global: true, Order: "stop-first", Delay: 10 * time.Second, Running: 3, Desired: 3},
			{Name: "redmine", Exists: true, Tasks: 2, Want: 2, OnDataNode: true, Order: "start-first", Delay: 10 * time.Second, Running: 2, Desired: 2},
		}}
}

// swarmChanged is obs with what of service marked changed.
func swarmChanged(obs swarmObservation, service string, what ...string) swarmObservation {
	obs.Services = slices.Clone(obs.Services)
	for i, s := range obs.Services {
		if s.Name == service {
			obs.Services[i].What = what
		}
	}
	return obs
}

// pushed is the push step of image to the test registry.
func pushed(image, why string) change {
	return change{Name: image + " -> " + swarmform.RegistryRef(testRegistry, image), Why: why}
}

// TestPlanUpSwarm keeps the plan of each kind of change on a swarm as its
// text says it, in testdata/plans/swarm-<case>.txt (go test -update rewrites
// them), with the facts the text alone would let slip.
func TestPlanUpSwarm(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		obs                    func() swarmObservation
		fails, refuses, change bool
		keep                   []string
		label                  string
	}{
		{name: "first-deploy", change: true, label: "node-1", obs: func() swarmObservation {
			obs := deployedOnSwarm()
			obs.Deployed, obs.Label = false, true
			obs.Choice = Choice{Profile: catalog.ProfileDebian, Reason: "requested"}
			obs.Bases = []change{{"stackctl/base-postgres:trixie", "not built yet, from the Debian mirror with mmdebstrap"}}
			obs.Images = []change{{"stackctl/nginx:debian", "not built yet"}, {"stackctl/redmine:debian", "not built yet"}}
			obs.Pushes = []change{pushed("stackctl/base-postgres:trixie", "built anew"), pushed("stackctl/nginx:debian", "built anew"), pushed("stackctl/redmine:debian", "built anew")}
			for i := range obs.Services {
				obs.Services[i] = swarmform.ServiceState{Name: obs.Services[i].Name, Want: obs.Services[i].Want, Global: obs.Services[i].Global,
					OnDataNode: obs.Services[i].OnDataNode, Order: obs.Services[i].Order, Delay: obs.Services[i].Delay}
			}
			return obs
		}},
		{name: "nothing-changed", keep: []string{"db", "nginx", "redmine"}, obs: deployedOnSwarm},
		{name: "theme", change: true, keep: []string{"db", "nginx"}, obs: func() swarmObservation {
			obs := swarmChanged(deployedOnSwarm(), "redmine", "image")
			obs.Images = []change{{"stackctl/redmine:debian", "what it is built from changed"}}
			obs.Pushes = []change{pushed("stackctl/redmine:debian", "built anew")}
			return obs
		}},
		{name: "settings", change: true, keep: []string{"db", "nginx"}, obs: func() swarmObservation {
			return swarmChanged(deployedOnSwarm(), "redmine", "settings")
		}},
		{name: "database-image", change: true, fails: true, keep: []string{"nginx", "redmine"}, obs: func() swarmObservation {
			obs := swarmChanged(deployedOnSwarm(), "db", "image")
			obs.Bases = []change{{"stackctl/base-postgres:trixie", "built from another recipe"}}
			obs.Pushes = []change{pushed("stackctl/base-postgres:trixie", "built anew")}
			return obs
		}},
		{name: "nginx-site", change: true, refuses: true, keep: []string{"db", "redmine"}, obs: func() swarmObservation {
			return swarmChanged(deployedOnSwarm(), "nginx", "settings")
		}},
		{name: "replicas", change: true, keep: []string{"db", "nginx"}, obs: func() swarmObservation {
			obs := deployedOnSwarm()
			obs.Services[2].Want = 3
			return obs
		}},
		{name: "rolled-back", change: true, keep: []string{"db", "nginx"}, obs: func() swarmObservation {
			obs := deployedOnSwarm()
			obs.Services[2].Failed = "rollback_completed"
			return obs
		}},
		{name: "killed-restore", change: true, keep: []string{"db", "nginx", "redmine"}, obs: func() swarmObservation {
			obs := deployedOnSwarm()
			obs.Leftovers = []Step{{Action: "remove", Target: "generation 2 from the data node node-1", Why: "a restore a stopped stackctl left unfinished: its volumes and its PostgreSQL container"}}
			obs.Services[0].Running = 0
			return obs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planSwarmUp(tc.obs())
			var got bytes.Buffer
			if err := p.WriteText(&got); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "plans", "swarm-"+tc.name+".txt")
			if update() {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v: run go test ./internal/stack -run TestPlanUp -update", err)
			}
			if got.String() != string(want) {
				t.Errorf("plan differs from %s (-update rewrites it):\n%s", golden, got.String())
			}
			if p.Outage.Fails != tc.fails || p.Outage.Refuses != tc.refuses || p.Outage.Closes {
				t.Errorf("outage %+v: want fails %v, refuses %v, never the maintenance page", p.Outage, tc.fails, tc.refuses)
			}
			if p.Changes() != tc.change {
				t.Errorf("Changes() = %v, want %v", p.Changes(), tc.change)
			}
			if !slices.Equal(p.swarmKeep, tc.keep) || p.labelNode != tc.label {
				t.Errorf("keeps %v and labels %q, want %v and %q", p.swarmKeep, p.labelNode, tc.keep, tc.label)
			}
			if p.Where != OnSwarm || p.Serves != (Serves{Generation: 1, App: "redmine", Front: "nginx"}) {
				t.Errorf("where %s, serves %+v", p.Where, p.Serves)
			}
			if _, err := json.Marshal(p); err != nil {
				t.Errorf("--json: %v", err)
			}
		})
	}
}

// manager is a swarm manager in memory, with what a plan asks of it: it
// answers, has nodes and the stack's services, and no Compose volume. The
// embedded interface is nil: a call that would change the swarm panics.
type manager struct {
	client.APIClient
	nodes    []swarm.Node
	services []swarm.Service
}

func (m *manager) DaemonHost() string { return "tcp://manager.test:2375" }
func (m *manager) Close() error       { return nil }
func (m *manager) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return client.SystemInfoResult{Info: system.Info{Name: "node-1", Swarm: swarm.Info{
		LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true, NodeAddr: "10.0.0.2"}}}, nil
}
func (m *manager) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{Items: m.nodes}, nil
}
func (m *manager) ServiceList(context.Context, client.ServiceListOptions) (client.ServiceListResult, error) {
	return client.ServiceListResult{Items: m.services}, nil
}
func (m *manager) TaskList(context.Context, client.TaskListOptions) (client.TaskListResult, error) {
	return client.TaskListResult{}, nil
}
func (m *manager) VolumeInspect(context.Context, string, client.VolumeInspectOptions) (client.VolumeInspectResult, error) {
	return client.VolumeInspectResult{}, cerrdefs.ErrNotFound
}

// pushedEngine is fakeEngine whose images carry what a plan reads: their
// build context's digest and the references they were pushed as.
type pushedEngine struct {
	*fakeEngine
	info map[string]engine.ImageInfo
}

func (e pushedEngine) Image(_ context.Context, ref string) (engine.ImageInfo, bool, error) {
	i, ok := e.info[ref]
	return i, ok, nil
}

// TestPlanSwarmFirstDeploy: 'up --dry-run --on swarm' on a stack never
// started plans its first deploy: from the swarm's answers alone, with no
// registry asked and nothing changed there or recorded.
func TestPlanSwarmFirstDeploy(t *testing.T) {
	env := newTestEnv(t)
	m := &manager{nodes: []swarm.Node{{ID: "n1", Description: swarm.NodeDescription{Hostname: "node-1"}}, {ID: "n2", Description: swarm.NodeDescription{Hostname: "node-2"}}}}
	var dialled []string
	env.Dial = func(host string) (client.APIClient, error) { dialled = append(dialled, host); return m, nil }
	s, err := Open(t.Context(), env.Env, "redmine", Read, OpenOptions{Purpose: "up --dry-run", On: OnSwarm})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := s.offline()
	r.Engine = pushedEngine{fakeEngine: &fakeEngine{}}
	s.runner = &r
	o := UpOptions{Profile: catalog.ProfileDebian, Swarm: SwarmUp{Host: "tcp://manager.test:2375", DataNode: "node-1"}}
	if _, err := s.Plan(t.Context(), o); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "--registry") || dialled != nil {
		t.Fatalf("a plan without --registry: %v (dialled %q); want invalid input asking for it before dialling", err, dialled)
	}
	o.Swarm.Registry = testRegistry
	p, err := s.Plan(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	p.WriteText(&text)
	for _, want := range []string{
		"stack redmine on the swarm, base debian (requested)",
		"build        stackctl/redmine:debian: not built yet",
		"push         stackctl/redmine:debian -> registry.test:5000/tracker/stackctl/redmine:debian: built anew",
		"label        node node-1",
		"create       db: 1 task, on the data node node-1",
		"create       nginx: a task on every node, answering on port 8080",
		"create       redmine: 2 tasks, on the data node node-1",
		"first-start  redmine",
		"serves after: generation 1, redmine behind nginx",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the plan does not say %q:\n%s", want, &text)
		}
	}
	if !slices.Equal(dialled, []string{"tcp://manager.test:2375"}) {
		t.Errorf("dialled %q, want the manager given", dialled)
	}
	if rec, _ := env.State.Load("redmine"); rec.Swarm != nil || rec.Profile != "" {
		t.Errorf("a plan recorded %+v", rec)
	}
	if _, err := os.Stat(env.State.SecretPath("redmine", catalog.AdminPassword)); err == nil {
		t.Error("a plan generated the stack's secrets")
	}
	// No manager to deploy on: the plan says so, as up would.
	m.nodes = nil
	if _, err := s.Plan(t.Context(), o); !errors.Is(err, ErrSwarmRefused) {
		t.Errorf("a plan with no node to keep the data: %v, want refused", err)
	}
}

// TestPlanSwarmRefuses: what up on a swarm refuses, its plan refuses too,
// before it asks the swarm anything.
func TestPlanSwarmRefuses(t *testing.T) {
	st := mustRedmine()
	r := Runner{Stack: st, Engine: &fakeEngine{}, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	rec := state.State{Profile: catalog.ProfileDebian, Active: 1}
	rec.PutGen(state.Generation{N: 1, Ready: true})
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := r.PlanSwarm(t.Context(), SwarmOptions{Registry: testRegistry, Manager: &manager{}}); !errors.Is(err, ErrSwarmRefused) || !strings.Contains(err.Error(), "has data on this engine") {
		t.Errorf("a stack with data on this engine: %v", err)
	}
	r.Overrides.HTTPS = true
	if _, err := r.PlanSwarm(t.Context(), SwarmOptions{Registry: testRegistry, Manager: &manager{}}); !errors.Is(err, ErrSwarmRefused) || !strings.Contains(err.Error(), "tls.mode") {
		t.Errorf("HTTPS on a swarm: %v", err)
	}
}

// TestForeseePush: an image this engine pushed to the registry as it is is
// not pushed anew, and the swarm would run it by that digest, which the
// engine may keep under Docker Hub's short name.
func TestForeseePush(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	e := pushedEngine{fakeEngine: &fakeEngine{}, info: map[string]engine.ImageInfo{
		"stackctl/redmine:debian": {ID: "sha256:1", RepoDigests: []string{"registry.test:5000/tracker/stackctl/redmine@" + digest, "other/redmine@sha256:" + strings.Repeat("cd", 32)}},
		"stackctl/nginx:debian":   {ID: "sha256:2", RepoDigests: []string{"team/stackctl/nginx@" + digest}},
		"postgres:17":             {ID: "sha256:3"},
	}}
	r := Runner{Engine: e}
	for _, tc := range []struct {
		image, target string
		rebuilt       bool
		ref, why      string
	}{
		{"stackctl/redmine:debian", "registry.test:5000/tracker/stackctl/redmine:debian", false, "registry.test:5000/tracker/stackctl/redmine@" + digest, ""},
		{"stackctl/redmine:debian", "registry.test:5000/tracker/stackctl/redmine:debian", true, "registry.test:5000/tracker/stackctl/redmine:debian", "built anew"},
		{"stackctl/redmine:debian", "registry.test:5000/elsewhere/stackctl/redmine:debian", false, "registry.test:5000/elsewhere/stackctl/redmine:debian", "not in the registry yet"},
		{"stackctl/nginx:debian", "team/stackctl/nginx:debian", false, "docker.io/team/stackctl/nginx@" + digest, ""},
		{"postgres:17", "registry.test:5000/tracker/postgres:17", false, "registry.test:5000/tracker/postgres:17", "not in the registry yet"},
		{"stackctl/base-postgres:trixie", "registry.test:5000/tracker/stackctl/base-postgres:trixie", false, "registry.test:5000/tracker/stackctl/base-postgres:trixie", "not on this engine yet"},
	} {
		ref, why, err := r.foreseePush(context.Background(), tc.image, tc.target, tc.rebuilt)
		if err != nil || ref != tc.ref || why != tc.why {
			t.Errorf("foreseePush(%s to %s, rebuilt %v) = %q, %q, %v; want %q, %q", tc.image, tc.target, tc.rebuilt, ref, why, err, tc.ref, tc.why)
		}
	}
}
