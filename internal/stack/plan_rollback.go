package stack

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// rollbackObservation is what a rollback's plan is computed from: the
// stack's record, what runs, which generations still have all their
// volumes. planRollback reads it, never changes it.
type rollbackObservation struct {
	Stack  catalog.Stack
	Where  string
	Choice Choice
	// To is the generation asked for (0: the one that served before).
	To int
	// State is the stack's record as the rollback finds it: on this engine
	// once the leftovers of a stopped stackctl are dealt with; on a swarm as
	// it is (a generation a stopped restore left is the plan's to recover).
	State state.State
	// Serving says the front runs.
	Serving bool
	// Leftovers are what a stopped stackctl left on this engine, finished
	// or undone first.
	Leftovers []Step
	// Bases and Images are the debian bases and the target's images that
	// would be built anew, with why.
	Bases, Images []change
	// Missing are the generations that lack a volume, each with the first
	// one missing (on a swarm: on its data node).
	Missing map[int]string
}

// planRollback decides what a rollback does from obs, a pure function of it,
// or refuses: the target (the generation asked for, else the one that served
// before the active one, else the newest ready one older than it), which must
// have all its volumes; then on this engine its start beside the active
// generation, its checks, nginx pointed over and the active generation's
// containers stopped and kept; on a swarm Redmine's tasks stopped and the
// stack deployed on the target's volumes.
func planRollback(obs rollbackObservation) (Plan, error) {
	st, rec := obs.Stack, obs.State
	g := st.Generations
	p := Plan{Stack: st.Name, Where: obs.Where, Profile: obs.Choice.Profile, ProfileReason: obs.Choice.Reason}
	p.Steps = append(p.Steps, obs.Leftovers...)
	if rec.Swarm != nil {
		return planSwarmRollback(obs, p)
	}
	to, err := rollbackTarget(st, rec, obs.To)
	if err != nil {
		return Plan{}, err
	}
	// Compose would make a missing volume anew, and an empty database would
	// pass every check.
	if name := obs.Missing[to]; name != "" {
		return Plan{}, fmt.Errorf("%w: volume %s of generation %d of stack %s is gone: it cannot be rolled back to; see 'stackctl generations %s'",
			errs.ErrNotFound, name, to, st.Name, st.Name)
	}
	for _, b := range obs.Bases {
		p.Steps = append(p.Steps, Step{Action: "build-base", Target: b.Name, Why: b.Why})
	}
	for _, i := range obs.Images {
		p.Steps = append(p.Steps, Step{Action: "build", Target: i.Name, Why: i.Why})
	}
	from, slot, release := rec.Active, rec.SlotOf(to), rec.ReleaseOf(to)
	services := fmt.Sprintf("generation %d (%s)", to, genServices(g, to, slot))
	configure := "the site's settings written into its database"
	if release != rec.ReleaseOf(from) {
		configure = "on its own release, " + cmp.Or(release, catalog.DefaultRelease) + "; " + configure
	}
	if obs.Serving {
		p.Steps = append(p.Steps, Step{Action: "start", Target: services,
			Why: fmt.Sprintf("privately, beside generation %d, which keeps serving: healthy; %s", from, configure)})
		p.Steps = append(p.Steps, switchSteps(st, from, rec.SlotOf(from), to, slot)...)
	} else {
		p.Steps = append(p.Steps, Step{Action: "start", Target: services, Why: "healthy; " + configure})
		p.Steps = append(p.Steps, behindFront(st, from, rec.SlotOf(from), to, slot, rec.FrontSlot)...)
	}
	p.Serves = Serves{Generation: to, App: g.AppService(to, slot), Front: g.FrontService(rec.FrontSlot)}
	p.next.from, p.next.gen, p.next.slot, p.next.release = from, to, slot, release
	return p, nil
}

// planSwarmRollback is planRollback on a swarm.
func planSwarmRollback(obs rollbackObservation, p Plan) (Plan, error) {
	st, sw := obs.Stack, *obs.State.Swarm
	if sw.Pending != 0 {
		p.next.recover = true
		p.Steps = append(p.Steps, Step{Action: "recover", Target: fmt.Sprintf("generation %d on the data node %s", sw.Pending, sw.DataNode),
			Why: "a stopped stackctl left it unfinished: its PostgreSQL and its volumes there are removed (what it wrote into new shared storage stays)"})
	}
	from, to := sw.Active(), cmp.Or(obs.To, sw.Previous)
	if to == 0 {
		return Plan{}, fmt.Errorf("%w: stack %s has one generation of data on the swarm: there is none to roll back to", errs.ErrNotFound, st.Name)
	}
	if to == from {
		return Plan{}, fmt.Errorf("%w: generation %d of stack %s is the one deployed", errs.ErrInvalidInput, to, st.Name)
	}
	if _, ok := sw.GenOf(to); !ok {
		return Plan{}, fmt.Errorf("%w: stack %s has no generation %d on the swarm: it has %s", errs.ErrNotFound, st.Name, to, swarmGens(sw))
	}
	// Swarm would make a missing volume anew, and an empty database or
	// files volume would pass every check.
	if name := obs.Missing[to]; name != "" {
		return Plan{}, fmt.Errorf("%w: volume %s of generation %d of stack %s is not on the data node %s: it cannot be rolled back to; "+
			"roll back to another (it has %s) or restore a backup", errs.ErrNotFound, name, to, st.Name, sw.DataNode, swarmGens(sw))
	}
	return planSwarmSwitch(p, st, sw.DataNode, from, to, fmt.Sprintf("the database is replaced by generation %d's", to)), nil
}

