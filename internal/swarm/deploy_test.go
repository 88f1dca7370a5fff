package swarm

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

func TestVersionedName(t *testing.T) {
	key := []byte("generated secrets")
	a := VersionedName("stackctl-redmine", "smtp_password", []byte("hunter2\n"), key)
	if !strings.HasPrefix(a, "stackctl-redmine_smtp_password_") || len(a) != len("stackctl-redmine_smtp_password_")+12 {
		t.Fatalf("name %q: want the namespace, the secret's name and 12 hex digits", a)
	}
	if b := VersionedName("stackctl-redmine", "smtp_password", []byte("hunter2\n"), key); b != a {
		t.Errorf("same content, same key: %q then %q, want one name", a, b)
	}
	if b := VersionedName("stackctl-redmine", "smtp_password", []byte("hunter3\n"), key); b == a {
		t.Errorf("a changed secret kept its name %q: Swarm cannot change a secret in place", a)
	}
	if b := VersionedName("stackctl-redmine", "smtp_password", []byte("hunter2\n"), []byte("other")); b == a {
		t.Errorf("another key gave the same name %q: a name must not be computable without the key", a)
	}
	if b := VersionedName("stackctl-redmine", "imap_password", []byte("hunter2\n"), key); strings.TrimPrefix(b, "stackctl-redmine_imap_password_") == strings.TrimPrefix(a, "stackctl-redmine_smtp_password_") {
		t.Errorf("two secrets with one value share a version: %q, %q", a, b)
	}
}

func TestRegistryRef(t *testing.T) {
	for _, tc := range []struct{ registry, image, want string }{
		{"127.0.0.1:5000", "stackctl/redmine:debian", "127.0.0.1:5000/stackctl/redmine:debian"},
		{"registry.example.com/team/", "stackctl/nginx:upstream", "registry.example.com/team/stackctl/nginx:upstream"},
		{"registry.example.com:5000", "postgres:17", "registry.example.com:5000/postgres:17"},
		{"r.example", "stackctl/base-postgres:trixie", "r.example/stackctl/base-postgres:trixie"},
	} {
		if got := RegistryRef(tc.registry, tc.image); got != tc.want {
			t.Errorf("RegistryRef(%q, %q) = %q, want %q", tc.registry, tc.image, got, tc.want)
		}
	}
}

func TestPrefixedLines(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	p := &prefixed{w: &out, mu: &mu, prefix: "db | "}
	for _, chunk := range []string{"one\ntw", "o\n", "three"} {
		if _, err := p.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if got := out.String(); got != "db | one\ndb | two\n" {
		t.Errorf("got %q, want whole lines, prefixed, and the unfinished one held back", got)
	}
}

// fakeNodes is a swarm's node API; the rest of the client is not used.
type fakeNodes struct {
	client.APIClient
	nodes   []swarm.Node
	updated map[string]swarm.NodeSpec
}

func (f *fakeNodes) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{Items: f.nodes}, nil
}

func (f *fakeNodes) NodeUpdate(_ context.Context, id string, o client.NodeUpdateOptions) (client.NodeUpdateResult, error) {
	f.updated[id] = o.Spec
	return client.NodeUpdateResult{}, nil
}

func node(id, host string, labels map[string]string) swarm.Node {
	return swarm.Node{ID: id, Spec: swarm.NodeSpec{Annotations: swarm.Annotations{Labels: labels}}, Description: swarm.NodeDescription{Hostname: host}}
}

func TestDataNode(t *testing.T) {
	data := map[string]string{DataLabel: "true"}
	for _, tc := range []struct {
		name     string
		nodes    []swarm.Node
		want     string
		got      string
		labelled string
		refused  string
	}{
		{name: "the labelled node", nodes: []swarm.Node{node("a", "n1", nil), node("b", "n2", data)}, got: "n2"},
		{name: "the labelled node, asked for", nodes: []swarm.Node{node("a", "n1", nil), node("b", "n2", data)}, want: "n2", got: "n2"},
		{name: "none labelled, one asked for", nodes: []swarm.Node{node("a", "n1", nil), node("b", "n2", nil)}, want: "n1", got: "n1", labelled: "a"},
		{name: "none labelled, none asked for", nodes: []swarm.Node{node("a", "n1", nil)}, refused: "give --data-node NODE (one of n1)"},
		{name: "another node asked for", nodes: []swarm.Node{node("a", "n1", nil), node("b", "n2", data)}, want: "n1", refused: "the data stays where it was written"},
		{name: "two labelled", nodes: []swarm.Node{node("a", "n1", data), node("b", "n2", data)}, refused: "nodes n1, n2 all carry"},
		{name: "an unknown node asked for", nodes: []swarm.Node{node("a", "n1", nil)}, want: "n9", refused: "n9 is not a node of this swarm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeNodes{nodes: tc.nodes, updated: map[string]swarm.NodeSpec{}}
			// A plan finds the same node, or refusal, and labels nothing.
			found, label, ferr := Deployer{API: f}.FindDataNode(context.Background(), tc.want)
			if found != tc.got || label != (tc.labelled != "") || (ferr != nil) != (tc.refused != "") || len(f.updated) > 0 {
				t.Errorf("FindDataNode = %q, label %v, %v (labelled %v); want %q, label %v", found, label, ferr, f.updated, tc.got, tc.labelled != "")
			}
			got, err := Deployer{API: f}.DataNode(context.Background(), tc.want)
			if tc.refused != "" {
				if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("err %v, want ErrRefused saying %q", err, tc.refused)
				}
				if len(f.updated) > 0 {
					t.Errorf("a refusal labelled %v", f.updated)
				}
				return
			}
			if err != nil || got != tc.got {
				t.Fatalf("DataNode = %q, %v; want %q", got, err, tc.got)
			}
			if tc.labelled != "" && f.updated[tc.labelled].Labels[DataLabel] != "true" {
				t.Errorf("node %s not labelled: updates %v", tc.labelled, f.updated)
			}
			if tc.labelled == "" && len(f.updated) > 0 {
				t.Errorf("labelled %v, though a node was labelled already", f.updated)
			}
		})
	}
}

