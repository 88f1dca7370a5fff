package swarm

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
)

// states are Observe's answers by service.
func states(t *testing.T, d Deployer, dep Deployment) map[string]ServiceState {
	t.Helper()
	got, err := d.Observe(context.Background(), dep)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ServiceState{}
	for _, s := range got {
		out[s.Name] = s
	}
	if names := slices.Sorted(maps.Keys(out)); !slices.Equal(names, []string{"db", "nginx", "redmine"}) {
		t.Fatalf("observed %v, want db, nginx and redmine", names)
	}
	return out
}

// TestObserve: before a deploy every service is to create, with the way
// Swarm will update it; after it, the same file changes nothing, and each
// kind of change is seen on the service it touches alone.
func TestObserve(t *testing.T) {
	f := &swarmAPI{}
	d := Deployer{API: f}
	ctx := context.Background()
	dep := deployment(t, nil)
	first := states(t, d, dep)
	for name, want := range map[string]ServiceState{
		"db":      {Name: "db", Want: 1, OnDataNode: true, Order: "stop-first"},
		"redmine": {Name: "redmine", Want: 2, OnDataNode: true, Order: "start-first", Delay: 10 * time.Second},
		"nginx":   {Name: "nginx", Global: true, Order: "stop-first", Delay: 10 * time.Second},
	} {
		if got := first[name]; !equalState(got, want) {
			t.Errorf("before a deploy, %s: %+v, want %+v", name, got, want)
		}
	}
	if err := d.Deploy(ctx, dep); err != nil {
		t.Fatal(err)
	}
	for name, s := range states(t, d, dep) {
		if !s.Unchanged() {
			t.Errorf("after a deploy of the same file, %s: %+v, want it unchanged", name, s)
		}
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		service string
		what    []string
		want    int
	}{
		{"a new Redmine image", map[string]string{ImageVar("redmine"): "registry.test:5000/stackctl/redmine@sha256:" + strings.Repeat("cd", 32)}, "redmine", []string{"image"}, 2},
		{"a new PostgreSQL image", map[string]string{ImageVar("db"): "registry.test:5000/stackctl/db@sha256:" + strings.Repeat("cd", 32)}, "db", []string{"image"}, 1},
		{"Redmine's memory", map[string]string{"STACKCTL_REDMINE_MEMORY": "805306368"}, "redmine", []string{"settings"}, 2},
		{"a new version of a secret", map[string]string{SecretVar("smtp_password"): "stackctl-redmine_smtp_password_fedcba987654"}, "redmine", []string{"settings"}, 2},
		{"nginx's site", map[string]string{ConfigVar("nginx-site"): "stackctl-redmine_nginx-site_fedcba987654"}, "nginx", []string{"settings"}, 0},
		{"more replicas", map[string]string{"STACKCTL_REDMINE_REPLICAS": "3"}, "redmine", nil, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, s := range states(t, d, deployment(t, tc.env)) {
				if name != tc.service {
					if !s.Unchanged() {
						t.Errorf("%s: %+v, want it unchanged", name, s)
					}
					continue
				}
				if !slices.Equal(s.What, tc.what) || s.Want != tc.want || s.Unchanged() {
					t.Errorf("%s: %+v, want %v changed and %d tasks", name, s, tc.what, tc.want)
				}
			}
		})
	}

	// Deployed before stackctl labelled its services: its settings are not
	// known to be the file's.
	i := slices.IndexFunc(f.services, func(s swarm.Service) bool { return s.Spec.Name == "stackctl-redmine_db" })
	delete(f.services[i].Spec.Labels, SpecLabel)
	// An update Swarm rolled back must be deployed again (Wait fails on it).
	j := slices.IndexFunc(f.services, func(s swarm.Service) bool { return s.Spec.Name == "stackctl-redmine_redmine" })
	f.services[j].UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted}
	got := states(t, d, dep)
	if db := got["db"]; !slices.Equal(db.What, []string{"settings"}) {
		t.Errorf("db without stackctl's label: %+v, want its settings changed", db)
	}
	if rm := got["redmine"]; rm.Failed != "rollback_completed" || rm.Unchanged() {
		t.Errorf("redmine rolled back: %+v, want it failed and deployed again", rm)
	}
}

// TestObserveTasks: the tasks that run, of those that should, by service.
func TestObserveTasks(t *testing.T) {
	f := &swarmAPI{nodes: []swarm.Node{
		{ID: "n1", Status: swarm.NodeStatus{State: swarm.NodeStateReady}, Spec: swarm.NodeSpec{Availability: swarm.NodeAvailabilityActive}},
		{ID: "n2", Status: swarm.NodeStatus{State: swarm.NodeStateDown}, Spec: swarm.NodeSpec{Availability: swarm.NodeAvailabilityActive}},
	}}
	d := Deployer{API: f}
	dep := deployment(t, nil)
	if err := d.Deploy(context.Background(), dep); err != nil {
		t.Fatal(err)
	}
	id := func(name string) string {
		s, _ := f.serviceNamed(name)
		return s.ID
	}
	task := func(service, node string, state swarm.TaskState) swarm.Task {
		return swarm.Task{ServiceID: id(service), NodeID: node, DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: state},
			Annotations: swarm.Annotations{Labels: map[string]string{"com.docker.stack.namespace": testNS}}}
	}
	f.tasks = []swarm.Task{
		task("stackctl-redmine_db", "n1", swarm.TaskStateStarting),
		task("stackctl-redmine_redmine", "n1", swarm.TaskStateRunning),
		task("stackctl-redmine_redmine", "n1", swarm.TaskStateRunning),
		task("stackctl-redmine_nginx", "n1", swarm.TaskStateRunning),
		task("stackctl-redmine_nginx", "n2", swarm.TaskStateRunning), // a node that is down: Swarm runs it again when it is back
	}
	got := states(t, d, dep)
	for name, want := range map[string][2]int{"db": {0, 1}, "redmine": {2, 2}, "nginx": {1, 1}} {
		if s := got[name]; s.Running != want[0] || s.Desired != want[1] {
			t.Errorf("%s: %d of %d tasks run, want %d of %d", name, s.Running, s.Desired, want[0], want[1])
		}
	}
}

// TestDeployKeeps: the services a plan keeps are not updated; the others
// are, labelled with what the next deploy compares.
func TestDeployKeeps(t *testing.T) {
	f := &swarmAPI{}
	d := Deployer{API: f}
	ctx := context.Background()
	if err := d.Deploy(ctx, deployment(t, nil)); err != nil {
		t.Fatal(err)
	}
	dep := deployment(t, map[string]string{"STACKCTL_REDMINE_MEMORY": "805306368"})
	for _, s := range states(t, d, dep) {
		if s.Unchanged() {
			dep.Keep = append(dep.Keep, s.Name)
		}
	}
	f.calls = nil
	if err := d.Deploy(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.calls, []string{"service update stackctl-redmine_redmine"}) {
		t.Errorf("calls %v, want redmine updated alone", f.calls)
	}
	for _, s := range states(t, d, dep) {
		if !s.Unchanged() {
			t.Errorf("after the deploy, %s: %+v, want it unchanged", s.Name, s)
		}
	}
}

func equalState(a, b ServiceState) bool {
	return a.Name == b.Name && a.Exists == b.Exists && slices.Equal(a.What, b.What) && a.Tasks == b.Tasks && a.Want == b.Want &&
		a.Global == b.Global && a.OnDataNode == b.OnDataNode && a.Order == b.Order && a.Delay == b.Delay
}
