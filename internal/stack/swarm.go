package stack

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
)

// SwarmOptions are the operator's choices for UpSwarm.
type SwarmOptions struct {
	Profile      catalog.Profile
	Mirror       string
	RebuildBases Rebuild
	// Registry is REGISTRY[/PREFIX]: the images are pushed there and the
	// nodes pull them from there, by digest.
	Registry string
	// Manager is the API of a manager of the swarm; its address is recorded
	// for later commands.
	Manager client.APIClient
	// DataNode is the node to label as the data node when none is, and
	// DataNodeHost its engine's API address, for backups; unset, the
	// manager's when it is the data node.
	DataNode, DataNodeHost string
	// Replicas is the number of Redmine tasks (0: the stack file's default).
	Replicas int
	// FilesVolume, when set, are the local driver's options of storage every
	// node mounts (NFS, a cluster file system) for Redmine's files: its
	// replicas then run anywhere. Unset, the files are node-local and Redmine
	// runs on the data node only.
	FilesVolume map[string]string
	// Listen's port is the one nginx publishes on every node.
	Listen  string
	Timeout time.Duration
	// Push tags image as target and pushes it, returning the digest reference
	// the registry holds it under.
	Push func(ctx context.Context, image, target string) (string, error)
}

// UpSwarm deploys st on a swarm from the same model and images as Up: it
// builds what is missing here, pushes the images to the registry, deploys
// the Swarm form of the stack file (internal/swarm) through the manager's
// API, waits until every service runs healthy, then runs the stack's first
// start and settings as a one-off job. A change is rolled out by Swarm: the
// application start-first and rolled back when its health check fails, the
// database stop-first (never twice on the same data).
func (r Runner) UpSwarm(ctx context.Context, o SwarmOptions) (UpResult, error) {
	st := r.Stack
	timeout := cmp.Or(o.Timeout, defaultTimeout)
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return UpResult{}, err
	}
	if o, err = swarmOptions(st, rec, o, r.Overrides.HTTPS); err != nil {
		return UpResult{}, err
	}
	prev := rec.Swarm
	d := swarm.Deployer{API: o.Manager, Report: r.Report}
	dataNode, label, err := swarmDataNode(ctx, d, st, prev, o.DataNode)
	if err != nil {
		return UpResult{}, err
	}
	choice, err := ChooseProfile(ctx, st, cmp.Or(o.Profile, catalog.ProfileAuto), rec.Profile, r.Engine)
	if err != nil {
		return UpResult{}, err
	}
	release := swarmRelease(rec)
	if choice.Profile == catalog.ProfileDebian {
		if err := r.ensureBases(ctx, UpOptions{Mirror: o.Mirror, RebuildBases: o.RebuildBases}, release); err != nil {
			return UpResult{}, err
		}
	}
	if err := r.State.EnsureSecrets(st); err != nil {
		return UpResult{}, err
	}
	listen := cmp.Or(o.Listen, rec.Listen, catalog.DefaultListen)
	_, port, err := catalog.SplitListen(listen)
	if err != nil {
		return UpResult{}, err
	}
	set, err := r.settings(ctx, choice.Profile, listen, release)
	if err != nil {
		return UpResult{}, err
	}
	p, err := r.Build.Load(ctx, st, set)
	if err != nil {
		return UpResult{}, err
	}
	// Labelled with their build context's digest, as on one engine: a plan
	// reads from it whether an image would be built anew.
	if err := stampBuilds(p); err != nil {
		return UpResult{}, err
	}
	built := swarm.Built(st)
	r.logf("stack %s: building %s on base %s", st.Name, strings.Join(built, " and "), choice.Profile)
	if err := r.Compose.Build(ctx, p, api.BuildOptions{Services: built}); err != nil {
		return UpResult{}, fmt.Errorf("building %s's images: %w", st.Name, err)
	}

	images := map[string]string{}
	for _, svc := range slices.Sorted(maps.Keys(p.Services)) {
		if !slices.Contains(swarm.Services(st), svc) {
			continue
		}
		local := p.Services[svc].Image
		target := swarm.RegistryRef(o.Registry, local)
		r.logf("stack %s: pushing %s as %s", st.Name, local, target)
		ref, err := o.Push(ctx, local, target)
		if err != nil {
			return UpResult{}, err
		}
		images[svc] = ref
	}

	sw := nextSwarm(prev, o, dataNode, images, port, release, set)
	dep, err := r.swarmDeployment(set, p, sw)
	if err != nil {
		return UpResult{}, err
	}
	if err := checkComposeVolume(ctx, d, st, dep, dataNode, sw); err != nil {
		return UpResult{}, err
	}
	// Observe and plan, now that the images are pushed, and do what the
	// plan says: the data node labelled, the services it keeps left be.
	services, err := d.Observe(ctx, dep)
	if err != nil {
		return UpResult{}, err
	}
	plan := planSwarmUp(swarmObservation{Stack: st, Choice: choice, Gen: sw.Active(), DataNode: dataNode, Label: label, Port: port,
		Services: services, Deployed: prev != nil && !prev.DeployedAt.IsZero()})
	if plan.labelNode != "" {
		if _, err := d.DataNode(ctx, plan.labelNode); err != nil {
			return UpResult{}, err
		}
	}
	dep.Keep = plan.swarmKeep
	switch o := plan.Outage; {
	case o.Fails:
		r.logf("stack %s: requests fail %s: %s", st.Name, o.For, o.Why)
	case o.Refuses:
		r.logf("stack %s: connections are refused %s: %s", st.Name, o.For, o.Why)
	}
	// Recorded before anything changes on the swarm: a deploy stopped
	// half way is still the swarm's to finish, by the next up, or to take
	// down. What the last good deploy recorded (its URL) is kept.
	rec.Profile, rec.Listen = choice.Profile, listen
	if rec.FirstUpAt.IsZero() {
		rec.FirstUpAt = time.Now().UTC()
	}
	rec.Swarm = &sw
	if err := r.State.Save(st.Name, rec); err != nil {
		return UpResult{}, fmt.Errorf("recording %s's deployment: %w", st.Name, err)
	}
	url, err := r.applySwarm(ctx, d, dep, set, port, timeout)
	if err != nil {
		return UpResult{}, err
	}
	if rec.Swarm.DataNodeHost == "" {
		if _, managerNode, err := d.Manager(ctx); err == nil && managerNode == dataNode {
			rec.Swarm.DataNodeHost = o.Manager.DaemonHost()
		}
	}
	rec.Swarm.URL, rec.Swarm.DeployedAt = url, time.Now().UTC()
	if err := r.State.Save(st.Name, rec); err != nil {
		return UpResult{}, fmt.Errorf("recording %s's deployment: %w", st.Name, err)
	}
	res := UpResult{Choice: choice, URL: url}
	if st.HasSecret(catalog.AdminPassword) {
		res.AdminPasswordFile = r.State.SecretPath(st.Name, catalog.AdminPassword)
	}
	return res, nil
}