// observeRollback reads what a rollback's plan needs of st, whose record
// is rec: whether it serves, which generations lack a volume.
func (r Runner) observeRollback(ctx context.Context, rec state.State, choice Choice, to int) (rollbackObservation, error) {
	st := r.Stack
	obs := rollbackObservation{Stack: st, Where: OnEngine, Choice: choice, To: to, State: rec, Missing: map[int]string{}}
	obs.Serving = rec.Active != 0 && r.serving(ctx)
	for _, g := range rec.Generations {
		if g.N == rec.Active || !g.Ready {
			continue
		}
		missing, err := missingVolume(ctx, r.Engine, st, st.Generations.Volumes, g.N)
		if err != nil {
			return rollbackObservation{}, err
		}
		if missing != "" {
			obs.Missing[g.N] = missing
		}
	}
	return obs, nil
}

// PlanRollback computes what Rollback would do now, and changes nothing: no
// lock, no build, no record. What a stopped stackctl left comes first, as
// the recovery would find it.
func (r Runner) PlanRollback(ctx context.Context, to int, o UpOptions) (Plan, error) {
	st := r.Stack
	if st.Generations == nil {
		return Plan{}, fmt.Errorf("%w: stack %s has no data to roll back", errs.ErrInvalidInput, st.Name)
	}
	_, after, leftovers, choice, err := r.foreseeRecovery(ctx, o)
	if err != nil {
		return Plan{}, err
	}
	obs, err := r.observeRollback(ctx, after, choice, to)
	if err != nil {
		return Plan{}, err
	}
	obs.Leftovers = leftovers
	plan, err := planRollback(obs)
	if err != nil {
		return Plan{}, err
	}
	// The bases of the active release and the target's, and the target's
	// images on its own release: what it last ran, built from cache unless
	// what they are built from changed.
	for _, rel := range slices.Compact([]string{after.ReleaseOf(activeGen(after)), plan.next.release}) {
		if choice.Profile != catalog.ProfileDebian {
			break
		}
		bases, err := r.foreseeBases(ctx, rel, o.RebuildBases)
		if err != nil {
			return Plan{}, err
		}
		obs.Bases = append(obs.Bases, bases...)
	}
	base, err := r.load(ctx, choice.Profile, cmp.Or(o.Listen, after.Listen, catalog.DefaultListen), plan.next.release)
	if err != nil {
		return Plan{}, err
	}
	if err := stampBuilds(base); err != nil {
		return Plan{}, err
	}
	built, err := r.foreseeBuilds(ctx, base, obs.Bases)
	if err != nil {
		return Plan{}, err
	}
	for _, svc := range slices.Sorted(maps.Keys(built)) {
		obs.Images = append(obs.Images, change{Name: base.Services[svc].Image, Why: built[svc]})
	}
	obs.Images = slices.CompactFunc(obs.Images, func(a, b change) bool { return a.Name == b.Name })
	return planRollback(obs)
}

// observeSwarmRollback reads what a rollback's plan on a swarm needs from
// the state and the data node (data): which generations' volumes are there.
func (r Runner) observeSwarmRollback(ctx context.Context, data Engine, to int) (rollbackObservation, error) {
	st := r.Stack
	rec, sw, err := r.swarmRecord()
	if err != nil {
		return rollbackObservation{}, err
	}
	obs := rollbackObservation{Stack: st, Where: OnSwarm, Choice: Choice{Profile: rec.Profile, Reason: "as the swarm's last deploy has it"},
		To: to, State: rec, Serving: true, Missing: map[int]string{}}
	for _, g := range sw.AllGens() {
		if g.N == sw.Active() {
			continue
		}
		// Files on shared storage are the operator's to keep.
		vols := []string{st.Database.Volume}
		if g.FilesVolume == nil {
			vols = st.Generations.Volumes
		}
		missing, err := missingVolume(ctx, data, st, vols, g.N)
		if err != nil {
			return rollbackObservation{}, err
		}
		if missing != "" {
			obs.Missing[g.N] = missing
		}
	}
	return obs, nil
}

// PlanRollbackSwarm computes what RollbackSwarm would do now, and changes
// nothing.
func (r Runner) PlanRollbackSwarm(ctx context.Context, to int, data Engine) (Plan, error) {
	st := r.Stack
	if st.Generations == nil || st.Database == nil {
		return Plan{}, fmt.Errorf("%w: stack %s has no data to roll back", errs.ErrInvalidInput, st.Name)
	}
	obs, err := r.observeSwarmRollback(ctx, data, to)
	if err != nil {
		return Plan{}, err
	}
	return planRollback(obs)
}

// PlanRollback computes what Rollback would do, and changes nothing: the
// same refusals.
func (s *Stack) PlanRollback(ctx context.Context, to int, o UpOptions) (Plan, error) {
	return s.b.planRollback(ctx, to, o)
}

func (b *engineBackend) planRollback(ctx context.Context, to int, o UpOptions) (Plan, error) {
	r, err := b.s.local(ctx)
	if err != nil {
		return Plan{}, err
	}
	return r.PlanRollback(ctx, to, o)
}

func (b *swarmBackend) planRollback(ctx context.Context, to int, _ UpOptions) (Plan, error) {
	r, data, err := b.data(ctx)
	if err != nil {
		return Plan{}, err
	}
	return r.PlanRollbackSwarm(ctx, to, data)
}

// missingVolume is the first of volumes (names in st's compose file) of
// generation n that e does not have, "" when it has them all: a rollback to
// it would start on an empty volume, which every check would pass.
func missingVolume(ctx context.Context, e interface {
	VolumeExists(context.Context, string) (bool, error)
}, st catalog.Stack, volumes []string, n int) (string, error) {
	for _, v := range volumes {
		name := catalog.VolumeName(st.ComposeProject(), v, n)
		found, err := e.VolumeExists(ctx, name)
		if err != nil || !found {
			return name, err
		}
	}
	return "", nil
}
