package stack

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
)

// SwarmUp are up's choices for a stack on a swarm (--swarm-host and the rest).
type SwarmUp struct {
	// Host is the manager's API address; "" keeps the recorded one (or
	// DOCKER_HOST's on a first deploy).
	Host string
	// Registry is REGISTRY[/PREFIX] the nodes pull from.
	Registry string
	// DataNode and DataNodeHost name the node keeping the data and its
	// engine's API address.
	DataNode, DataNodeHost string
	Replicas               int
	// FilesVolume are the local driver's options of shared storage for
	// Redmine's files.
	FilesVolume map[string]string
}

func (o SwarmUp) set() bool { return len(o.flags()) > 0 }

// flags names the options set, as the command line gives them.
func (o SwarmUp) flags() []string {
	var out []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"--swarm-host", o.Host != ""}, {"--registry", o.Registry != ""}, {"--data-node", o.DataNode != ""},
		{"--data-node-host", o.DataNodeHost != ""}, {"--replicas", o.Replicas != 0}, {"--files-volume", o.FilesVolume != nil},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// swarmBackend runs the stack on a Docker Swarm: its manager deploys, its
// data node keeps the database (and the files, unless shared).
type swarmBackend struct {
	s *Stack
	// fresh: up --on swarm deploys a stack that has never been on one.
	fresh bool
	// clients are the engines dialled, by address: one client each for the
	// whole command (a restore reads the data node, then deploys from it).
	clients map[string]client.APIClient
}

func (b *swarmBackend) where() string { return OnSwarm }
func (b *swarmBackend) place() string { return "the swarm" }

// swarmLacks are the verbs a stack on a swarm does not have yet, each with
// what to do instead: the one place that says so.
var swarmLacks = map[Verb]string{
	VerbTrial:       "back up without it and test the archive on one engine with 'stackctl verify-backup' and 'restore-volumes'",
	VerbGenerations: "the data node's volumes are named per generation (docs/swarm.md)",
	VerbPrune:       "remove an old generation's volumes on the data node with 'docker volume rm' (docs/swarm.md)",
	VerbRenew:       "stackctl serves no HTTPS on a swarm yet: end TLS at a proxy in front of the nodes (docs/swarm.md)",
	VerbUpgrade:     "back up, deploy the new release on one engine and restore there (docs/swarm.md)",
	VerbStatus:      "'stackctl ps' shows the swarm's tasks",
	VerbUpdate:      "rebuild the bases on this engine ('stackctl base build --force NAME') and deploy again ('stackctl up STACK')",
	VerbMailTest:    "send Redmine's test mail from Administration > Settings > Email notifications",
}

func (b *swarmBackend) supports(v Verb) error {
	if instead, ok := swarmLacks[v]; ok {
		return fmt.Errorf("%w: stack %s runs on a swarm, where %s does not work yet: %s", ErrUnsupported, b.s.Def.Name, v, instead)
	}
	return nil
}

func (b *swarmBackend) rec() state.Swarm { return *b.s.rec.Swarm }

// dial reaches the engine at host through the environment's dialer.
func (b *swarmBackend) dial(host string) (client.APIClient, error) {
	if c, ok := b.clients[host]; ok {
		return c, nil
	}
	dial := engine.Dial
	if b.s.env.Dial != nil {
		dial = b.s.env.Dial
	}
	c, err := dial(host)
	if err != nil {
		return nil, err
	}
	if b.clients == nil {
		b.clients = map[string]client.APIClient{}
	}
	b.clients[host] = c
	return c, nil
}

// close closes the engines dialled.
func (b *swarmBackend) close() {
	for _, c := range b.clients {
		c.Close()
	}
	b.clients = nil
}

// deployer is the recorded manager's.
func (b *swarmBackend) deployer() (swarm.Deployer, error) {
	api, err := b.dial(b.rec().Manager)
	if err != nil {
		return swarm.Deployer{}, err
	}
	return swarm.Deployer{API: api, Report: b.s.env.Report}, nil
}

// dataEngine is the data node's engine, where the database is.
func (b *swarmBackend) dataEngine() (*engine.Engine, error) {
	sw := b.rec()
	if sw.DataNodeHost == "" {
		return nil, fmt.Errorf("%w: stack %s runs on a swarm, and stackctl does not know the API address of its data node %s's engine, "+
			"where the data is: deploy again with --data-node-host tcp://ADDRESS:PORT", swarm.ErrRefused, b.s.Def.Name, sw.DataNode)
	}
	api, err := b.dial(sw.DataNodeHost)
	if err != nil {
		return nil, err
	}
	return &engine.Engine{API: api}, nil
}

