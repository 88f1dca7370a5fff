package swarm

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackctl/stackctl/internal/report"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker/cli/cli/compose/convert"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
	"golang.org/x/sync/errgroup"

	"github.com/stackctl/stackctl/internal/errs"
)

// ErrRefused: the engine or the swarm cannot take the stack (not a manager,
// no data node, a setting Swarm cannot honour); nothing was changed.
var ErrRefused = errors.New("swarm refused the stack")

// ErrNotConverged: a service did not reach its desired tasks, running and
// healthy, in time (Swarm rolls back an update that fails its health check).
var ErrNotConverged = errors.New("swarm services did not converge")

// DataLabel is the node label that marks the node keeping a stack's
// node-local volumes (the database, and the files unless they are shared).
const DataLabel = "org.stackctl.data"

// kindLabel marks the secrets and configs stackctl creates, so that the
// versions no service uses any more can be removed and nothing else is.
const kindLabel = "org.stackctl.swarm"

// Deployer deploys stacks on the swarm whose manager API answers.
type Deployer struct {
	API client.APIClient
	// Report receives progress lines.
	Report *report.Reporter
}

// Deployment is one deploy of a stack: its loaded Swarm stack file and the
// contents of the secrets and configs it names.
type Deployment struct {
	// Namespace is the stack's name on the swarm (Swarm's stack label).
	Namespace string
	Config    *composetypes.Config
	// Secrets and Configs hold the content of each secret and config the
	// file declares, by the versioned name it refers to them with
	// (VersionedName): an existing one of that name already holds it.
	Secrets map[string][]byte
	Configs map[string][]byte
	// Keep are the services (as the stack file names them) that the swarm
	// runs as the file says (ServiceState.Unchanged): Deploy leaves them be.
	Keep []string
}

// VersionedName is the Swarm name of a secret or config, whose content
// cannot change once created: a new content is a new name. For a secret,
// key makes the version an HMAC, so that the name, which anyone who can
// list secrets reads, says nothing of a guessable value (an SMTP password);
// for a config, key is nil and the version a plain digest.
func VersionedName(namespace, name string, content, key []byte) string {
	var sum []byte
	if key != nil {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(name + "\x00"))
		m.Write(content)
		sum = m.Sum(nil)
	} else {
		s := sha256.Sum256(content)
		sum = s[:]
	}
	return namespace + "_" + name + "_" + hex.EncodeToString(sum)[:12]
}

// CheckManager refuses an engine that is not a manager of a swarm.
func (d Deployer) CheckManager(ctx context.Context) error {
	info, err := d.API.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Errorf("%w: asking the engine whether it manages a swarm: %v", errs.ErrUnavailable, err)
	}
	sw := info.Info.Swarm
	switch {
	case sw.LocalNodeState != swarm.LocalNodeStateActive:
		return fmt.Errorf("%w: the engine %s is in no swarm (state %q): point --swarm-host (or DOCKER_HOST) at a manager of your swarm, "+
			"or make one with 'docker swarm init' on the host that should manage it", ErrRefused, d.API.DaemonHost(), sw.LocalNodeState)
	case !sw.ControlAvailable:
		return fmt.Errorf("%w: the engine %s is a swarm worker, which cannot deploy: point --swarm-host at a manager ('docker node ls' on one lists them)",
			ErrRefused, d.API.DaemonHost())
	}
	return nil
}

// DataNode returns the hostname of the one node labelled DataLabel.
// With want set (a node's hostname or ID), that node is labelled first when
// no node is; a label already on another node is refused rather than moved,
// since the data stays where it was written.
func (d Deployer) DataNode(ctx context.Context, want string) (string, error) {
	node, wanted, err := d.findDataNode(ctx, want)
	if err != nil || wanted == nil {
		return node, err
	}
	spec := wanted.Spec
	spec.Labels = maps.Clone(spec.Labels)
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels[DataLabel] = "true"
	if _, err := d.API.NodeUpdate(ctx, wanted.ID, client.NodeUpdateOptions{Version: wanted.Version, Spec: spec}); err != nil {
		return "", fmt.Errorf("labelling node %s %s=true: %w", want, DataLabel, err)
	}
	d.logf("node %s labelled %s=true: the stack's database (and its files, unless shared) live there", wanted.Description.Hostname, DataLabel)
	return wanted.Description.Hostname, nil
}

