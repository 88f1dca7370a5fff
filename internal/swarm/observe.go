package swarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/convert"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// SpecLabel carries, on each service stackctl deploys, the digest of its spec
// but for the image and the replicas (specDigest): a later deploy reads it
// back to know whether the swarm runs the service as the stack file now says,
// where the spec the swarm returns has its defaults filled in.
const SpecLabel = "org.stackctl.spec"

// ServiceState is one service of a deployment against what the swarm runs:
// what a deploy would change of it, and how Swarm rolls that out.
type ServiceState struct {
	// Name is the service as the stack file names it (db, redmine, nginx).
	Name   string
	Exists bool
	// What of it a deploy changes: "image", "settings".
	What []string
	// Tasks are the replicas it has now and Want those the deploy asks; 0
	// for a global service (one task a node).
	Tasks, Want int
	Global      bool
	// OnDataNode: its tasks run on the data node only.
	OnDataNode bool
	// Order is how an update replaces a task ("start-first": the new one
	// beside the old, "stop-first": the old one stopped first), and Delay the
	// wait between one task's (or node's) update and the next.
	Order string
	Delay time.Duration
	// Running counts its tasks that run (healthy, where it has a check) of
	// the Desired ones.
	Running, Desired int
	// Failed is its last update's state when Swarm rolled it back or paused it.
	Failed string
}

// Unchanged says a deploy leaves the service as it runs.
func (s ServiceState) Unchanged() bool {
	return s.Exists && len(s.What) == 0 && s.Tasks == s.Want && s.Failed == ""
}

// Observe compares each service of dep with what the swarm runs, and changes
// nothing: a service is changed when its image, or the digest its SpecLabel
// recorded (none: deployed before stackctl labelled it), differs from dep's.
func (d Deployer) Observe(ctx context.Context, dep Deployment) ([]ServiceState, error) {
	want, err := plannedSpecs(ctx, dep)
	if err != nil {
		return nil, err
	}
	existing, err := d.services(ctx, dep.Namespace)
	if err != nil {
		return nil, err
	}
	tasks, err := d.API.TaskList(ctx, client.TaskListOptions{Filters: stackFilter(dep.Namespace)})
	if err != nil {
		return nil, fmt.Errorf("listing the stack's tasks: %w", err)
	}
	ready, err := d.readyNodes(ctx)
	if err != nil {
		return nil, err
	}
	ns := convert.NewNamespace(dep.Namespace)
	var out []ServiceState
	for _, name := range slices.Sorted(maps.Keys(want)) {
		spec := want[name]
		s := ServiceState{Name: name, Global: spec.Mode.Global != nil, Want: replicas(spec)}
		if u := spec.UpdateConfig; u != nil {
			s.Order, s.Delay = string(u.Order), u.Delay
		}
		if p := spec.TaskTemplate.Placement; p != nil {
			s.OnDataNode = slices.Contains(p.Constraints, dataConstraint)
		}
		svc, ok := existing[ns.Scope(name)]
		if !ok {
			out = append(out, s)
			continue
		}
		s.Exists, s.Tasks = true, replicas(svc.Spec)
		if !sameImage(image(svc.Spec), image(spec)) {
			s.What = append(s.What, "image")
		}
		if svc.Spec.Labels[SpecLabel] != specDigest(spec) {
			s.What = append(s.What, "settings")
		}
		if u := svc.UpdateStatus; u != nil {
			switch u.State {
			case swarm.UpdateStateRollbackCompleted, swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused:
				s.Failed = string(u.State)
			}
		}
		for _, t := range tasks.Items {
			if t.ServiceID != svc.ID || t.DesiredState != swarm.TaskStateRunning || s.Global && !ready[t.NodeID] {
				continue
			}
			if s.Global {
				s.Desired++
			}
			if t.Status.State == swarm.TaskStateRunning {
				s.Running++
			}
		}
		if !s.Global {
			s.Desired = s.Tasks
		}
		out = append(out, s)
	}
	return out, nil
}

// plannedSpecs are dep's services as Deploy converts them, with the secrets
// and configs named by their versioned names where Deploy puts the IDs the
// swarm gave them: those that do not exist yet have none.
func plannedSpecs(ctx context.Context, dep Deployment) (map[string]swarm.ServiceSpec, error) {
	specs, err := convert.Services(ctx, convert.NewNamespace(dep.Namespace), dep.Config, byName{})
	if err != nil {
		return nil, fmt.Errorf("converting the stack file's services: %w", err)
	}
	return specs, nil
}

// byName answers the converter's look-ups of secrets and configs with every
// name asked for, its own ID.
type byName struct{ client.APIClient }

