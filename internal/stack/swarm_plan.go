package stack

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/distribution/reference"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
)

// swarmObservation is what up's plan on a swarm is computed from: the images
// to build and push, the data node, and each service of the stack's Swarm
// form against what the swarm runs. planSwarmUp reads it, never changes it.
type swarmObservation struct {
	Stack  catalog.Stack
	Choice Choice
	// Gen is the generation deployed, whose volumes the services mount.
	Gen int
	// DataNode keeps the data; Label says up labels it first.
	DataNode string
	Label    bool
	// Port is the one nginx publishes on every node.
	Port string
	// Bases and Images are what up would build anew, with why.
	Bases, Images []change
	// Pushes are the images up pushes that the registry does not hold yet,
	// as "IMAGE -> TARGET", with why.
	Pushes   []change
	Services []swarm.ServiceState
	// Leftovers are what a stopped restore left on the data node, which up
	// removes first.
	Leftovers []Step
	// Deployed says a deploy converged before: the first start ran.
	Deployed bool
}

// planSwarmUp decides what up does on a swarm from obs, a pure function of
// it: the leftovers of a stopped restore, the bases and images to build and
// push, the data node to label, then each service created, updated as Swarm
// rolls it out (its update order, from the stack file), scaled or left as it
// runs, and the first start. A database replaced stop-first is an outage: a
// swarm has no maintenance page, and Redmine answers errors until it is back.
func planSwarmUp(obs swarmObservation) Plan {
	st, g := obs.Stack, obs.Stack.Generations
	p := Plan{Stack: st.Name, Where: OnSwarm, Profile: obs.Choice.Profile, ProfileReason: obs.Choice.Reason}
	p.Steps = append(p.Steps, obs.Leftovers...)
	for _, b := range obs.Bases {
		p.Steps = append(p.Steps, Step{Action: "build-base", Target: b.Name, Why: b.Why})
	}
	for _, i := range obs.Images {
		p.Steps = append(p.Steps, Step{Action: "build", Target: i.Name, Why: i.Why})
	}
	for _, i := range obs.Pushes {
		p.Steps = append(p.Steps, Step{Action: "push", Target: i.Name, Why: i.Why + "; the nodes pull it from there by digest"})
	}
	if obs.Label {
		p.labelNode = obs.DataNode
		p.Steps = append(p.Steps, Step{Action: "label", Target: "node " + obs.DataNode,
			Why: swarm.DataLabel + "=true: the database, and Redmine's files unless they are shared, live there"})
	}
	for _, s := range obs.Services {
		role := swarmRole(st, s.Name)
		switch {
		case s.Unchanged():
			p.swarmKeep = append(p.swarmKeep, s.Name)
			if s.Running < s.Desired {
				p.Steps = append(p.Steps, Step{Action: "wait", Target: s.Name,
					Why: fmt.Sprintf("%d of its %d tasks run: Swarm starts them again, and up waits until they run healthy", s.Running, s.Desired)})
			}
		case !s.Exists:
			p.Steps = append(p.Steps, Step{Action: "create", Target: s.Name, Why: placed(s, obs)})
		case len(s.What) == 0 && s.Failed == "":
			p.Steps = append(p.Steps, Step{Action: "scale", Target: s.Name, Why: fmt.Sprintf("from %d to %s", s.Tasks, tasks(s.Want))})
		default:
			why := strings.Join(s.What, " and ") + " changed"
			if len(s.What) == 0 {
				why = "its last update " + failedUpdate[s.Failed] + ", so it is made again"
			}
			if s.Tasks != s.Want {
				why += fmt.Sprintf(", from %d to %s", s.Tasks, tasks(s.Want))
			}
			p.Steps = append(p.Steps, Step{Action: "update", Target: s.Name, Why: why + ": " + rollout(s, role)})
			if o := outage(s, role, why); o.Fails || o.Refuses && !p.Outage.Fails {
				p.Outage = o
			}
		}
	}
	if fs := st.FirstStart; fs != nil && !obs.Deployed {
		p.Steps = append(p.Steps, Step{Action: "first-start", Target: g.App, Why: fs.Says + ", as a one-off job on the swarm"})
	}
	if len(p.Steps) == 0 {
		p.Steps = []Step{{Action: "none", Target: "nothing changes"}}
	}
	p.Serves = Serves{Generation: obs.Gen, App: g.App, Front: g.Front}
	return p
}