// fakeStack is a swarm's service, task and node API for progress.
type fakeStack struct {
	client.APIClient
	services []swarm.Service
	tasks    []swarm.Task
	nodes    []swarm.Node
}

func (f *fakeStack) ServiceList(context.Context, client.ServiceListOptions) (client.ServiceListResult, error) {
	return client.ServiceListResult{Items: f.services}, nil
}

func (f *fakeStack) TaskList(context.Context, client.TaskListOptions) (client.TaskListResult, error) {
	return client.TaskListResult{Items: f.tasks}, nil
}

func (f *fakeStack) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{Items: f.nodes}, nil
}

func TestProgress(t *testing.T) {
	two := uint64(2)
	redmine := swarm.Service{ID: "r", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "s_redmine"},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &two}}}}
	nginx := swarm.Service{ID: "n", Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "s_nginx"},
		Mode: swarm.ServiceMode{Global: &swarm.GlobalService{}}}}
	ready := func(id string) swarm.Node {
		return swarm.Node{ID: id, Status: swarm.NodeStatus{State: swarm.NodeStateReady}, Spec: swarm.NodeSpec{Availability: swarm.NodeAvailabilityActive}}
	}
	down := swarm.Node{ID: "c", Status: swarm.NodeStatus{State: swarm.NodeStateDown}, Spec: swarm.NodeSpec{Availability: swarm.NodeAvailabilityActive}}
	task := func(svc, node string, state swarm.TaskState, err string) swarm.Task {
		return swarm.Task{ServiceID: svc, NodeID: node, DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: state, Err: err}}
	}
	rolledBack := redmine
	rolledBack.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, Message: "update rolled back due to failure"}
	for _, tc := range []struct {
		name     string
		f        fakeStack
		pending  int
		failed   string
		mentions string
	}{
		{name: "converged", f: fakeStack{services: []swarm.Service{redmine, nginx}, nodes: []swarm.Node{ready("a"), ready("b")},
			tasks: []swarm.Task{task("r", "a", "running", ""), task("r", "b", "running", ""), task("n", "a", "running", ""), task("n", "b", "running", "")}}},
		{name: "a replica still starting, with the error of its failed predecessor", f: fakeStack{services: []swarm.Service{redmine}, nodes: []swarm.Node{ready("a")},
			tasks: []swarm.Task{task("r", "a", "running", ""), task("r", "a", "starting", ""), {ServiceID: "r", DesiredState: swarm.TaskStateShutdown,
				Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (1)"}}}},
			pending: 1, mentions: "redmine 1/2 running (last task error: task: non-zero exit (1))"},
		{name: "a global task on a node that is down is not waited for", f: fakeStack{services: []swarm.Service{nginx}, nodes: []swarm.Node{ready("a"), down},
			tasks: []swarm.Task{task("n", "a", "running", ""), task("n", "c", "running", "")}}},
		{name: "a global service with no task yet", f: fakeStack{services: []swarm.Service{nginx}, nodes: []swarm.Node{ready("a")}}, pending: 1},
		{name: "rolled back", f: fakeStack{services: []swarm.Service{rolledBack}, nodes: []swarm.Node{ready("a")},
			tasks: []swarm.Task{task("r", "a", "running", ""), task("r", "a", "running", "")}}, failed: "rollback_completed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pending, failed, err := Deployer{API: &tc.f}.progress(context.Background(), "s")
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) != tc.pending || !strings.Contains(failed, tc.failed) || (tc.failed == "") != (failed == "") {
				t.Fatalf("pending %q, failed %q; want %d pending, failed saying %q", pending, failed, tc.pending, tc.failed)
			}
			if tc.mentions != "" && !strings.Contains(strings.Join(pending, "; "), tc.mentions) {
				t.Errorf("pending %q does not say %q", pending, tc.mentions)
			}
		})
	}
}
