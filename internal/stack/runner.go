package stack

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stackctl/stackctl/internal/report"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
)

// Engine is what the runner needs from the Docker engine beside the Compose
// SDK: images for the profile choice and the debian bases, exec for a
// stack's first start, and for a busy port whether the engine is this host's
// and which container publishes it. engine.Engine has it.
type Engine interface {
	Availability
	basebuild.Images
	Exec(ctx context.Context, container string, cmd []string, o engine.ExecOptions) error
	ContainerImage(ctx context.Context, container string) (string, error)
	ContainerRestarts(ctx context.Context, container string) (restarts, exitCode int, err error)
	SwarmTaskContainer(ctx context.Context, service string) (string, error)
	VolumeExists(ctx context.Context, name string) (bool, error)
	VolumeLabels(ctx context.Context, name string) (labels map[string]string, found bool, err error)
	LabelledVolumes(ctx context.Context, key, value string) ([]string, error)
	RemoveVolume(ctx context.Context, name string) error
	Host(ctx context.Context) (engine.Host, error)
	VolumeUsage(ctx context.Context, image string, names []string) (map[string]engine.VolumeUsage, error)
	Local() bool
	PublishedBy(ctx context.Context, host string, port int) ([]string, error)
}

// Runner runs one of the catalogue's stacks, Stack, through the Compose SDK,
// in-process.
type Runner struct {
	// Stack is the stack the runner runs, st in its methods' comments: they
	// act on it alone (For binds a runner to another).
	Stack   catalog.Stack
	Compose api.Compose
	Engine  Engine
	Build   BuildDir
	State   state.Dir
	// Overrides is what the site's settings file changes in the stacks.
	Overrides catalog.Overrides
	// HTTPS is the site's tls settings (its Dir is the runner's to set).
	HTTPS https.Config
	// Report receives stackctl's own progress lines (the SDK renders its own events).
	Report *report.Reporter
}

// For is r bound to st: st's runner on r's engines, state and site.
func (r Runner) For(st catalog.Stack) Runner {
	r.Stack = st
	return r
}

// Container returns the ID of the running container of service (a name in the
// compose file) in st's active generation.
func (r Runner) Container(ctx context.Context, service string) (string, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return "", err
	}
	return r.GenContainer(ctx, service, activeGen(rec))
}

// GenContainer returns the ID of the running container of service in
// generation gen of st (its application: in the slot recorded).
func (r Runner) GenContainer(ctx context.Context, service string, gen int) (string, error) {
	st := r.Stack
	if rec, err := r.State.Load(st.Name); err != nil {
		return "", err
	} else if rec.Swarm != nil {
		// On a swarm, r.Engine is the data node's (see Swarm); a generation
		// a restore fills runs there alone (see RestoreSwarm).
		if gen != 0 && gen == rec.Swarm.Pending {
			return swarm.LocalName(st.ComposeProject(), service, gen), nil
		}
		id, err := r.Engine.SwarmTaskContainer(ctx, st.ComposeProject()+"_"+service)
		if err != nil {
			return "", fmt.Errorf("stack %s runs on a swarm: %w: its data node %s keeps the database and, unless they are shared, the files; "+
				"with shared files, run Redmine there too (one replica a node: as many replicas as nodes)", st.Name, err, rec.Swarm.DataNode)
		}
		return id, nil
	}
	if g := st.Generations; g != nil {
		rec, err := r.State.Load(st.Name)
		if err != nil {
			return "", err
		}
		if service == g.Front {
			service = g.FrontService(rec.FrontSlot)
		} else {
			service = g.ServiceIn(service, gen, rec.SlotOf(gen))
		}
	}
	return r.serviceContainer(ctx, service)
}