// failedUpdate says what became of an update Swarm did not finish, by its state.
var failedUpdate = map[string]string{
	"rollback_completed": "was rolled back",
	"paused":             "was paused",
	"rollback_paused":    "was paused while rolled back",
}

// swarmRole names what service (as the Swarm stack file names it) is to st:
// app, front, database or "".
func swarmRole(st catalog.Stack, service string) string {
	switch g := st.Generations; {
	case st.Database != nil && service == st.Database.Service:
		return "database"
	case service == g.App:
		return "app"
	case service == g.Front:
		return "front"
	}
	return ""
}

// placed says where a new service's tasks run.
func placed(s swarm.ServiceState, obs swarmObservation) string {
	switch {
	case s.Global:
		return "a task on every node, answering on port " + obs.Port
	case s.OnDataNode:
		return fmt.Sprintf("%s, on the data node %s", tasks(s.Want), obs.DataNode)
	}
	return tasks(s.Want) + ", spread over the nodes"
}

func tasks(n int) string {
	if n == 1 {
		return "1 task"
	}
	return fmt.Sprintf("%d tasks", n)
}

// rollout says how Swarm replaces s's tasks, from its update order.
func rollout(s swarm.ServiceState, role string) string {
	apart := ""
	if s.Delay > 0 {
		apart = fmt.Sprintf(", %s apart", s.Delay)
	}
	switch {
	case s.Order == "start-first":
		return "rolled out start-first, one task at a time" + apart +
			": each new task starts beside an old one, which stops once the new one runs healthy (Swarm rolls the update back if it does not)"
	case s.Global:
		return "rolled out stop-first, one node at a time" + apart + ": each node's task stops before its new one starts (two cannot bind the node's port)"
	case role == "database":
		return "stop-first: its task stops, then a new one starts on the same data (PostgreSQL never runs twice on it)"
	}
	return "stop-first: each task stops before its new one starts"
}

// outage is what users meet while s is updated: nothing for a start-first
// update; a node refusing connections while its task is replaced, for a
// global one (the other nodes answer); errors while a lone task is replaced.
func outage(s swarm.ServiceState, role, why string) Outage {
	switch {
	case s.Order == "start-first":
		return Outage{}
	case s.Global:
		return Outage{Refuses: true, Why: fmt.Sprintf("%s's %s: each node's %s stops before its new one starts", s.Name, why, s.Name),
			For: "on each node in turn, until its new " + s.Name + " answers (seconds); the other nodes answer meanwhile"}
	case role == "database":
		return Outage{Fails: true, Why: fmt.Sprintf("%s's %s, and it is replaced stop-first: Redmine answers with errors, as a swarm has no maintenance page", s.Name, why),
			For: "while PostgreSQL stops, starts on the same data and answers healthy (seconds to a minute)"}
	case min(s.Tasks, s.Want) <= 1:
		return Outage{Fails: true, Why: fmt.Sprintf("%s's %s, and its one task is replaced stop-first", s.Name, why), For: "while its new task starts"}
	}
	return Outage{}
}

