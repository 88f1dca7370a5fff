package swarm

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/report"
)

// stackLabels are the labels 'docker stack deploy' gives a stack's objects.
var stackLabels = map[string]string{convert.LabelNamespace: testNS}

func replicated(id, name string, n uint64) swarm.Service {
	return swarm.Service{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 4}}, Spec: swarm.ServiceSpec{
		Annotations:  swarm.Annotations{Name: testNS + "_" + name, Labels: stackLabels},
		Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
		TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "registry.test/" + name}},
	}}
}

func global(id, name string) swarm.Service {
	return swarm.Service{ID: id, Spec: swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: testNS + "_" + name, Labels: stackLabels},
		Mode:        swarm.ServiceMode{Global: &swarm.GlobalService{}},
	}}
}

func readyNode(id, host string) swarm.Node {
	return swarm.Node{ID: id, Description: swarm.NodeDescription{Hostname: host},
		Status: swarm.NodeStatus{State: swarm.NodeStateReady}, Spec: swarm.NodeSpec{Availability: swarm.NodeAvailabilityActive}}
}

// stackTask is a task of the stack on node, meant to run, in state.
func stackTask(service, node string, slot int, state swarm.TaskState) swarm.Task {
	return swarm.Task{Annotations: swarm.Annotations{Labels: stackLabels}, ServiceID: service, NodeID: node, Slot: slot,
		DesiredState: swarm.TaskStateRunning, Status: swarm.TaskStatus{State: state}}
}

// Progress states beyond TestProgress's: an update under way, a paused one,
// a node drained, a service scaled to none.
func TestProgressStates(t *testing.T) {
	updating := replicated("r", "redmine", 1)
	updating.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating}
	paused := replicated("r", "redmine", 1)
	paused.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStatePaused, Message: "update paused due to failure or early termination of task x"}
	rollingBack := replicated("r", "redmine", 1)
	rollingBack.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted}
	done := replicated("r", "redmine", 1)
	done.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}
	drained := readyNode("b", "n2")
	drained.Spec.Availability = swarm.NodeAvailabilityDrain
	failedTask := stackTask("r", "a", 1, swarm.TaskStateFailed)
	failedTask.DesiredState = swarm.TaskStateShutdown
	failedTask.Status.Err = "starting container failed: no such image"
	for _, tc := range []struct {
		name     string
		services []swarm.Service
		tasks    []swarm.Task
		pending  []string
		failed   string
	}{
		{name: "an update under way", services: []swarm.Service{updating}, tasks: []swarm.Task{stackTask("r", "a", 1, swarm.TaskStateRunning)},
			pending: []string{"stackctl-redmine_redmine updating"}},
		{name: "a rollback under way", services: []swarm.Service{rollingBack}, pending: []string{"stackctl-redmine_redmine rollback_started"}},
		{name: "a paused update fails at once, with the task's error", services: []swarm.Service{paused}, tasks: []swarm.Task{failedTask},
			failed: "service stackctl-redmine_redmine: update paused: update paused due to failure or early termination of task x (last task error: starting container failed: no such image)"},
		{name: "a completed update counts its tasks", services: []swarm.Service{done}, tasks: []swarm.Task{stackTask("r", "a", 1, swarm.TaskStateStarting)},
			pending: []string{"stackctl-redmine_redmine 0/1 running"}},
		{name: "a service scaled to none waits for nothing", services: []swarm.Service{replicated("r", "redmine", 0)}},
		{name: "a global task on a drained node is not waited for", services: []swarm.Service{global("n", "nginx")},
			tasks: []swarm.Task{stackTask("n", "a", 0, swarm.TaskStateRunning), stackTask("n", "b", 0, swarm.TaskStatePending)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &swarmAPI{services: tc.services, tasks: tc.tasks, nodes: []swarm.Node{readyNode("a", "n1"), drained}}
			pending, failed, err := Deployer{API: f}.progress(context.Background(), testNS)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pending, tc.pending) || failed != tc.failed {
				t.Errorf("pending %q, failed %q;\nwant %q, %q", pending, failed, tc.pending, tc.failed)
			}
		})
	}
}