// swarmDeployment is st's Swarm stack file, rendered and loaded for the
// deploy sw describes: its images by digest, its replicas, the volumes of its
// active generation (the files on sw's shared storage, if any), and the
// secrets and configs under versioned names, with their contents.
func (r Runner) swarmDeployment(set catalog.Settings, p *types.Project, sw state.Swarm) (swarm.Deployment, error) {
	st := r.Stack
	file, err := swarm.Render(st, swarm.Options{Replicas: sw.Replicas, FilesVolume: sw.FilesVolume})
	if err != nil {
		return swarm.Deployment{}, err
	}
	env, err := st.Env(set)
	if err != nil {
		return swarm.Deployment{}, err
	}
	// The compose file's secrets travel in its environment; the Swarm
	// file's are Swarm secrets: no value of one may reach its interpolation.
	for _, sec := range append(slices.Clone(st.Secrets), st.ProvidedSecrets...) {
		delete(env, sec.EnvVar())
	}
	dep := swarm.Deployment{Namespace: st.ComposeProject(), Secrets: map[string][]byte{}, Configs: map[string][]byte{}}
	for svc, ref := range sw.Images {
		env[swarm.ImageVar(svc)] = ref
	}
	key := nameKey(st, set)
	for _, sec := range append(slices.Clone(st.Secrets), st.ProvidedSecrets...) {
		if sec.Name == catalog.AdminPassword {
			continue // the first start's, handed to its job alone
		}
		v, ok := set.Secrets[sec.Name]
		if !ok {
			v = set.Overrides.Secrets[sec.Name]
		}
		// Swarm refuses an empty secret: an unset provided one is a newline,
		// which the application strips as it strips the files' own.
		content := []byte(v + "\n")
		name := swarm.VersionedName(dep.Namespace, sec.Name, content, key)
		dep.Secrets[name] = content
		env[swarm.SecretVar(sec.Name)] = name
	}
	for name, c := range p.Configs {
		content, err := os.ReadFile(c.File)
		if err != nil {
			return swarm.Deployment{}, fmt.Errorf("reading %s's config %s: %w", st.Name, name, err)
		}
		vname := swarm.VersionedName(dep.Namespace, name, content, nil)
		dep.Configs[vname] = content
		env[swarm.ConfigVar(name)] = vname
	}
	cfg, err := swarm.Load(file, env)
	if err != nil {
		return swarm.Deployment{}, err
	}
	if gen := sw.Active(); gen > 1 && st.Generations != nil {
		// Generation 1's volumes have the names Swarm gives (namespace_key),
		// as catalog.VolumeName does; a later one's carry its number.
		for key, v := range cfg.Volumes {
			if slices.Contains(st.Generations.Volumes, key) {
				v.Name = catalog.VolumeName(dep.Namespace, key, gen)
				cfg.Volumes[key] = v
			}
		}
	}
	dep.Config = cfg
	return dep, nil
}