// PlanSwarm computes what UpSwarm would do now, and changes nothing: it
// builds, pushes, labels and records nothing, and asks the swarm what it
// runs. Whether an image would be built anew it reads from its build
// context's digest, as PlanUp does; whether the registry holds it already,
// from the digest this engine pushed it as.
func (r Runner) PlanSwarm(ctx context.Context, o SwarmOptions) (Plan, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return Plan{}, err
	}
	if o, err = swarmOptions(st, rec, o, r.Overrides.HTTPS); err != nil {
		return Plan{}, err
	}
	d := swarm.Deployer{API: o.Manager}
	obs := swarmObservation{Stack: st}
	if obs.DataNode, obs.Label, err = swarmDataNode(ctx, d, st, rec.Swarm, o.DataNode); err != nil {
		return Plan{}, err
	}
	if obs.Choice, err = ChooseProfile(ctx, st, cmp.Or(o.Profile, catalog.ProfileAuto), rec.Profile, r.Engine); err != nil {
		return Plan{}, err
	}
	release := swarmRelease(rec)
	if obs.Choice.Profile == catalog.ProfileDebian {
		if obs.Bases, err = r.foreseeBases(ctx, release, o.RebuildBases); err != nil {
			return Plan{}, err
		}
	}
	listen := cmp.Or(o.Listen, rec.Listen, catalog.DefaultListen)
	if _, obs.Port, err = catalog.SplitListen(listen); err != nil {
		return Plan{}, err
	}
	set, err := r.settings(ctx, obs.Choice.Profile, listen, release)
	if err != nil {
		return Plan{}, err
	}
	p, err := r.Build.Load(ctx, st, set)
	if err != nil {
		return Plan{}, err
	}
	if err := stampBuilds(p); err != nil {
		return Plan{}, err
	}
	rebuilt, err := r.foreseeBuilds(ctx, p, obs.Bases)
	if err != nil {
		return Plan{}, err
	}
	images := map[string]string{}
	for _, svc := range slices.Sorted(maps.Keys(p.Services)) {
		if !slices.Contains(swarm.Services(st), svc) {
			continue
		}
		local := p.Services[svc].Image
		if why := rebuilt[svc]; why != "" {
			obs.Images = append(obs.Images, change{Name: local, Why: why})
		}
		// A debian base is the database's image as it is: one built anew is pushed anew.
		base := slices.ContainsFunc(obs.Bases, func(b change) bool { return b.Name == local })
		target := swarm.RegistryRef(o.Registry, local)
		ref, why, err := r.foreseePush(ctx, local, target, rebuilt[svc] != "" || base)
		if err != nil {
			return Plan{}, err
		}
		if why != "" {
			obs.Pushes = append(obs.Pushes, change{Name: local + " -> " + target, Why: why})
		}
		images[svc] = ref
	}
	sw := nextSwarm(rec.Swarm, o, obs.DataNode, images, obs.Port, release, set)
	obs.Gen = sw.Active()
	dep, err := r.swarmDeployment(set, p, sw)
	if err != nil {
		return Plan{}, err
	}
	if err := checkComposeVolume(ctx, d, st, dep, obs.DataNode, sw); err != nil {
		return Plan{}, err
	}
	if obs.Services, err = d.Observe(ctx, dep); err != nil {
		return Plan{}, err
	}
	if prev := rec.Swarm; prev != nil {
		obs.Deployed = !prev.DeployedAt.IsZero()
		if prev.Pending != 0 && prev.DataNodeHost != "" {
			obs.Leftovers = []Step{{Action: "remove", Target: fmt.Sprintf("generation %d from the data node %s", prev.Pending, prev.DataNode),
				Why: "a restore a stopped stackctl left unfinished: its volumes and its PostgreSQL container"}}
		}
	}
	return planSwarmUp(obs), nil
}

// foreseePush is the reference the swarm would run image by once it is pushed
// to target, and why up would push it anew ("" when the registry holds it:
// this engine pushed it there as it is). Unknown before the push, the
// reference is target itself, which no service runs.
func (r Runner) foreseePush(ctx context.Context, image, target string, rebuilt bool) (ref, why string, err error) {
	if rebuilt {
		return target, "built anew", nil
	}
	info, found, err := r.Engine.Image(ctx, image)
	if err != nil {
		return "", "", err
	}
	if !found {
		return target, "not on this engine yet", nil
	}
	named, err := reference.ParseNormalizedNamed(target)
	if err != nil {
		return "", "", fmt.Errorf("%w: registry reference %s: %v", errs.ErrInvalidInput, target, err)
	}
	for _, d := range info.RepoDigests {
		// The engine keeps the short form of a Docker Hub name.
		name, digest, ok := strings.Cut(d, "@")
		if ok && (name == named.Name() || name == reference.FamiliarName(named)) {
			return named.Name() + "@" + digest, "", nil
		}
	}
	return target, "not in the registry yet", nil
}