func hostnames(nodes []swarm.Node) string {
	var names []string
	for _, n := range nodes {
		names = append(names, n.Description.Hostname)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// Deploy creates what dep's file needs that the swarm lacks (networks,
// secrets and configs by their versioned names), then creates or updates
// each service, as 'docker stack deploy' does, with the images as given
// (digest references: the registry is not asked again). It returns once
// the swarm accepted every change; Wait follows the rollout.
func (d Deployer) Deploy(ctx context.Context, dep Deployment) error {
	ns := convert.NewNamespace(dep.Namespace)
	cfg := dep.Config
	used := map[string]struct{}{}
	for _, s := range cfg.Services {
		if len(s.Networks) == 0 {
			used["default"] = struct{}{}
		}
		for name := range s.Networks {
			used[name] = struct{}{}
		}
	}
	networks, external := convert.Networks(ns, cfg.Networks, used)
	if len(external) > 0 {
		return fmt.Errorf("%w: the stack file names external networks %s, which stackctl does not make", ErrRefused, strings.Join(external, ", "))
	}
	if err := d.createNetworks(ctx, ns, networks); err != nil {
		return err
	}
	if err := d.createSecrets(ctx, dep); err != nil {
		return err
	}
	if err := d.createConfigs(ctx, dep); err != nil {
		return err
	}
	specs, err := convert.Services(ctx, ns, cfg, d.API)
	if err != nil {
		return fmt.Errorf("converting the stack file's services: %w", err)
	}
	planned, err := plannedSpecs(ctx, dep)
	if err != nil {
		return err
	}
	existing, err := d.services(ctx, dep.Namespace)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		spec := specs[name]
		full := ns.Scope(name)
		// What the next deploy compares with (Observe).
		spec.Labels = maps.Clone(spec.Labels)
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		spec.Labels[SpecLabel] = specDigest(planned[name])
		if svc, ok := existing[full]; ok {
			if slices.Contains(dep.Keep, name) {
				continue
			}
			// Keep a forced update's counter: changing it redeploys every task.
			spec.TaskTemplate.ForceUpdate = svc.Spec.TaskTemplate.ForceUpdate
			res, err := d.API.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: svc.Version, Spec: spec})
			if err != nil {
				return fmt.Errorf("updating service %s: %w", full, err)
			}
			for _, w := range res.Warnings {
				d.logf("service %s: %s", full, w)
			}
			d.logf("service %s updated", full)
			continue
		}
		res, err := d.API.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
		if err != nil {
			return fmt.Errorf("creating service %s: %w", full, err)
		}
		for _, w := range res.Warnings {
			d.logf("service %s: %s", full, w)
		}
		d.logf("service %s created", full)
	}
	return nil
}