// serviceContainer returns the ID of the running container of st's compose
// service (a name in the project as run: redmine-g2-b).
func (r Runner) serviceContainer(ctx context.Context, service string) (string, error) {
	st := r.Stack
	cs, err := r.Ps(ctx)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.Service == service && c.State == "running" {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("%w: service %s of stack %s is not running: see 'stackctl ps %s'", errs.ErrNotRunning, service, st.Name, st.Name)
}

// Persistence describes the data volumes of the stack's active generation.
func (r Runner) Persistence(ctx context.Context) (catalog.Persistence, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return catalog.Persistence{}, err
	}
	gen, release := activeGen(rec), rec.ReleaseOf(activeGen(rec))
	if rec.Swarm != nil {
		gen, release = rec.Swarm.Active(), rec.Swarm.Release
	}
	p, err := r.load(ctx, profileOr(rec.Profile), rec.Listen, release)
	if err != nil {
		return catalog.Persistence{}, err
	}
	// On a swarm too: a volume its Swarm form has not (Redmine's plugins,
	// there in the image) is read from the running container, so that an
	// archive restores anywhere.
	return catalog.PersistenceOf(st, p).ForGeneration(p.Name, gen), nil
}

// Down stops and removes the stack's containers and network; with volumes it also
// removes every generation's data volumes, says which first, and forgets the
// stack's state with them.
func (r Runner) Down(ctx context.Context, volumes bool) error {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return err
	}
	p, err := r.recorded(ctx)
	if err != nil {
		return err
	}
	var data []string
	if volumes {
		data, err = r.allData(ctx, rec)
		if err != nil {
			return err
		}
		r.logf("stack %s: removing its containers and all its data: volumes %s", st.Name, strings.Join(data, ", "))
	}
	if err := r.Compose.Down(ctx, p.Name, api.DownOptions{Project: p, RemoveOrphans: true, Volumes: volumes}); err != nil {
		return fmt.Errorf("stopping %s: %w", st.Name, err)
	}
	if !volumes {
		return nil
	}
	for _, v := range data {
		if err := r.Engine.RemoveVolume(ctx, v); err != nil {
			return err
		}
	}
	return r.State.Forget(st.Name)
}

// allData lists the data volumes of every generation of st that exist: those
// recorded, generation 1's (which a stack without records may have), and
// those of generations the engine has but the state does not (a state
// directory lost or another one used): all of the stack's data.
func (r Runner) allData(ctx context.Context, rec state.State) ([]string, error) {
	st := r.Stack
	if st.Generations == nil {
		return nil, nil
	}
	gens := []int{1}
	for _, g := range rec.Generations {
		if g.N != 1 {
			gens = append(gens, g.N)
		}
	}
	labelled, err := r.Engine.LabelledVolumes(ctx, api.ProjectLabel, st.ComposeProject())
	if err != nil {
		return nil, err
	}
	for _, name := range labelled {
		if gen, ok := st.Generations.VolumeOwner(st.ComposeProject(), name); ok && !slices.Contains(gens, gen) {
			gens = append(gens, gen)
		}
	}
	slices.Sort(gens)
	var out []string
	for _, gen := range gens {
		for _, v := range st.Generations.Volumes {
			name := catalog.VolumeName(st.ComposeProject(), v, gen)
			found, err := r.Engine.VolumeExists(ctx, name)
			if err != nil {
				return nil, err
			}
			if found {
				out = append(out, name)
			}
		}
	}
	return out, nil
}

// Ps lists the stack's containers; errs.ErrNotRunning when there are none.
func (r Runner) Ps(ctx context.Context) ([]api.ContainerSummary, error) {
	st := r.Stack
	cs, err := r.Compose.Ps(ctx, st.ComposeProject(), api.PsOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", st.Name, err)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w: stack %s has no containers: start it with 'stackctl up %s'", errs.ErrNotRunning, st.Name, st.Name)
	}
	return cs, nil
}

// Logs streams the stack's container logs to consumer.
func (r Runner) Logs(ctx context.Context, consumer api.LogConsumer, o api.LogOptions) error {
	if _, err := r.Ps(ctx); err != nil {
		return err
	}
	p, err := r.recorded(ctx)
	if err != nil {
		return err
	}
	o.Project = p
	return r.Compose.Logs(ctx, p.Name, consumer, o)
}