func TestWait(t *testing.T) {
	rolledBack := replicated("r", "redmine", 2)
	rolledBack.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, Message: "rolled back"}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		f    *swarmAPI
		ctx  context.Context
		// timeout is negative to end a wait at its first look.
		timeout time.Duration
		is      error
		says    string
		logs    string
	}{
		{name: "rolled back", f: &swarmAPI{services: []swarm.Service{rolledBack}}, is: ErrNotConverged, says: "update rollback_completed: rolled back"},
		{name: "out of time", f: &swarmAPI{services: []swarm.Service{replicated("r", "redmine", 2)},
			tasks: []swarm.Task{stackTask("r", "a", 1, swarm.TaskStateRunning)}}, timeout: -time.Second,
			is: ErrNotConverged, says: "after -1s: stackctl-redmine_redmine 1/2 running ('stackctl ps' and 'stackctl logs' show why)",
			logs: "waiting: stackctl-redmine_redmine 1/2 running\n"},
		{name: "no service", f: &swarmAPI{}, is: errs.ErrNotFound, says: "the swarm has no service of stack stackctl-redmine"},
		{name: "tasks cannot be listed", f: &swarmAPI{services: []swarm.Service{replicated("r", "redmine", 2)}, fail: map[string]error{"TaskList": errBoom}},
			is: errBoom, says: "listing the stack's tasks"},
		{name: "nodes cannot be listed", f: &swarmAPI{services: []swarm.Service{replicated("r", "redmine", 2)}, fail: map[string]error{"NodeList": errBoom}},
			is: errBoom, says: "listing the swarm's nodes"},
		// Converged, but not yet for long enough: the context ends the wait.
		{name: "interrupted while settling", ctx: cancelled, f: &swarmAPI{services: []swarm.Service{replicated("r", "redmine", 1)},
			tasks: []swarm.Task{stackTask("r", "a", 1, swarm.TaskStateRunning)}}, timeout: time.Minute, is: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.nodes = append(tc.f.nodes, readyNode("a", "n1"))
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			var log bytes.Buffer
			err := Deployer{API: tc.f, Report: report.New(&log, report.Options{})}.Wait(ctx, testNS, tc.timeout)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v, want %v saying %q", err, tc.is, tc.says)
			}
			if log.String() != tc.logs {
				t.Errorf("log %q, want %q", &log, tc.logs)
			}
		})
	}
}

// Prune removes only what stackctl made for the stack and no service's
// spec, current or previous, names.
func TestPrune(t *testing.T) {
	ours := func(kind string) map[string]string {
		return map[string]string{convert.LabelNamespace: testNS, kindLabel: kind}
	}
	secret := func(id string, labels map[string]string) swarm.Secret {
		return swarm.Secret{ID: id, Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "s-" + id, Labels: labels}}}
	}
	config := func(id string, labels map[string]string) swarm.Config {
		return swarm.Config{ID: id, Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: "c-" + id, Labels: labels}}}
	}
	svc := replicated("r", "redmine", 1)
	svc.Spec.TaskTemplate.ContainerSpec.Secrets = []*swarm.SecretReference{{SecretID: "current"}}
	svc.Spec.TaskTemplate.ContainerSpec.Configs = []*swarm.ConfigReference{{ConfigID: "site"}}
	prev := svc.Spec
	prev.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{Secrets: []*swarm.SecretReference{{SecretID: "previous"}}}
	svc.PreviousSpec = &prev
	noContainer := global("n", "nginx")
	fresh := func() *swarmAPI {
		return &swarmAPI{
			services: []swarm.Service{svc, noContainer},
			secrets: []swarm.Secret{secret("current", ours("secret")), secret("previous", ours("secret")), secret("replaced", ours("secret")),
				secret("operators", stackLabels), secret("other-stack", map[string]string{convert.LabelNamespace: "other", kindLabel: "secret"})},
			configs: []swarm.Config{config("site", ours("config")), config("old-site", ours("config"))},
		}
	}
	t.Run("unused versions", func(t *testing.T) {
		f := fresh()
		if err := (Deployer{API: f}).Prune(context.Background(), testNS); err != nil {
			t.Fatal(err)
		}
		if want := []string{"secret remove s-replaced", "config remove c-old-site"}; !slices.Equal(f.calls, want) {
			t.Errorf("removed %v, want %v: in use, another stack's and the operator's stay", f.calls, want)
		}
	})
	for call, says := range map[string]string{
		"SecretRemove": "removing secret s-replaced, which no service uses: boom",
		"ConfigRemove": "removing config c-old-site, which no service uses: boom",
		"SecretList":   "listing the stack's secrets: boom",
		"ConfigList":   "listing the stack's configs: boom",
		"ServiceList":  "listing the stack's services: boom",
	} {
		t.Run(call+" fails", func(t *testing.T) {
			f := fresh()
			f.fail = map[string]error{call: errBoom}
			err := Deployer{API: f}.Prune(context.Background(), testNS)
			if !errors.Is(err, errBoom) || err.Error() != says {
				t.Errorf("err %v, want %q", err, says)
			}
		})
	}
}