// swarmOptions are o with what the last deploy was given (rec.Swarm) where o
// gives nothing, after the refusals that need no swarm: HTTPS (tls is the
// site's tls mode), data on this engine, other storage for the files.
func swarmOptions(st catalog.Stack, rec state.State, o SwarmOptions, tls bool) (SwarmOptions, error) {
	if tls {
		return o, fmt.Errorf("%w: tls.mode is not off, and stackctl does not serve HTTPS on a swarm yet: "+
			"end TLS at a proxy in front of the nodes (url: https://…, tls.mode: off), see docs/swarm.md", swarm.ErrRefused)
	}
	if rec.Swarm == nil && len(rec.Generations) > 0 {
		// Not another state directory: the swarm's volumes would have the
		// names of this engine's, and PostgreSQL would run twice on one data
		// directory were this engine the data node.
		return o, fmt.Errorf("%w: stack %s has data on this engine (generation %d): back it up, take it down with its volumes "+
			"('stackctl down %s --volumes'), deploy on the swarm, then restore the archive there", swarm.ErrRefused, st.Name, activeGen(rec), st.Name)
	}
	prev := rec.Swarm
	if prev == nil {
		return o, nil
	}
	// What the last deploy was given holds until a flag changes it: an up
	// without flags must not scale Redmine down or move its files.
	o.Replicas = cmp.Or(o.Replicas, prev.Replicas)
	o.DataNodeHost = cmp.Or(o.DataNodeHost, prev.DataNodeHost)
	o.Registry = cmp.Or(o.Registry, prev.Registry)
	switch {
	case o.FilesVolume == nil:
		o.FilesVolume = prev.FilesVolume
	case !maps.Equal(o.FilesVolume, prev.FilesVolume):
		// The data node's existing volume would keep its old storage while
		// the other nodes mount the new: attachments would split.
		return o, fmt.Errorf("%w: --files-volume differs from the one stack %s was deployed with (%v): moving the files is a backup, "+
			"a deploy on the new storage and a restore; give the recorded options or none", swarm.ErrRefused, st.Name, prev.FilesVolume)
	}
	return o, nil
}

// swarmDataNode checks that d's engine manages a swarm and finds the data
// node, refusing another than the one the data is on (prev's); label says up
// labels it first.
func swarmDataNode(ctx context.Context, d swarm.Deployer, st catalog.Stack, prev *state.Swarm, want string) (string, bool, error) {
	if err := d.CheckManager(ctx); err != nil {
		return "", false, err
	}
	node, label, err := d.FindDataNode(ctx, want)
	if err != nil {
		return "", false, err
	}
	if prev != nil && prev.DataNode != "" && node != prev.DataNode {
		// A new data node has an empty volume: PostgreSQL would start a new,
		// empty tracker there, and up would succeed on it.
		return "", false, fmt.Errorf("%w: the swarm's data node is now %s, but stack %s's database is on %s: label %s again "+
			"('docker node update --label-add %s=true %s', or that node's new name), or move the data with a backup and a restore",
			swarm.ErrRefused, node, st.Name, prev.DataNode, prev.DataNode, swarm.DataLabel, prev.DataNode)
	}
	return node, label, nil
}

// swarmRelease is the release the data was made with: a new default in a
// later stackctl must not start another PostgreSQL on it (an upgrade is its
// own step).
func swarmRelease(rec state.State) string {
	if prev := rec.Swarm; prev != nil && prev.Release != "" {
		return prev.Release
	}
	return rec.ReleaseOf(activeGen(rec))
}

// nextSwarm is what the state records of the deploy o describes, on prev's
// generations.
func nextSwarm(prev *state.Swarm, o SwarmOptions, dataNode string, images map[string]string, port, release string, set catalog.Settings) state.Swarm {
	sw := state.Swarm{}
	if prev != nil {
		sw = *prev
	}
	sw.Manager, sw.Registry, sw.DataNode, sw.DataNodeHost = o.Manager.DaemonHost(), o.Registry, dataNode, o.DataNodeHost
	sw.Replicas, sw.FilesVolume, sw.Images, sw.Port, sw.Release, sw.Down = o.Replicas, o.FilesVolume, images, port, release, false
	if set.Overrides.PumaWorkers != nil {
		sw.PumaWorkers = *set.Overrides.PumaWorkers
	}
	return sw
}

// checkComposeVolume refuses a deploy whose data node is the manager's and
// holds a volume of the database's name that Docker Compose made: a Compose
// stack of the same name (another state directory's), whose data PostgreSQL
// must never open twice.
func checkComposeVolume(ctx context.Context, d swarm.Deployer, st catalog.Stack, dep swarm.Deployment, dataNode string, sw state.Swarm) error {
	_, managerNode, err := d.Manager(ctx)
	if err != nil {
		return err
	}
	if managerNode != dataNode || st.Database == nil {
		return nil
	}
	vol := catalog.VolumeName(dep.Namespace, st.Database.Volume, sw.Active())
	compose, err := d.ComposeVolume(ctx, vol)
	if err != nil {
		return err
	}
	if compose {
		return fmt.Errorf("%w: the data node %s has volume %s, which Docker Compose made for a stack %s run there on one engine: "+
			"the swarm's database would open the same data; back that stack up and take it down with its volumes first", swarm.ErrRefused, dataNode, vol, st.Name)
	}
	return nil
}