func (d Deployer) createNetworks(ctx context.Context, ns convert.Namespace, networks map[string]client.NetworkCreateOptions) error {
	have, err := d.API.NetworkList(ctx, client.NetworkListOptions{Filters: stackFilter(ns.Name())})
	if err != nil {
		return fmt.Errorf("listing the stack's networks: %w", err)
	}
	exists := map[string]bool{}
	for _, n := range have.Items {
		exists[n.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(networks)) {
		if exists[name] {
			continue
		}
		opts := networks[name]
		if opts.Driver == "" {
			opts.Driver = "overlay"
		}
		if _, err := d.API.NetworkCreate(ctx, name, opts); err != nil {
			return fmt.Errorf("creating network %s: %w", name, err)
		}
		d.logf("network %s created", name)
	}
	return nil
}

func (d Deployer) createSecrets(ctx context.Context, dep Deployment) error {
	have, err := d.API.SecretList(ctx, client.SecretListOptions{Filters: stackFilter(dep.Namespace)})
	if err != nil {
		return fmt.Errorf("listing the stack's secrets: %w", err)
	}
	exists := map[string]bool{}
	for _, s := range have.Items {
		exists[s.Spec.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(dep.Secrets)) {
		if exists[name] {
			continue
		}
		spec := swarm.SecretSpec{
			Annotations: swarm.Annotations{Name: name, Labels: map[string]string{convert.LabelNamespace: dep.Namespace, kindLabel: "secret"}},
			Data:        dep.Secrets[name],
		}
		if _, err := d.API.SecretCreate(ctx, client.SecretCreateOptions{Spec: spec}); err != nil {
			return fmt.Errorf("creating secret %s: %w", name, err)
		}
		d.logf("secret %s created", name)
	}
	return nil
}

func (d Deployer) createConfigs(ctx context.Context, dep Deployment) error {
	have, err := d.API.ConfigList(ctx, client.ConfigListOptions{Filters: stackFilter(dep.Namespace)})
	if err != nil {
		return fmt.Errorf("listing the stack's configs: %w", err)
	}
	exists := map[string]bool{}
	for _, c := range have.Items {
		exists[c.Spec.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(dep.Configs)) {
		if exists[name] {
			continue
		}
		spec := swarm.ConfigSpec{
			Annotations: swarm.Annotations{Name: name, Labels: map[string]string{convert.LabelNamespace: dep.Namespace, kindLabel: "config"}},
			Data:        dep.Configs[name],
		}
		if _, err := d.API.ConfigCreate(ctx, client.ConfigCreateOptions{Spec: spec}); err != nil {
			return fmt.Errorf("creating config %s: %w", name, err)
		}
		d.logf("config %s created", name)
	}
	return nil
}

// services are the stack's services by name.
func (d Deployer) services(ctx context.Context, namespace string) (map[string]swarm.Service, error) {
	list, err := d.API.ServiceList(ctx, client.ServiceListOptions{Filters: stackFilter(namespace)})
	if err != nil {
		return nil, fmt.Errorf("listing the stack's services: %w", err)
	}
	out := map[string]swarm.Service{}
	for _, s := range list.Items {
		out[s.Spec.Name] = s
	}
	return out, nil
}

func stackFilter(namespace string) client.Filters {
	return make(client.Filters).Add("label", convert.LabelNamespace+"="+namespace)
}

// Wait follows the stack's rollout until every service runs its desired
// tasks (a task runs only once its health check passed) and no update is
// under way, or timeout passes. A service whose update Swarm rolled back or
// paused fails at once, with the error its newest failed task gave. A
// service update clears the service's update status, and Swarm starts the
// update a moment later: the stack counts as converged only once it has
// looked so for settle, as docker/cli's own progress does.
func (d Deployer) Wait(ctx context.Context, namespace string, timeout time.Duration) error {
	const settle = 5 * time.Second
	deadline := time.Now().Add(timeout)
	last := ""
	var convergedAt time.Time
	for {
		pending, failed, err := d.progress(ctx, namespace)
		if err != nil {
			return err
		}
		if failed != "" {
			return fmt.Errorf("%w: %s", ErrNotConverged, failed)
		}
		if len(pending) > 0 {
			convergedAt = time.Time{}
		} else if convergedAt.IsZero() {
			convergedAt = time.Now()
		} else if time.Since(convergedAt) >= settle {
			return nil
		}
		if say := strings.Join(pending, "; "); say != last && say != "" {
			d.logf("waiting: %s", say)
			last = say
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: after %s: %s ('stackctl ps' and 'stackctl logs' show why)", ErrNotConverged, timeout, strings.Join(pending, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// progress says, for each service of the stack not yet converged, what it
// waits for; failed is set when an update was rolled back or paused.
func (d Deployer) progress(ctx context.Context, namespace string) (pending []string, failed string, err error) {
	svcs, err := d.services(ctx, namespace)
	if err != nil {
		return nil, "", err
	}
	if len(svcs) == 0 {
		return nil, "", fmt.Errorf("%w: the swarm has no service of stack %s", errs.ErrNotFound, namespace)
	}
	tasks, err := d.API.TaskList(ctx, client.TaskListOptions{Filters: stackFilter(namespace)})
	if err != nil {
		return nil, "", fmt.Errorf("listing the stack's tasks: %w", err)
	}
	nodes, err := d.readyNodes(ctx)
	if err != nil {
		return nil, "", err
	}
	for _, name := range slices.Sorted(maps.Keys(svcs)) {
		svc := svcs[name]
		if u := svc.UpdateStatus; u != nil {
			switch u.State {
			case swarm.UpdateStateRollbackCompleted, swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused:
				return nil, fmt.Sprintf("service %s: update %s: %s%s", name, u.State, u.Message, lastError(tasks.Items, svc.ID)), nil
			case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
				pending = append(pending, fmt.Sprintf("%s %s", name, u.State))
				continue
			}
		}
		running := 0
		desired := 0
		for _, t := range tasks.Items {
			if t.ServiceID != svc.ID || t.DesiredState != swarm.TaskStateRunning {
				continue
			}
			if svc.Spec.Mode.Global != nil && !nodes[t.NodeID] {
				continue // on a node that is down: Swarm runs it again when the node is back
			}
			desired++
			if t.Status.State == swarm.TaskStateRunning {
				running++
			}
		}
		if r := svc.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
			desired = int(*r.Replicas)
		}
		if running < desired || desired == 0 && svc.Spec.Mode.Global != nil {
			pending = append(pending, fmt.Sprintf("%s %d/%d running%s", name, running, desired, lastError(tasks.Items, svc.ID)))
		}
	}
	return pending, "", nil
}

// readyNodes are the IDs of the nodes whose status is ready.
func (d Deployer) readyNodes(ctx context.Context) (map[string]bool, error) {
	nodes, err := d.API.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the swarm's nodes: %w", err)
	}
	out := map[string]bool{}
	for _, n := range nodes.Items {
		out[n.ID] = n.Status.State == swarm.NodeStateReady && n.Spec.Availability == swarm.NodeAvailabilityActive
	}
	return out, nil
}

// lastError is ", last error: …" from the newest task of service that
// reported one, or "".
func lastError(tasks []swarm.Task, service string) string {
	var newest *swarm.Task
	for i, t := range tasks {
		if t.ServiceID != service || t.Status.Err == "" {
			continue
		}
		if newest == nil || t.Status.Timestamp.After(newest.Status.Timestamp) {
			newest = &tasks[i]
		}
	}
	if newest == nil {
		return ""
	}
	return fmt.Sprintf(" (last task error: %s)", newest.Status.Err)
}

// Prune removes the stack's secrets and configs that stackctl made and no
// service refers to any more: the versions an update replaced.
func (d Deployer) Prune(ctx context.Context, namespace string) error {
	svcs, err := d.services(ctx, namespace)
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	for _, s := range svcs {
		// The previous spec's too: a rollback (Swarm's own, or an
		// operator's 'docker service rollback') needs them.
		for _, spec := range []*swarm.ServiceSpec{&s.Spec, s.PreviousSpec} {
			if spec == nil || spec.TaskTemplate.ContainerSpec == nil {
				continue
			}
			for _, r := range spec.TaskTemplate.ContainerSpec.Secrets {
				inUse[r.SecretID] = true
			}
			for _, r := range spec.TaskTemplate.ContainerSpec.Configs {
				inUse[r.ConfigID] = true
			}
		}
	}
	f := stackFilter(namespace).Add("label", kindLabel)
	secrets, err := d.API.SecretList(ctx, client.SecretListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("listing the stack's secrets: %w", err)
	}
	for _, s := range secrets.Items {
		if !inUse[s.ID] {
			if _, err := d.API.SecretRemove(ctx, s.ID, client.SecretRemoveOptions{}); err != nil {
				return fmt.Errorf("removing secret %s, which no service uses: %w", s.Spec.Name, err)
			}
		}
	}
	configs, err := d.API.ConfigList(ctx, client.ConfigListOptions{Filters: f})
	if err != nil {
		return fmt.Errorf("listing the stack's configs: %w", err)
	}
	for _, c := range configs.Items {
		if !inUse[c.ID] {
			if _, err := d.API.ConfigRemove(ctx, c.ID, client.ConfigRemoveOptions{}); err != nil {
				return fmt.Errorf("removing config %s, which no service uses: %w", c.Spec.Name, err)
			}
		}
	}
	return nil
}

// Remove takes the stack off the swarm: its services, then its secrets,
// configs and networks. Volumes stay: they are node-local, on the nodes that
// ran the tasks, and hold the data (see docs/swarm.md).
func (d Deployer) Remove(ctx context.Context, namespace string) error {
	svcs, err := d.services(ctx, namespace)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(svcs)) {
		if _, err := d.API.ServiceRemove(ctx, svcs[name].ID, client.ServiceRemoveOptions{}); err != nil {
			return fmt.Errorf("removing service %s: %w", name, err)
		}
		d.logf("service %s removed", name)
	}
	// A removed service's tasks still hold its secrets and network for a moment.
	deadline := time.Now().Add(time.Minute)
	for {
		tasks, err := d.API.TaskList(ctx, client.TaskListOptions{Filters: stackFilter(namespace)})
		if err != nil {
			return fmt.Errorf("listing the stack's tasks: %w", err)
		}
		if len(tasks.Items) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if err := d.Prune(ctx, namespace); err != nil {
		return err
	}
	nets, err := d.API.NetworkList(ctx, client.NetworkListOptions{Filters: stackFilter(namespace)})
	if err != nil {
		return fmt.Errorf("listing the stack's networks: %w", err)
	}
	for _, n := range nets.Items {
		if _, err := d.API.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			return fmt.Errorf("removing network %s: %w", n.Name, err)
		}
	}
	return nil
}

// StopService scales the stack's service (as the stack file names it) to no
// task and waits, up to timeout, until none of its tasks runs: the next
// deploy sets its replicas again. A service that is not there is no error.
func (d Deployer) StopService(ctx context.Context, namespace, service string, timeout time.Duration) error {
	name := convert.NewNamespace(namespace).Scope(service)
	svcs, err := d.services(ctx, namespace)
	if err != nil {
		return err
	}
	svc, ok := svcs[name]
	if !ok {
		return nil
	}
	if m := svc.Spec.Mode.Replicated; m != nil && (m.Replicas == nil || *m.Replicas != 0) {
		spec := svc.Spec
		zero := uint64(0)
		spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &zero}
		if _, err := d.API.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: svc.Version, Spec: spec}); err != nil {
			return fmt.Errorf("stopping service %s: %w", name, err)
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		tasks, err := d.API.TaskList(ctx, client.TaskListOptions{Filters: make(client.Filters).Add("service", svc.ID)})
		if err != nil {
			return fmt.Errorf("listing the tasks of %s: %w", name, err)
		}
		running := 0
		for _, t := range tasks.Items {
			if t.Status.State == swarm.TaskStateRunning || t.Status.State == swarm.TaskStateStarting || t.Status.State == swarm.TaskStatePreparing {
				running++
			}
		}
		if running == 0 {
			d.logf("service %s stopped", name)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %d tasks of %s still run %s after it was scaled to none", ErrNotConverged, running, name, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (d Deployer) logf(format string, args ...any) { d.Report.Printf(format, args...) }

// Task is one task of a stack's service, as ps shows it.
type Task struct {
	Service, Node       string
	Slot                int
	Desired, State, Err string
	Since               time.Time
	Image               string
}

// Tasks are the stack's tasks that should run or have just stopped, by
// service and slot: the newest task of each slot and node.
func (d Deployer) Tasks(ctx context.Context, namespace string) ([]Task, error) {
	tasks, err := d.API.TaskList(ctx, client.TaskListOptions{Filters: stackFilter(namespace)})
	if err != nil {
		return nil, fmt.Errorf("listing the stack's tasks: %w", err)
	}
	svcs, err := d.services(ctx, namespace)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for name, s := range svcs {
		names[s.ID] = name
	}
	nodes, err := d.API.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing the swarm's nodes: %w", err)
	}
	hosts := map[string]string{}
	for _, n := range nodes.Items {
		hosts[n.ID] = n.Description.Hostname
	}
	var out []Task
	for _, t := range tasks.Items {
		if t.DesiredState != swarm.TaskStateRunning && t.Status.State != swarm.TaskStateRunning {
			continue // history: the tasks an update or a failure replaced
		}
		task := Task{Service: names[t.ServiceID], Node: hosts[t.NodeID], Slot: t.Slot, Desired: string(t.DesiredState),
			State: string(t.Status.State), Err: t.Status.Err, Since: t.Status.Timestamp}
		if cs := t.Spec.ContainerSpec; cs != nil {
			task.Image = cs.Image
		}
		out = append(out, task)
	}
	slices.SortFunc(out, func(a, b Task) int {
		return cmp.Or(strings.Compare(a.Service, b.Service), a.Slot-b.Slot, strings.Compare(a.Node, b.Node))
	})
	return out, nil
}

// Logs copies the logs of the stack's services (all when services is
// empty; names as the stack file has them) to w, each line prefixed with
// its service.
func (d Deployer) Logs(ctx context.Context, namespace string, services []string, w io.Writer, o client.ServiceLogsOptions) error {
	ns := convert.NewNamespace(namespace)
	svcs, err := d.services(ctx, namespace)
	if err != nil {
		return err
	}
	if len(services) == 0 {
		for name := range svcs {
			services = append(services, ns.Descope(name))
		}
		slices.Sort(services)
	}
	for _, s := range services {
		if _, ok := svcs[ns.Scope(s)]; !ok {
			return fmt.Errorf("%w: stack %s has no service %s on the swarm", errs.ErrNotFound, namespace, s)
		}
	}
	o.ShowStdout, o.ShowStderr = true, true
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range services {
		svc := svcs[ns.Scope(s)]
		g.Go(func() error {
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			// Without follow, Swarm's log stream sometimes never ends after the
			// last line (moby/moby#38640): what is there comes at once, so a
			// stream silent for logsIdle once it began (logsFirst before) has
			// given it all.
			var idle *time.Timer
			var quiet atomic.Bool
			if !o.Follow {
				idle = time.AfterFunc(logsFirst, func() { quiet.Store(true); cancel() })
				defer idle.Stop()
			}
			rc, err := d.API.ServiceLogs(sctx, svc.ID, o)
			if err != nil {
				return fmt.Errorf("reading %s's logs: %w", s, err)
			}
			defer rc.Close()
			context.AfterFunc(sctx, func() { rc.Close() })
			pw := &prefixed{w: w, mu: &mu, prefix: s + " | ", wrote: func() {
				if idle != nil {
					idle.Reset(logsIdle)
				}
			}}
			_, err = stdcopy.StdCopy(pw, pw, rc)
			if quiet.Load() {
				err = nil
			}
			if err == nil && len(pw.buf) > 0 {
				_, err = pw.Write([]byte("\n")) // a last line without its newline
			}
			return err
		})
	}
	return g.Wait()
}

// logsFirst and logsIdle end a log stream without follow that has said
// nothing for this long, before its first line and after one (see Logs).
const (
	logsFirst = 30 * time.Second
	logsIdle  = 5 * time.Second
)

// prefixed writes whole lines to w, each with prefix, under mu.
type prefixed struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
	// wrote, when set, is called on every write.
	wrote func()
}

func (p *prefixed) Write(b []byte) (int, error) {
	if p.wrote != nil {
		p.wrote()
	}
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.mu.Lock()
		_, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		if err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
}

// ComposeVolume says whether this engine has a volume called name that
// Docker Compose made (a stack run on this engine with Compose, not by the
// swarm): the Swarm form's volumes have the same names as the compose
// file's first generation.
func (d Deployer) ComposeVolume(ctx context.Context, name string) (bool, error) {
	res, err := d.API.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspecting volume %s: %w", name, err)
	}
	_, compose := res.Volume.Labels["com.docker.compose.project"]
	return compose, nil
}