// swarmData is what a restore or a rollback needs: the manager and the data
// node's engine, which is also the runner's (its seed finds containers there).
func (b *swarmBackend) swarmData(ctx context.Context, files map[string]string, timeout time.Duration) (Runner, SwarmDataOptions, error) {
	data, err := b.dataEngine()
	if err != nil {
		return Runner{}, SwarmDataOptions{}, err
	}
	d, err := b.deployer()
	if err != nil {
		return Runner{}, SwarmDataOptions{}, err
	}
	r, err := b.s.local(ctx)
	if err != nil {
		return Runner{}, SwarmDataOptions{}, err
	}
	r.Engine = data
	return r, SwarmDataOptions{Manager: d.API, Data: data, FilesVolume: files, Timeout: timeout}, nil
}

// recover leaves what a stopped restore left to the next up, restore or
// rollback, which remove it first (RecoverSwarm): they reach the data node.
func (b *swarmBackend) recover(context.Context) error { return nil }

// plan computes what up would do on the swarm, changing nothing; on a stack
// never deployed there (up --dry-run --on swarm), its first deploy.
func (b *swarmBackend) plan(ctx context.Context, o UpOptions) (Plan, error) {
	r, so, err := b.upOptions(ctx, o)
	if err != nil {
		return Plan{}, err
	}
	return r.PlanSwarm(ctx, so)
}

// up deploys the stack on its swarm: the recorded manager and registry
// unless the options change them.
func (b *swarmBackend) up(ctx context.Context, o UpOptions) (UpResult, error) {
	sw := b.rec()
	r, so, err := b.upOptions(ctx, o)
	if err != nil {
		return UpResult{}, err
	}
	if !b.fresh && sw.Pending != 0 && sw.DataNodeHost != "" {
		// What a restore stopped half way left on the data node goes first.
		data, err := b.dataEngine()
		if err != nil {
			return UpResult{}, err
		}
		if err := r.RecoverSwarm(ctx, data); err != nil {
			return UpResult{}, err
		}
	}
	res, err := r.UpSwarm(ctx, so)
	if err == nil {
		res.Notes = append(res.Notes, "nginx answers on every node of the swarm")
	}
	return res, err
}

// upOptions are up's options on the swarm, with the recorded manager and
// registry unless o changes them, and this engine's runner, which builds.
func (b *swarmBackend) upOptions(ctx context.Context, o UpOptions) (Runner, SwarmOptions, error) {
	sw := b.rec()
	host, reg := cmp.Or(o.Swarm.Host, sw.Manager), cmp.Or(o.Swarm.Registry, sw.Registry)
	if reg == "" {
		return Runner{}, SwarmOptions{}, fmt.Errorf("%w: a swarm's nodes pull the images from a registry: give --registry REGISTRY[/PREFIX], such as registry.example.com:5000/redmine", errs.ErrInvalidInput)
	}
	api, err := b.dial(host)
	if err != nil {
		return Runner{}, SwarmOptions{}, err
	}
	r, err := b.s.local(ctx)
	if err != nil {
		return Runner{}, SwarmOptions{}, err
	}
	return r, SwarmOptions{
		Profile: o.Profile, Mirror: o.Mirror, RebuildBases: o.RebuildBases, Registry: reg,
		Manager: api, DataNode: o.Swarm.DataNode, DataNodeHost: o.Swarm.DataNodeHost, Replicas: o.Swarm.Replicas,
		FilesVolume: o.Swarm.FilesVolume, Listen: o.Listen, Timeout: o.Timeout, Push: b.s.env.Push,
	}, nil
}

// down takes the stack off its swarm. Its volumes are node-local, on the
// nodes that ran its tasks, out of the manager's reach: stackctl does not
// remove them, and says where they are.
func (b *swarmBackend) down(ctx context.Context, volumes bool) (string, error) {
	st, sw := b.s.Def, b.rec()
	if volumes {
		return "", fmt.Errorf("%w: stack %s runs on a swarm, whose volumes are node-local (the database's on node %s): "+
			"take the stack down without --volumes, then remove the volumes labelled com.docker.stack.namespace=%s on each node with 'docker volume rm'",
			errs.ErrInvalidInput, st.Name, sw.DataNode, st.ComposeProject())
	}
	d, err := b.deployer()
	if err != nil {
		return "", err
	}
	if err := d.Remove(ctx, st.ComposeProject()); err != nil {
		return "", err
	}
	if err := b.s.env.State.Update(st.Name, func(s *state.State) error {
		if s.Swarm != nil {
			s.Swarm.Down = true
		}
		return nil
	}); err != nil {
		return "", fmt.Errorf("recording that stack %s is off the swarm: %w", st.Name, err)
	}
	return fmt.Sprintf("stack %s is off the swarm; its data stays in the volumes on node %s, which the next 'stackctl up %s' uses again "+
		"('up %s --on engine' runs it on this engine instead, without that data)", st.Name, sw.DataNode, st.Name, st.Name), nil
}