// applySwarm deploys dep through the manager, waits until every service runs
// healthy, runs the stack's first start and settings as a one-off job,
// removes the secrets and configs no service uses any more, and returns the
// stack's URL through the manager's node, on nginx's published port, once it
// answers there.
func (r Runner) applySwarm(ctx context.Context, d swarm.Deployer, dep swarm.Deployment, set catalog.Settings, port string, timeout time.Duration) (string, error) {
	st := r.Stack
	start := time.Now()
	if err := d.Deploy(ctx, dep); err != nil {
		return "", err
	}
	if err := d.Wait(ctx, dep.Namespace, timeout); err != nil {
		return "", err
	}
	r.logf("stack %s: every service runs healthy on the swarm (%s)", st.Name, time.Since(start).Round(100*time.Millisecond))
	if st.FirstStart != nil {
		if err := r.swarmConfigure(ctx, d, dep, set); err != nil {
			return "", err
		}
	}
	if err := d.Prune(ctx, dep.Namespace); err != nil {
		r.logf("stack %s: %v", st.Name, err)
	}
	addr, _, err := d.Manager(ctx)
	if err != nil {
		return "", err
	}
	url := "http://" + net.JoinHostPort(addr, port) + "/"
	if err := waitHTTP(ctx, url, http.DefaultTransport, timeout); err != nil {
		return "", fmt.Errorf("%w: stack %s runs on the swarm but %s does not answer: %v", swarm.ErrNotConverged, st.Name, url, err)
	}
	return url, nil
}

// swarmConfigure runs the stack's first start (which does nothing on data
// already set up) and writes the site's application settings, as a one-off
// job on the swarm: the database runs on a node stackctl need not reach.
func (r Runner) swarmConfigure(ctx context.Context, d swarm.Deployer, dep swarm.Deployment, set catalog.Settings) error {
	st := r.Stack
	fs := st.FirstStart
	pw := []byte(set.Secrets[fs.StdinSecret] + "\n")
	name := swarm.VersionedName(dep.Namespace, fs.StdinSecret, pw, nameKey(st, set))
	r.logf("stack %s: %s", st.Name, fs.Says)
	out, err := d.RunJob(ctx, swarm.Job{
		Namespace: dep.Namespace,
		Like:      fs.Service,
		Name:      "configure",
		Command:   fs.Job(set.Overrides.AppSettings),
		Stdin:     swarm.JobSecret{Source: fs.StdinSecret, Name: name, Content: pw},
	})
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "stackctl: ") {
			r.logf("stack %s: %s", st.Name, strings.TrimPrefix(line, "stackctl: "))
		}
	}
	return nil
}

// nameKey keys the versions of st's Swarm secret names (see
// swarm.VersionedName): its generated secrets, random and never shown, so
// that nobody without them can test a guess of a provided one (an SMTP
// password) against a name.
func nameKey(st catalog.Stack, set catalog.Settings) []byte {
	var key []byte
	for _, sec := range st.Secrets {
		key = append(key, set.Secrets[sec.Name]...)
		key = append(key, 0)
	}
	return key
}

// settings are the interpolation settings of st under profile on release,
// with Puma sized for this engine's host when the site does not size it.
func (r Runner) settings(ctx context.Context, profile catalog.Profile, listen, release string) (catalog.Settings, error) {
	st := r.Stack
	secrets, err := r.State.SecretValues(st)
	if err != nil {
		return catalog.Settings{}, err
	}
	site := r.Overrides
	if st.Puma && site.PumaWorkers == nil && r.Engine != nil {
		h, err := r.Engine.Host(ctx)
		if err != nil {
			return catalog.Settings{}, err
		}
		n := catalog.PumaWorkers(h.CPUs, site.Memory["redmine"])
		site.PumaWorkers = &n
	}
	return catalog.Settings{Profile: profile, Listen: cmp.Or(listen, catalog.DefaultListen), Secrets: secrets, Release: release, Overrides: site}, nil
}