// Remove takes services first, then what they held, and leaves volumes.
func TestRemove(t *testing.T) {
	f := &swarmAPI{
		services: []swarm.Service{replicated("r", "redmine", 1), replicated("d", "db", 1)},
		tasks:    []swarm.Task{stackTask("r", "a", 1, swarm.TaskStateRunning), stackTask("d", "a", 1, swarm.TaskStateRunning)},
		secrets: []swarm.Secret{{ID: "s", Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "pw",
			Labels: map[string]string{convert.LabelNamespace: testNS, kindLabel: "secret"}}}}},
		networks: []network.Summary{{Network: network.Network{ID: "net", Name: "stackctl-redmine_default", Labels: stackLabels}}},
		volumes:  map[string]volume.Volume{"stackctl-redmine_db-data": {Name: "stackctl-redmine_db-data"}},
	}
	d := Deployer{API: f}
	var log bytes.Buffer
	d.Report = report.New(&log, report.Options{})
	if err := d.Remove(context.Background(), testNS); err != nil {
		t.Fatal(err)
	}
	want := []string{"service remove stackctl-redmine_db", "service remove stackctl-redmine_redmine", "secret remove pw", "network remove stackctl-redmine_default"}
	if !slices.Equal(f.calls, want) {
		t.Errorf("calls %v, want %v", f.calls, want)
	}
	if len(f.volumes) != 1 {
		t.Errorf("volumes %v: the data stays", f.volumes)
	}
	if !strings.Contains(log.String(), "service stackctl-redmine_db removed") {
		t.Errorf("log %q does not say which services went", &log)
	}

	f = &swarmAPI{services: []swarm.Service{replicated("r", "redmine", 1)}, fail: map[string]error{"ServiceRemove": errBoom}}
	if err := (Deployer{API: f}).Remove(context.Background(), testNS); !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "removing service stackctl-redmine_redmine") {
		t.Errorf("err %v, want the service named", err)
	}
}

func TestStopService(t *testing.T) {
	scaledDown := replicated("r", "redmine", 0)
	for _, tc := range []struct {
		name     string
		services []swarm.Service
		tasks    []swarm.Task
		timeout  time.Duration
		calls    []string
		is       error
		says     string
	}{
		{name: "scaled to none", services: []swarm.Service{replicated("r", "redmine", 2)},
			tasks: []swarm.Task{stackTask("r", "a", 1, swarm.TaskStateShutdown)}, calls: []string{"service update stackctl-redmine_redmine"}},
		{name: "already at none", services: []swarm.Service{scaledDown}},
		{name: "not there", services: []swarm.Service{replicated("d", "db", 1)}},
		{name: "a task still runs", services: []swarm.Service{scaledDown}, timeout: -time.Second,
			tasks: []swarm.Task{stackTask("r", "a", 1, swarm.TaskStateRunning), stackTask("r", "a", 2, swarm.TaskStatePreparing)},
			is:    ErrNotConverged, says: "2 tasks of stackctl-redmine_redmine still run -1s after it was scaled to none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &swarmAPI{services: tc.services, tasks: tc.tasks}
			err := Deployer{API: f}.StopService(context.Background(), testNS, "redmine", tc.timeout)
			if tc.is != nil {
				if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("err %v, want %v saying %q", err, tc.is, tc.says)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.calls, tc.calls) {
				t.Errorf("calls %v, want %v", f.calls, tc.calls)
			}
			if s, ok := f.serviceNamed("stackctl-redmine_redmine"); ok && *s.Spec.Mode.Replicated.Replicas != 0 {
				t.Errorf("redmine has %d replicas, want none", *s.Spec.Mode.Replicated.Replicas)
			}
		})
	}
}

