package swarm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
)

// swarmAPI is a swarm manager in memory: the calls Deployer makes on
// services, tasks, nodes, secrets, configs and networks, with the label,
// name and service filters the engine applies, so that a test sees what a
// deploy would leave on a swarm. The embedded interface is nil: a call no
// test expects panics, which fails it.
type swarmAPI struct {
	client.APIClient

	info     system.Info
	services []swarm.Service
	tasks    []swarm.Task
	nodes    []swarm.Node
	secrets  []swarm.Secret
	configs  []swarm.Config
	networks []network.Summary
	volumes  map[string]volume.Volume
	// logs are each service's output, by service ID, as stdout lines.
	logs map[string]string
	// job is the state a job's one task ends in, and its error.
	job struct {
		state swarm.TaskState
		err   string
	}
	// fail makes the named call ("ServiceCreate", …) fail with its error.
	fail map[string]error
	// calls are the changes made, in order ("service create NAME", …).
	calls []string
	// logOptions are the options ServiceLogs was called with, under mu:
	// Logs reads the services' logs at once.
	logOptions []client.ServiceLogsOptions
	mu         sync.Mutex
	next       int
}

func (f *swarmAPI) id(kind string) string {
	f.next++
	return fmt.Sprintf("%s%d", kind, f.next)
}

func (f *swarmAPI) failed(call string) error { return f.fail[call] }

func (f *swarmAPI) record(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

// match applies filters as the engine does: every label term must hold,
// a name matches by prefix, service by ID.
func match(fl client.Filters, name, service string, labels map[string]string) bool {
	for l := range fl["label"] {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := labels[k]
		if !ok || hasValue && got != v {
			return false
		}
	}
	if names := fl["name"]; len(names) > 0 && !slices.ContainsFunc(slices.Collect(maps.Keys(names)), func(n string) bool { return strings.HasPrefix(name, n) }) {
		return false
	}
	if ids := fl["service"]; len(ids) > 0 && !ids[service] {
		return false
	}
	return true
}

func (f *swarmAPI) DaemonHost() string { return "tcp://manager.test:2375" }

func (f *swarmAPI) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return client.SystemInfoResult{Info: f.info}, f.failed("Info")
}

func (f *swarmAPI) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{Items: f.nodes}, f.failed("NodeList")
}

func (f *swarmAPI) ServiceList(_ context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	var out []swarm.Service
	for _, s := range f.services {
		if match(o.Filters, s.Spec.Name, s.ID, s.Spec.Labels) {
			out = append(out, s)
		}
	}
	return client.ServiceListResult{Items: out}, f.failed("ServiceList")
}

func (f *swarmAPI) ServiceCreate(_ context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	if err := f.failed("ServiceCreate"); err != nil {
		return client.ServiceCreateResult{}, err
	}
	id := f.id("svc")
	f.services = append(f.services, swarm.Service{ID: id, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}, Spec: o.Spec})
	f.record("service create %s", o.Spec.Name)
	if o.Spec.Mode.ReplicatedJob != nil {
		f.tasks = append(f.tasks, swarm.Task{ID: f.id("task"), ServiceID: id, DesiredState: swarm.TaskStateComplete,
			Status: swarm.TaskStatus{State: f.job.state, Err: f.job.err}})
	}
	return client.ServiceCreateResult{ID: id, Warnings: []string{"image has no digest"}}, nil
}

func (f *swarmAPI) ServiceUpdate(_ context.Context, id string, o client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	if err := f.failed("ServiceUpdate"); err != nil {
		return client.ServiceUpdateResult{}, err
	}
	for i, s := range f.services {
		if s.ID != id {
			continue
		}
		if o.Version != s.Version {
			return client.ServiceUpdateResult{}, fmt.Errorf("update out of sequence: version %d, service at %d", o.Version.Index, s.Version.Index)
		}
		prev := s.Spec
		f.services[i].PreviousSpec = &prev
		f.services[i].Spec = o.Spec
		f.services[i].Version.Index++
		f.record("service update %s", s.Spec.Name)
		return client.ServiceUpdateResult{}, nil
	}
	return client.ServiceUpdateResult{}, cerrdefs.ErrNotFound
}