// Config returns the stack's normalized compose YAML under the given profile,
// or the recorded one when profile is auto.
func (r Runner) Config(ctx context.Context, profile catalog.Profile) ([]byte, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return nil, err
	}
	choice, err := ChooseProfile(ctx, st, profile, rec.Profile, r.Engine)
	if err != nil {
		return nil, err
	}
	p, err := r.load(ctx, choice.Profile, rec.Listen, rec.ReleaseOf(activeGen(rec)))
	if err != nil {
		return nil, err
	}
	return p.MarshalYAML()
}

// recorded loads the stack as it was last started: its active generation behind
// its front.
func (r Runner) recorded(ctx context.Context) (*types.Project, error) {
	return r.recordedAs(ctx, 0, true)
}

// recordedAs loads st under its recorded profile as generation gen (0: the
// active one), its application in the recorded slot, behind its front when
// front is set.
func (r Runner) recordedAs(ctx context.Context, gen int, front bool) (*types.Project, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return nil, err
	}
	if gen == 0 {
		gen = activeGen(rec)
	}
	p, err := r.load(ctx, profileOr(rec.Profile), rec.Listen, rec.ReleaseOf(gen))
	if err != nil {
		return nil, err
	}
	return generation(st, p, gen, rec.SlotOf(gen), frontOf(rec, front))
}

// frontOf is the front's slot as rec records it, or catalog.NoFront without the front.
func frontOf(rec state.State, front bool) int {
	if !front {
		return catalog.NoFront
	}
	return rec.FrontSlot
}

// profileOr is the recorded profile, or upstream for a stack never started:
// only names matter then, and they do not depend on the profile.
func profileOr(p catalog.Profile) catalog.Profile {
	return cmp.Or(p, catalog.ProfileUpstream)
}

// activeGen is the generation that serves, or would: generation 1 when none is recorded.
func activeGen(rec state.State) int { return max(rec.Active, 1) }

// load reads st's compose project under profile, on release (of a stack
// with releases; "": the default one), published on listen (or the default),
// with the stack's secrets that exist: every service of the compose file, as
// generation 1.
func (r Runner) load(ctx context.Context, profile catalog.Profile, listen, release string) (*types.Project, error) {
	st := r.Stack
	set, err := r.settings(ctx, profile, listen, release)
	if err != nil {
		return nil, err
	}
	p, err := r.Build.Load(ctx, st, set)
	if err != nil {
		return nil, err
	}
	if r.Engine == nil {
		return p, nil // the compose file as written, with no engine to fit it to
	}
	return p, fitKernel(p, func() (engine.Host, error) { return r.Engine.Host(ctx) })
}

// fitKernel drops catalog.MigrateReq's sysctl from p's services when the
// engine's kernel (from host) is older than the sysctl: their containers
// could not start with it. Without it, a connection queued on the old nginx's
// socket as it closes is reset (see changeFront).
func fitKernel(p *types.Project, host func() (engine.Host, error)) error {
	m := catalog.MigrateReq
	var with []string
	for name, s := range p.Services {
		if _, ok := s.Sysctls[m.Sysctl]; ok {
			with = append(with, name)
		}
	}
	if len(with) == 0 {
		return nil
	}
	h, err := host()
	if err != nil {
		return err
	}
	var major, minor int
	if _, err := fmt.Sscanf(h.Kernel, "%d.%d", &major, &minor); err != nil || major > m.Major || major == m.Major && minor >= m.Minor {
		return nil // a kernel that new, or one that does not say: the engine tells, if it cannot
	}
	for _, name := range with {
		s := p.Services[name]
		s.Sysctls = maps.Clone(s.Sysctls)
		delete(s.Sysctls, m.Sysctl)
		p.Services[name] = s
	}
	return nil
}

// generation is p, st's loaded project, as generation gen: its services on its
// volumes, its application in slot, behind the front in frontSlot (or not:
// catalog.NoFront),
// labelled for the Compose SDK.
func generation(st catalog.Stack, p *types.Project, gen, slot, frontSlot int) (*types.Project, error) {
	g, err := st.ForGeneration(p, gen, slot, frontSlot)
	if err != nil {
		return nil, err
	}
	label(g)
	return g, nil
}

func (r Runner) logf(format string, args ...any) { r.Report.Printf(format, args...) }