// ps lists the stack's tasks.
func (b *swarmBackend) ps(ctx context.Context) (Listing, error) {
	d, err := b.deployer()
	if err != nil {
		return Listing{}, err
	}
	tasks, err := d.Tasks(ctx, b.s.Def.ComposeProject())
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Header: []string{"SERVICE", "SLOT", "NODE", "DESIRED", "STATE", "SINCE", "ERROR"}}
	for _, t := range tasks {
		slot := "-"
		if t.Slot > 0 {
			slot = strconv.Itoa(t.Slot)
		}
		l.Rows = append(l.Rows, []string{t.Service, slot, t.Node, t.Desired, t.State, t.Since.UTC().Format(time.RFC3339), cmp.Or(t.Err, "-")})
	}
	return l, nil
}

func (b *swarmBackend) logs(ctx context.Context, o LogsOptions) error {
	d, err := b.deployer()
	if err != nil {
		return err
	}
	return d.Logs(ctx, b.s.Def.ComposeProject(), o.Services, o.Out, client.ServiceLogsOptions{
		Follow: o.Follow, Tail: o.Tail, Timestamps: o.Timestamps,
	})
}

func (b *swarmBackend) newGeneration(ctx context.Context, seed Seed, made, source string, o GenOptions) (NewResult, error) {
	r, so, err := b.swarmData(ctx, o.FilesVolume, o.Up.Timeout)
	if err != nil {
		return NewResult{}, err
	}
	return r.RestoreSwarm(ctx, seed, made, source, so)
}

func (b *swarmBackend) trial(context.Context, Seed, string, UpOptions) (TrialResult, error) {
	return TrialResult{}, b.supports(VerbTrial)
}

func (b *swarmBackend) rollback(ctx context.Context, to int, o UpOptions) (RollbackResult, error) {
	r, so, err := b.swarmData(ctx, nil, o.Timeout)
	if err != nil {
		return RollbackResult{}, err
	}
	return r.RollbackSwarm(ctx, to, so)
}

func (b *swarmBackend) generations(context.Context) ([]GenerationInfo, error) {
	return nil, b.supports(VerbGenerations)
}

func (b *swarmBackend) prune(context.Context, int, bool) (PruneResult, error) {
	return PruneResult{}, b.supports(VerbPrune)
}

func (b *swarmBackend) applyHTTPS(context.Context, bool) (HTTPSResult, error) {
	return HTTPSResult{}, b.supports(VerbRenew)
}

// access reaches the stack through nginx on the manager's node, with the
// image this engine built and pushed.
func (b *swarmBackend) access(ctx context.Context, service string) (Access, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return Access{}, err
	}
	return r.Access(ctx, service)
}

// data is the data node's runner and engine: a backup reads the database
// and (unless shared) the files there.
func (b *swarmBackend) data(ctx context.Context) (Runner, *engine.Engine, error) {
	data, err := b.dataEngine()
	if err != nil {
		return Runner{}, nil, err
	}
	r, err := b.s.local(ctx)
	if err != nil {
		return Runner{}, nil, err
	}
	r.Engine = data
	return r, data, nil
}

func (b *swarmBackend) onEngine(_ context.Context, v Verb) (Runner, error) {
	if err := b.supports(v); err != nil {
		return Runner{}, err
	}
	return Runner{}, fmt.Errorf("%w: stack %s runs on a swarm, where %s does not work", ErrUnsupported, b.s.Def.Name, v)
}

// What the CLI needs to know of swarms: their refusals and failures for its
// exit codes, and the label that marks the data node, for its help.
var (
	ErrSwarmRefused      = swarm.ErrRefused
	ErrSwarmNotConverged = swarm.ErrNotConverged
)

// SwarmDataLabel marks the node that keeps a stack's data on a swarm.
const SwarmDataLabel = swarm.DataLabel