func (f *swarmAPI) ServiceRemove(_ context.Context, id string, _ client.ServiceRemoveOptions) (client.ServiceRemoveResult, error) {
	if err := f.failed("ServiceRemove"); err != nil {
		return client.ServiceRemoveResult{}, err
	}
	i := slices.IndexFunc(f.services, func(s swarm.Service) bool { return s.ID == id })
	if i < 0 {
		return client.ServiceRemoveResult{}, cerrdefs.ErrNotFound
	}
	f.record("service remove %s", f.services[i].Spec.Name)
	f.services = slices.Delete(f.services, i, i+1)
	// Swarm shuts the service's tasks down with it.
	f.tasks = slices.DeleteFunc(f.tasks, func(t swarm.Task) bool { return t.ServiceID == id })
	return client.ServiceRemoveResult{}, nil
}

func (f *swarmAPI) ServiceLogs(_ context.Context, id string, o client.ServiceLogsOptions) (client.ServiceLogsResult, error) {
	if err := f.failed("ServiceLogs"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.logOptions = append(f.logOptions, o)
	f.mu.Unlock()
	return io.NopCloser(bytes.NewReader(frame(stdcopy.Stdout, f.logs[id]))), nil
}

func (f *swarmAPI) TaskList(_ context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	var out []swarm.Task
	for _, t := range f.tasks {
		if match(o.Filters, t.Name, t.ServiceID, t.Labels) {
			out = append(out, t)
		}
	}
	return client.TaskListResult{Items: out}, f.failed("TaskList")
}

func (f *swarmAPI) SecretList(_ context.Context, o client.SecretListOptions) (client.SecretListResult, error) {
	var out []swarm.Secret
	for _, s := range f.secrets {
		if match(o.Filters, s.Spec.Name, "", s.Spec.Labels) {
			out = append(out, s)
		}
	}
	return client.SecretListResult{Items: out}, f.failed("SecretList")
}

func (f *swarmAPI) SecretCreate(_ context.Context, o client.SecretCreateOptions) (client.SecretCreateResult, error) {
	if err := f.failed("SecretCreate"); err != nil {
		return client.SecretCreateResult{}, err
	}
	id := f.id("sec")
	f.secrets = append(f.secrets, swarm.Secret{ID: id, Spec: o.Spec})
	f.record("secret create %s", o.Spec.Name)
	return client.SecretCreateResult{ID: id}, nil
}

func (f *swarmAPI) SecretRemove(_ context.Context, id string, _ client.SecretRemoveOptions) (client.SecretRemoveResult, error) {
	if err := f.failed("SecretRemove"); err != nil {
		return client.SecretRemoveResult{}, err
	}
	i := slices.IndexFunc(f.secrets, func(s swarm.Secret) bool { return s.ID == id })
	if i < 0 {
		return client.SecretRemoveResult{}, cerrdefs.ErrNotFound
	}
	f.record("secret remove %s", f.secrets[i].Spec.Name)
	f.secrets = slices.Delete(f.secrets, i, i+1)
	return client.SecretRemoveResult{}, nil
}

func (f *swarmAPI) ConfigList(_ context.Context, o client.ConfigListOptions) (client.ConfigListResult, error) {
	var out []swarm.Config
	for _, c := range f.configs {
		if match(o.Filters, c.Spec.Name, "", c.Spec.Labels) {
			out = append(out, c)
		}
	}
	return client.ConfigListResult{Items: out}, f.failed("ConfigList")
}

func (f *swarmAPI) ConfigCreate(_ context.Context, o client.ConfigCreateOptions) (client.ConfigCreateResult, error) {
	if err := f.failed("ConfigCreate"); err != nil {
		return client.ConfigCreateResult{}, err
	}
	id := f.id("cfg")
	f.configs = append(f.configs, swarm.Config{ID: id, Spec: o.Spec})
	f.record("config create %s", o.Spec.Name)
	return client.ConfigCreateResult{ID: id}, nil
}

func (f *swarmAPI) ConfigRemove(_ context.Context, id string, _ client.ConfigRemoveOptions) (client.ConfigRemoveResult, error) {
	if err := f.failed("ConfigRemove"); err != nil {
		return client.ConfigRemoveResult{}, err
	}
	i := slices.IndexFunc(f.configs, func(c swarm.Config) bool { return c.ID == id })
	if i < 0 {
		return client.ConfigRemoveResult{}, cerrdefs.ErrNotFound
	}
	f.record("config remove %s", f.configs[i].Spec.Name)
	f.configs = slices.Delete(f.configs, i, i+1)
	return client.ConfigRemoveResult{}, nil
}

func (f *swarmAPI) NetworkList(_ context.Context, o client.NetworkListOptions) (client.NetworkListResult, error) {
	var out []network.Summary
	for _, n := range f.networks {
		if match(o.Filters, n.Name, "", n.Labels) {
			out = append(out, n)
		}
	}
	return client.NetworkListResult{Items: out}, f.failed("NetworkList")
}

func (f *swarmAPI) NetworkCreate(_ context.Context, name string, o client.NetworkCreateOptions) (client.NetworkCreateResult, error) {
	if err := f.failed("NetworkCreate"); err != nil {
		return client.NetworkCreateResult{}, err
	}
	id := f.id("net")
	f.networks = append(f.networks, network.Summary{Network: network.Network{ID: id, Name: name, Driver: o.Driver, Labels: o.Labels}})
	f.record("network create %s %s", name, o.Driver)
	return client.NetworkCreateResult{ID: id}, nil
}

func (f *swarmAPI) NetworkRemove(_ context.Context, id string, _ client.NetworkRemoveOptions) (client.NetworkRemoveResult, error) {
	if err := f.failed("NetworkRemove"); err != nil {
		return client.NetworkRemoveResult{}, err
	}
	i := slices.IndexFunc(f.networks, func(n network.Summary) bool { return n.ID == id })
	if i < 0 {
		return client.NetworkRemoveResult{}, cerrdefs.ErrNotFound
	}
	f.record("network remove %s", f.networks[i].Name)
	f.networks = slices.Delete(f.networks, i, i+1)
	return client.NetworkRemoveResult{}, nil
}

func (f *swarmAPI) VolumeInspect(_ context.Context, name string, _ client.VolumeInspectOptions) (client.VolumeInspectResult, error) {
	if err := f.failed("VolumeInspect"); err != nil {
		return client.VolumeInspectResult{}, err
	}
	v, ok := f.volumes[name]
	if !ok {
		return client.VolumeInspectResult{}, fmt.Errorf("get %s: %w", name, cerrdefs.ErrNotFound)
	}
	return client.VolumeInspectResult{Volume: v}, nil
}

// secretNamed is the secret of f called name.
func (f *swarmAPI) secretNamed(name string) (swarm.Secret, bool) {
	i := slices.IndexFunc(f.secrets, func(s swarm.Secret) bool { return s.Spec.Name == name })
	if i < 0 {
		return swarm.Secret{}, false
	}
	return f.secrets[i], true
}

// serviceNamed is the service of f called name.
func (f *swarmAPI) serviceNamed(name string) (swarm.Service, bool) {
	i := slices.IndexFunc(f.services, func(s swarm.Service) bool { return s.Spec.Name == name })
	if i < 0 {
		return swarm.Service{}, false
	}
	return f.services[i], true
}

var errBoom = errors.New("boom")

// frame is s as one frame of the engine's multiplexed stream: a header
// naming the stream and the length, then the bytes. Empty s is no frame.
func frame(stream stdcopy.StdType, s string) []byte {
	if s == "" {
		return nil
	}
	b := []byte{byte(stream), 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], uint32(len(s)))
	return append(b, s...)
}