func (byName) SecretList(_ context.Context, o client.SecretListOptions) (client.SecretListResult, error) {
	var out client.SecretListResult
	for name := range o.Filters["name"] {
		out.Items = append(out.Items, swarm.Secret{ID: name, Spec: swarm.SecretSpec{Annotations: swarm.Annotations{Name: name}}})
	}
	return out, nil
}

func (byName) ConfigList(_ context.Context, o client.ConfigListOptions) (client.ConfigListResult, error) {
	var out client.ConfigListResult
	for name := range o.Filters["name"] {
		out.Items = append(out.Items, swarm.Config{ID: name, Spec: swarm.ConfigSpec{Annotations: swarm.Annotations{Name: name}}})
	}
	return out, nil
}

// specDigest is the digest of spec (as plannedSpecs makes it) but for what
// Observe compares on its own (the image, the replicas) and what Deploy
// keeps of the running service (a forced update's counter).
func specDigest(spec swarm.ServiceSpec) string {
	spec.Labels = maps.Clone(spec.Labels)
	delete(spec.Labels, SpecLabel)
	delete(spec.Labels, convert.LabelImage)
	if c := spec.TaskTemplate.ContainerSpec; c != nil {
		c2 := *c
		c2.Image = ""
		spec.TaskTemplate.ContainerSpec = &c2
	}
	spec.TaskTemplate.ForceUpdate = 0
	if r := spec.Mode.Replicated; r != nil {
		spec.Mode.Replicated = &swarm.ReplicatedService{}
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return "" // a spec is plain data: never
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

func image(spec swarm.ServiceSpec) string {
	if c := spec.TaskTemplate.ContainerSpec; c != nil {
		return c.Image
	}
	return ""
}

// sameImage says whether references a and b name the same image: the
// client writes a Docker Hub name short (FamiliarString) when it sends a spec.
func sameImage(a, b string) bool {
	na, errA := reference.ParseNormalizedNamed(a)
	nb, errB := reference.ParseNormalizedNamed(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return na.String() == nb.String()
}

func replicas(spec swarm.ServiceSpec) int {
	if r := spec.Mode.Replicated; r != nil && r.Replicas != nil {
		return int(*r.Replicas)
	}
	return 0
}

// FindDataNode is the data node DataNode would return, changing nothing:
// label says DataNode would label it first (the node want names, when no
// node is labelled yet).
func (d Deployer) FindDataNode(ctx context.Context, want string) (node string, label bool, err error) {
	node, wanted, err := d.findDataNode(ctx, want)
	return node, wanted != nil, err
}

// findDataNode is the one node labelled DataLabel, or else the node want
// names, returned as wanted too: the node to label.
func (d Deployer) findDataNode(ctx context.Context, want string) (string, *swarm.Node, error) {
	nodes, err := d.API.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("listing the swarm's nodes: %w", err)
	}
	var labelled []swarm.Node
	var wanted *swarm.Node
	for i, n := range nodes.Items {
		if n.Spec.Labels[DataLabel] == "true" {
			labelled = append(labelled, n)
		}
		if want != "" && (n.Description.Hostname == want || n.ID == want) {
			wanted = &nodes.Items[i]
		}
	}
	switch {
	case len(labelled) > 1:
		var names []string
		for _, n := range labelled {
			names = append(names, n.Description.Hostname)
		}
		return "", nil, fmt.Errorf("%w: nodes %s all carry %s=true; the database's volume lives on one node: remove the label from all but the one that holds the data "+
			"('docker node update --label-rm %s NODE')", ErrRefused, strings.Join(names, ", "), DataLabel, DataLabel)
	case len(labelled) == 1:
		n := labelled[0]
		if wanted != nil && wanted.ID != n.ID {
			return "", nil, fmt.Errorf("%w: --data-node %s, but the stack's data node is %s (labelled %s=true): the data stays where it was written; "+
				"move it with a backup and a restore", ErrRefused, want, n.Description.Hostname, DataLabel)
		}
		return n.Description.Hostname, nil, nil
	case want == "":
		return "", nil, fmt.Errorf("%w: no node of the swarm is labelled %s=true, so there is no node for the database's volume: "+
			"give --data-node NODE (one of %s), or label one with 'docker node update --label-add %s=true NODE'", ErrRefused, DataLabel, hostnames(nodes.Items), DataLabel)
	case wanted == nil:
		return "", nil, fmt.Errorf("%w: --data-node %s is not a node of this swarm (nodes: %s)", ErrRefused, want, hostnames(nodes.Items))
	}
	return wanted.Description.Hostname, wanted, nil
}