// Tasks lists what should run or runs, newest per slot, by service and slot.
func TestTasks(t *testing.T) {
	replaced := stackTask("r", "a", 1, swarm.TaskStateShutdown)
	replaced.DesiredState = swarm.TaskStateShutdown
	stopping := stackTask("r", "b", 2, swarm.TaskStateRunning)
	stopping.DesiredState = swarm.TaskStateShutdown
	failing := stackTask("r", "a", 1, swarm.TaskStateStarting)
	failing.Status.Err = "health check failed"
	failing.Spec.ContainerSpec = &swarm.ContainerSpec{Image: "registry.test/redmine@sha256:ab"}
	f := &swarmAPI{
		services: []swarm.Service{replicated("r", "redmine", 2), replicated("d", "db", 1)},
		nodes:    []swarm.Node{readyNode("a", "n1"), readyNode("b", "n2")},
		tasks:    []swarm.Task{stopping, replaced, failing, stackTask("d", "a", 1, swarm.TaskStateRunning)},
	}
	got, err := Deployer{API: f}.Tasks(context.Background(), testNS)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, tk := range got {
		lines = append(lines, strings.Join([]string{tk.Service, tk.Node, string(rune('0' + tk.Slot)), tk.Desired, tk.State, tk.Err, tk.Image}, "|"))
	}
	want := []string{
		"stackctl-redmine_db|n1|1|running|running||",
		"stackctl-redmine_redmine|n1|1|running|starting|health check failed|registry.test/redmine@sha256:ab",
		"stackctl-redmine_redmine|n2|2|shutdown|running||",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("tasks\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestLogs(t *testing.T) {
	f := &swarmAPI{
		services: []swarm.Service{replicated("r", "redmine", 1), replicated("d", "db", 1)},
		logs:     map[string]string{"r": "Started GET /\nCompleted 200", "d": "ready to accept connections\n"},
	}
	var out bytes.Buffer
	if err := (Deployer{API: f}).Logs(context.Background(), testNS, nil, &out, client.ServiceLogsOptions{Tail: "10"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	slices.Sort(lines)
	want := []string{"db | ready to accept connections", "redmine | Completed 200", "redmine | Started GET /"}
	if !slices.Equal(lines, want) {
		t.Errorf("logs %q, want %q: every service, each line prefixed, the last one ended", lines, want)
	}
	for _, o := range f.logOptions {
		if !o.ShowStdout || !o.ShowStderr || o.Tail != "10" {
			t.Errorf("options %+v: want both streams and the caller's tail", o)
		}
	}

	err := Deployer{API: f}.Logs(context.Background(), testNS, []string{"nginx"}, &out, client.ServiceLogsOptions{})
	if !errors.Is(err, errs.ErrNotFound) || !strings.Contains(err.Error(), "stack stackctl-redmine has no service nginx on the swarm") {
		t.Errorf("err %v, want NotFound naming the service", err)
	}
	f.fail = map[string]error{"ServiceLogs": errBoom}
	if err := (Deployer{API: f}).Logs(context.Background(), testNS, []string{"db"}, &out, client.ServiceLogsOptions{}); !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "reading db's logs") {
		t.Errorf("err %v, want the service named", err)
	}
}

func TestComposeVolume(t *testing.T) {
	f := &swarmAPI{volumes: map[string]volume.Volume{
		"by-compose": {Labels: map[string]string{"com.docker.compose.project": "stackctl-redmine"}},
		"by-swarm":   {Labels: stackLabels},
	}}
	for name, want := range map[string]bool{"by-compose": true, "by-swarm": false, "none": false} {
		got, err := Deployer{API: f}.ComposeVolume(context.Background(), name)
		if err != nil || got != want {
			t.Errorf("ComposeVolume(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	f.fail = map[string]error{"VolumeInspect": errBoom}
	if _, err := (Deployer{API: f}).ComposeVolume(context.Background(), "x"); !errors.Is(err, errBoom) || cerrdefs.IsNotFound(err) {
		t.Errorf("err %v, want the engine's failure, not a missing volume", err)
	}
}

// A job runs as its service's task would, but reached by no name, placed
// anywhere, restarted never, with its input as a secret of its own; its
// service and secret go when it ends, and what earlier runs left goes first.
func TestRunJob(t *testing.T) {
	like := replicated("r", "redmine", 2)
	like.Spec.TaskTemplate.ContainerSpec = &swarm.ContainerSpec{
		Image:   "registry.test/redmine@sha256:ab",
		Command: []string{"rails", "server"},
		Secrets: make([]*swarm.SecretReference, 1, 4), // room to append: the job must not write into it
		Mounts:  nil,
	}
	like.Spec.TaskTemplate.ContainerSpec.Secrets[0] = &swarm.SecretReference{SecretID: "kb", SecretName: "secret_key_base"}
	like.Spec.TaskTemplate.Networks = []swarm.NetworkAttachmentConfig{{Target: "net1", Aliases: []string{"redmine"}}}
	like.Spec.TaskTemplate.Placement = &swarm.Placement{Constraints: []string{dataConstraint}}
	like.Spec.EndpointSpec = &swarm.EndpointSpec{Mode: swarm.ResolutionModeVIP}
	leftJob := replicated("old", "first-start", 0)
	job := Job{Namespace: testNS, Like: "redmine", Name: "first-start", Command: []string{"sh", "-c", "rake setup < /run/secrets/admin"},
		Stdin: JobSecret{Source: "admin", Name: "stackctl-redmine_admin", Content: []byte("pw\n")}}

	t.Run("completes", func(t *testing.T) {
		f := &swarmAPI{services: []swarm.Service{like, leftJob}, logs: map[string]string{}}
		f.secrets = []swarm.Secret{{ID: "left", Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "stackctl-redmine_admin_job"}}},
			{ID: "longer", Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: "stackctl-redmine_admin_job2"}}}}
		f.job.state = swarm.TaskStateComplete
		// The job's service gets the next ID the fake gives: svc2 (sec1 is its secret).
		f.logs["svc2"] = "admin set\n"
		var made swarm.ServiceSpec
		out, err := Deployer{API: &recordSpec{swarmAPI: f, spec: &made}}.RunJob(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
		if out != "admin set\n" {
			t.Errorf("output %q", out)
		}
		want := []string{"service remove stackctl-redmine_first-start", "secret remove stackctl-redmine_admin_job",
			"secret create stackctl-redmine_admin_job", "service create stackctl-redmine_first-start",
			"service remove stackctl-redmine_first-start", "secret remove stackctl-redmine_admin_job"}
		if !slices.Equal(f.calls, want) {
			t.Errorf("calls\n%q\nwant\n%q", f.calls, want)
		}
		if _, ok := f.secretNamed("stackctl-redmine_admin_job2"); !ok {
			t.Error("a secret whose name only starts like the job's was removed")
		}
		cs := made.TaskTemplate.ContainerSpec
		switch {
		case made.Mode.ReplicatedJob == nil:
			t.Errorf("mode %+v, want a replicated job", made.Mode)
		case made.EndpointSpec == nil || made.EndpointSpec.Mode != swarm.ResolutionModeDNSRR:
			t.Errorf("endpoint %+v, want DNS round robin: a virtual IP needs IPVS", made.EndpointSpec)
		case len(made.TaskTemplate.Networks) != 1 || made.TaskTemplate.Networks[0].Target != "net1" || len(made.TaskTemplate.Networks[0].Aliases) != 0:
			t.Errorf("networks %+v, want the service's network with no alias: the job must not answer for it", made.TaskTemplate.Networks)
		case made.TaskTemplate.Placement != nil:
			t.Errorf("placement %+v, want none", made.TaskTemplate.Placement)
		case made.TaskTemplate.RestartPolicy == nil || made.TaskTemplate.RestartPolicy.Condition != swarm.RestartPolicyConditionNone:
			t.Errorf("restart %+v, want never: a job runs once", made.TaskTemplate.RestartPolicy)
		case !slices.Equal(cs.Command, job.Command) || cs.Healthcheck == nil || cs.Healthcheck.Test[0] != "NONE":
			t.Errorf("command %q, health check %+v", cs.Command, cs.Healthcheck)
		case len(cs.Secrets) != 2 || cs.Secrets[1].SecretName != "stackctl-redmine_admin_job" || cs.Secrets[1].File.Name != "admin" || cs.Secrets[1].File.Mode != 0o400:
			t.Errorf("secrets %+v, want the service's and the job's input, root's alone", cs.Secrets)
		case made.Labels[kindLabel] != "job" || made.Labels[convert.LabelNamespace] != testNS:
			t.Errorf("labels %v", made.Labels)
		}
		if spare := like.Spec.TaskTemplate.ContainerSpec.Secrets[:2]; spare[1] != nil {
			t.Error("the job's secret was written into the service's own list")
		}
		if like.Spec.TaskTemplate.Networks[0].Aliases == nil {
			t.Error("the service's own network aliases were cleared")
		}
	})

	t.Run("fails", func(t *testing.T) {
		f := &swarmAPI{services: []swarm.Service{like}}
		f.job.state, f.job.err = swarm.TaskStateFailed, "task: non-zero exit (1)"
		var lines []string
		for i := 1; i <= 25; i++ {
			lines = append(lines, "line "+string(rune('a'+i)))
		}
		f.logs = map[string]string{"svc2": strings.Join(lines, "\n") + "\n"}
		out, err := Deployer{API: f}.RunJob(context.Background(), job)
		if err == nil || !strings.Contains(err.Error(), "job stackctl-redmine_first-start ended failed (task: non-zero exit (1)); its last lines:\n"+strings.Join(lines[5:], "\n")) {
			t.Fatalf("err %v, want the state, the task's error and the last 20 lines", err)
		}
		if strings.Contains(err.Error(), lines[4]+"\n") || out != f.logs["svc2"] {
			t.Errorf("err %v, output %q: want 20 lines in the error, all in the output", err, out)
		}
		if len(f.services) != 1 || len(f.secrets) != 0 {
			t.Errorf("services %d, secrets %d: a failed job's service and secret go too", len(f.services), len(f.secrets))
		}
	})

	t.Run("no service to run as", func(t *testing.T) {
		f := &swarmAPI{}
		_, err := Deployer{API: f}.RunJob(context.Background(), job)
		if err == nil || !strings.Contains(err.Error(), "the swarm has no service stackctl-redmine_redmine for job first-start to run as") || len(f.calls) > 0 {
			t.Errorf("err %v, calls %v", err, f.calls)
		}
	})
}

// recordSpec keeps the spec of the service a job creates.
type recordSpec struct {
	*swarmAPI
	spec *swarm.ServiceSpec
}

func (r *recordSpec) ServiceCreate(ctx context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	*r.spec = o.Spec
	return r.swarmAPI.ServiceCreate(ctx, o)
}

// A short tmpfs entry becomes a mount Swarm honours; what the 3.x tmpfs
// mount cannot say is refused rather than dropped.
func TestTmpfsMount(t *testing.T) {
	for _, tc := range []struct {
		entry string
		size  int64
		err   string
	}{
		{entry: "/tmp:size=48m,mode=1777", size: 48 << 20},
		{entry: "/run"},
		{entry: "/tmp:mode=0700", err: "a Swarm tmpfs mount has mode 1777, not 0700"},
		{entry: "/tmp:uid=1000", err: "option uid has no Swarm form"},
		{entry: "/tmp:size=lots", err: `size "lots"`},
	} {
		t.Run(tc.entry, func(t *testing.T) {
			v, err := tmpfsMount(tc.entry)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			target, _, _ := strings.Cut(tc.entry, ":")
			if v.Type != "tmpfs" || v.Target != target {
				t.Errorf("mount %+v", v)
			}
			var size int64
			if v.Tmpfs != nil {
				size = int64(v.Tmpfs.Size)
			}
			if size != tc.size {
				t.Errorf("size %d, want %d", size, tc.size)
			}
		})
	}
}
