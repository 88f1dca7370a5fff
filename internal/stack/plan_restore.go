package stack

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
)

// decided is what a new generation's or a rollback's execution takes from
// its plan, so that what was printed is what runs.
type decided struct {
	// from is the generation that serves before (0: none), gen the one that
	// serves after, its application in slot, on release.
	from, gen, slot int
	release         string
	// recover says what a stopped restore left on a swarm's data node is
	// removed first.
	recover bool
	// skipped are the generation numbers passed over, each with why.
	skipped []Step
}

// A Copying seed names the volumes (as the compose file names them) it
// copies from the active generation rather than fills from its source: what
// a plan says of each.
type Copying interface {
	Copies() []string
}

// restoreObservation is what a new generation's plan (a restore, an
// upgrade's copy) is computed from: the stack's record as the new generation
// finds it once the leftovers of a stopped stackctl are dealt with, what
// runs, and what the seed fills. planRestore reads it, never changes it.
type restoreObservation struct {
	Stack  catalog.Stack
	Where  string
	Choice Choice
	// Made and Source say what makes the generation (state.MadeRestore and
	// the archive's name, say).
	Made, Source string
	// Leftovers are what a stopped stackctl left on this engine, finished or
	// undone first.
	Leftovers []Step
	// Bases and Images are the debian bases and images that would be built
	// anew, with why.
	Bases, Images []change
	// Copied are the volumes the seed copies from the active generation;
	// CarriesMark says the copy carries the first start's mark over.
	Copied      []string
	CarriesMark bool
	// From is the active generation (0: none), FromSlot its application's
	// slot, FrontSlot the front's; Next is the number a new generation gets.
	From, FromSlot, FrontSlot, Next int
	// Release is the release the new generation runs, FromRelease the
	// active one's.
	Release, FromRelease string
	// Serving says the front runs.
	Serving bool
	// Swarm is the swarm's part, for a stack on one.
	Swarm *swarmRestore
}

// swarmRestore is what a restore on a swarm finds on its data node.
type swarmRestore struct {
	DataNode string
	// Pending is a generation a stopped restore left unfinished (0: none).
	Pending int
	// Taken are the generation numbers from Next up whose volumes the data
	// node has without a record, each with the first such volume.
	Taken map[int]string
	// Shared says the files are on shared storage: the new ones go to the
	// new storage --files-volume names.
	Shared bool
}

// planRestore decides how a new generation is made, from obs, a pure
// function of it: the leftovers of a stopped stackctl first, then the
// generation beside the one that serves (its number, its volumes, each filled
// from the seed's source or copied from the active generation), its private
// start and checks, and the switch to it: nginx pointed over on this engine,
// the swarm deployed on its volumes; the old generation's containers go, its
// volumes stay for a rollback.
func planRestore(obs restoreObservation) Plan {
	st, g := obs.Stack, obs.Stack.Generations
	p := Plan{Stack: st.Name, Where: obs.Where, Profile: obs.Choice.Profile, ProfileReason: obs.Choice.Reason}
	p.Steps = append(p.Steps, obs.Leftovers...)
	for _, b := range obs.Bases {
		p.Steps = append(p.Steps, Step{Action: "build-base", Target: b.Name, Why: b.Why})
	}
	for _, i := range obs.Images {
		p.Steps = append(p.Steps, Step{Action: "build", Target: i.Name, Why: i.Why})
	}
	from, gen := obs.From, obs.Next
	sw := obs.Swarm
	if sw != nil {
		if sw.Pending != 0 {
			p.next.recover = true
			p.Steps = append(p.Steps, Step{Action: "recover", Target: fmt.Sprintf("generation %d on the data node %s", sw.Pending, sw.DataNode),
				Why: "a stopped stackctl left it unfinished: its PostgreSQL and its volumes there are removed (what it wrote into new shared storage stays)"})
		}
		for ; sw.Taken[gen] != ""; gen++ {
			skip := Step{Action: "skip", Target: fmt.Sprintf("generation %d", gen),
				Why: fmt.Sprintf("the data node has volume %s, which this state does not record: that volume is left alone", sw.Taken[gen])}
			p.Steps = append(p.Steps, skip)
			p.next.skipped = append(p.next.skipped, skip)
		}
	}
	what := describe(state.Generation{Made: obs.Made, Source: obs.Source})
	where := ""
	if sw != nil {
		where = " on the data node " + sw.DataNode
	}
	switch {
	case from == 0:
		where += ", nothing serving yet"
	case obs.Serving:
		where += fmt.Sprintf(", beside generation %d, which keeps serving", from)
	default:
		where += fmt.Sprintf(", beside generation %d, which does not run", from)
	}
	why := "recorded before its first volume is made, so that the next command removes what a stopped stackctl left of it"
	if sw != nil && sw.Shared {
		why += "; its files go to the new shared storage --files-volume names, which must be empty"
	}
	if obs.Release != obs.FromRelease {
		why = "on release " + cmp.Or(obs.Release, catalog.DefaultRelease) + "; " + why
	}
	p.Steps = append(p.Steps, Step{Action: "make", Target: fmt.Sprintf("generation %d (%s)%s", gen, what, where), Why: why})
	project := st.ComposeProject()
	for _, v := range g.Volumes {
		s := Step{Action: "create", Target: "volume " + catalog.VolumeName(project, v, gen)}
		if sw != nil {
			s.Why = "on " + sw.DataNode
		}
		p.Steps = append(p.Steps, s)
	}
	if db := st.Database; db != nil {
		s := Step{Action: "start", Target: catalog.ServiceName(db.Service, gen), Why: "alone, a fresh PostgreSQL on its new volume"}
		if sw != nil {
			s.Target = swarm.LocalName(project, db.Service, gen)
			s.Why = "alone on " + sw.DataNode + ": a PostgreSQL of the stack's image on the new volume, stopped once filled"
		}
		p.Steps = append(p.Steps, s)
	}
	for _, v := range g.Volumes {
		if slices.Contains(obs.Copied, v) {
			continue
		}
		s := Step{Action: "fill", Target: "volume " + catalog.VolumeName(project, v, gen), Why: "from the archive, checked as it is written"}
		if st.Database != nil && v == st.Database.Volume {
			s.Why = "from the archive by pg_restore in one transaction as the stack's role, no superuser, once its table of contents holds only " +
				"what a Redmine dump holds; checked as it is written; refused first if the sizes its manifest records do not fit"
		}
		p.Steps = append(p.Steps, s)
	}
	for _, v := range g.Volumes {
		if !slices.Contains(obs.Copied, v) {
			continue
		}
		s := Step{Action: "copy", Target: "volume " + catalog.VolumeName(project, v, gen),
			Why: fmt.Sprintf("from generation %d as a backup reads it: a tar stream from its running container", from)}
		if st.Database != nil && v == st.Database.Volume {
			s.Why = fmt.Sprintf("from generation %d as a backup reads it: a pg_dump snapshot, restored into the new PostgreSQL", from)
		}
		p.Steps = append(p.Steps, s)
	}
	if sw != nil {
		return planSwarmSwitch(p, obs.Stack, sw.DataNode, from, gen, "the database is replaced")
	}
	slot := catalog.SlotA
	services := genServices(g, gen, slot)
	configure := "the site's settings written into its database, and Redmine's first start run on data that lacks its mark"
	if obs.CarriesMark {
		configure = fmt.Sprintf("the site's settings written into its database; the first start's mark is carried over from generation %d", from)
	}
	if obs.Serving && from != 0 {
		p.Steps = append(p.Steps, Step{Action: "start", Target: fmt.Sprintf("generation %d (%s)", gen, services),
			Why: fmt.Sprintf("privately, beside generation %d: healthy; %s", from, configure)})
		p.Steps = append(p.Steps, migrate(obs, g.AppService(gen, slot))...)
		p.Steps = append(p.Steps, switchSteps(st, from, obs.FromSlot, gen, slot)...)
	} else {
		p.Steps = append(p.Steps, Step{Action: "start", Target: fmt.Sprintf("generation %d (%s)", gen, services), Why: "healthy; " + configure})
		p.Steps = append(p.Steps, migrate(obs, g.AppService(gen, slot))...)
		p.Steps = append(p.Steps, behindFront(st, from, obs.FromSlot, gen, slot, obs.FrontSlot)...)
	}
	p.Serves = Serves{Generation: gen, App: g.AppService(gen, slot), Front: g.FrontService(obs.FrontSlot)}
	p.next.from, p.next.gen, p.next.slot, p.next.release = from, gen, slot, obs.Release
	return p
}

// migrate is the step of Redmine's migrations, for a generation on another
// release than the active one's.
func migrate(obs restoreObservation, app string) []Step {
	if obs.Release == obs.FromRelease {
		return nil
	}
	return []Step{{Action: "migrate", Target: app,
		Why: "Redmine's and its plugins' migrations (db:migrate) run as it first starts on release " + cmp.Or(obs.Release, catalog.DefaultRelease)}}
}

// switchSteps are the switch from generation from (its application in
// fromSlot), which serves, to gen in slot, started beside it.
func switchSteps(st catalog.Stack, from, fromSlot, gen, slot int) []Step {
	g := st.Generations
	return []Step{
		{Action: "check", Target: g.AppService(gen, slot), Why: "a smoke check from nginx's container: the login page and one API read of its data"},
		{Action: "point-front", Target: fmt.Sprintf("generation %d", gen),
			Why: fmt.Sprintf("nginx at %s, its configuration checked and reloaded gracefully: requests under way finish", g.AppService(gen, slot))},
		{Action: "stop", Target: fmt.Sprintf("generation %d (%s)", from, genServices(g, from, fromSlot)),
			Why: fmt.Sprintf("its containers removed once nginx's old workers are done; its volumes kept: 'stackctl rollback %s' returns to it", st.Name)},
	}
}

// behindFront are the steps of generation gen starting behind the front
// when nothing serves: what ran before goes, the front starts and is
// pointed at gen.
func behindFront(st catalog.Stack, from, fromSlot, gen, slot, frontSlot int) []Step {
	g := st.Generations
	var out []Step
	if from != 0 && from != gen {
		out = append(out, Step{Action: "remove", Target: fmt.Sprintf("generation %d's containers (%s)", from, genServices(g, from, fromSlot)),
			Why: fmt.Sprintf("they do not serve; its volumes kept: 'stackctl rollback %s' returns to it", st.Name)})
	}
	front := g.FrontService(frontSlot)
	if g.Edge != "" {
		front += " and " + g.Edge
	}
	return append(out,
		Step{Action: "start", Target: front, Why: fmt.Sprintf("in front of generation %d", gen)},
		Step{Action: "point-front", Target: fmt.Sprintf("generation %d", gen), Why: fmt.Sprintf("nginx at %s", g.AppService(gen, slot))})
}

// planSwarmSwitch ends p with the switch of the swarm from generation from
// to gen (what says what happens to the data), which takes Redmine's tasks
// down for a restart on the new data.
func planSwarmSwitch(p Plan, st catalog.Stack, dataNode string, from, gen int, what string) Plan {
	g, ns := st.Generations, st.ComposeProject()
	p.Steps = append(p.Steps,
		Step{Action: "stop", Target: ns + "_" + g.App,
			Why: what + " in place (PostgreSQL never runs twice on one data directory), and an old task beside it would write into both generations: Redmine's tasks stop first"},
		Step{Action: "deploy", Target: fmt.Sprintf("generation %d", gen),
			Why: fmt.Sprintf("the stack on its volumes: Swarm replaces the database, Redmine starts on the new data, every service runs healthy; else generation %d is deployed again", from)},
		Step{Action: "keep", Target: fmt.Sprintf("generation %d", from),
			Why: fmt.Sprintf("its volumes stay on %s: 'stackctl rollback %s' returns to it", dataNode, st.Name)})
	p.Outage = Outage{Stops: true, Why: "Redmine's tasks stop while Swarm replaces the database",
		For: fmt.Sprintf("until Redmine runs healthy on generation %d (a Redmine boot: a minute or more)", gen)}
	p.Serves = Serves{Generation: gen, App: ns + "_" + g.App, Front: ns + "_" + g.Front}
	p.next.from, p.next.gen = from, gen
	return p
}

// genServices names generation gen's services, its application in slot.
func genServices(g *catalog.Generations, gen, slot int) string {
	var out []string
	for _, s := range g.Services {
		out = append(out, g.ServiceIn(s, gen, slot))
	}
	return strings.Join(out, ", ")
}

// unfinished says whether g, of rec, is a generation a stopped stackctl was
// making: a restore's or an upgrade's, never ready nor active, or a restore
// test's, whatever it got to. One that served (a first start cut short by
// --no-wait, say) is data. Recover removes it.
func unfinished(rec state.State, g state.Generation) bool {
	return g.Made == state.MadeTrial || !(g.Ready || g.N == rec.Active || (g.Made != state.MadeRestore && g.Made != state.MadeUpgrade) || !g.ActivatedAt.IsZero())
}

// foreseeRecovery is what a dry run starts from on this engine: the record
// as it is (rec) and as the recovery at the next real run will leave it
// (after), the steps of that recovery, and the profile the run would choose.
func (r Runner) foreseeRecovery(ctx context.Context, o UpOptions) (rec, after state.State, leftovers []Step, choice Choice, err error) {
	st := r.Stack
	if rec, err = r.State.Load(st.Name); err != nil {
		return state.State{}, state.State{}, nil, Choice{}, err
	}
	if leftovers, err = r.leftovers(ctx, rec); err != nil {
		return state.State{}, state.State{}, nil, Choice{}, err
	}
	after = r.recovered(ctx, rec)
	if choice, err = ChooseProfile(ctx, st, cmp.Or(o.Profile, catalog.ProfileAuto), after.Profile, r.Engine); err != nil {
		return state.State{}, state.State{}, nil, Choice{}, err
	}
	if err := r.adopt(ctx, &after, false); err != nil {
		return state.State{}, state.State{}, nil, Choice{}, err
	}
	return rec, after, leftovers, choice, nil
}

// recovered is rec as Recover would leave it, without doing it: the switch
// under way finished or undone (as switchDone says), the unfinished
// generations gone.
func (r Runner) recovered(ctx context.Context, rec state.State) state.State {
	out := rec
	out.Generations = slices.Clone(rec.Generations)
	if sw := rec.Switch; sw != nil && r.switchDone(ctx, *sw) {
		if g, ok := out.Gen(sw.To); ok {
			g.Slot = sw.ToSlot
			out.PutGen(g)
		}
		if out.Active != 0 && out.Active != sw.To {
			out.Previous = out.Active
		}
		out.Active = sw.To
	}
	out.Switch = nil
	out.Generations = slices.DeleteFunc(out.Generations, func(g state.Generation) bool { return unfinished(rec, g) })
	return out
}

// switchDone says whether the recovery finishes sw rather than undoes it:
// nginx already serves its target, which runs.
func (r Runner) switchDone(ctx context.Context, sw state.Switch) bool {
	st := r.Stack
	gen, slot, err := r.frontGen(ctx)
	_, toErr := r.serviceContainer(ctx, st.Generations.AppService(sw.To, sw.ToSlot))
	return err == nil && gen == sw.To && slot == sw.ToSlot && toErr == nil
}

// observeGeneration reads what a new generation's plan needs of prep, the
// stack as it stands once the leftovers are dealt with: its record, whether
// it serves, what seed copies rather than fills.
func (r Runner) observeGeneration(ctx context.Context, prep Prepared, seed Seed, made, source string, o UpOptions) restoreObservation {
	rec := prep.State
	obs := restoreObservation{Stack: prep.Stack, Where: OnEngine, Choice: prep.Choice, Made: made, Source: source,
		From: rec.Active, FromSlot: rec.SlotOf(rec.Active), FrontSlot: rec.FrontSlot, Next: rec.NextGen(),
		Release: cmp.Or(o.Release, prep.Release), FromRelease: prep.Release}
	obs.Serving = rec.Active != 0 && r.serving(ctx)
	if c, ok := seed.(Copying); ok {
		obs.Copied = c.Copies()
	}
	if c, ok := seed.(Copier); ok && c.CopiesActive() && rec.Active != 0 {
		obs.CarriesMark = true
	}
	return obs
}

// PlanNewGeneration computes what NewGeneration would do with seed now, and
// changes nothing: no lock, no build, no record. What a stopped stackctl
// left comes first, as the recovery would find it; then come the refusals
// the real run makes before it changes anything (a volume of the new
// generation that exists, the seed's own check).
func (r Runner) PlanNewGeneration(ctx context.Context, seed Seed, made, source string, o UpOptions) (Plan, error) {
	st := r.Stack
	if st.Generations == nil {
		return Plan{}, fmt.Errorf("%w: stack %s has no data to make a generation of", errs.ErrInvalidInput, st.Name)
	}
	rec, after, leftovers, choice, err := r.foreseeRecovery(ctx, o)
	if err != nil {
		return Plan{}, err
	}
	release := after.ReleaseOf(activeGen(after))
	listen := cmp.Or(o.Listen, after.Listen, catalog.DefaultListen)
	after.Profile, after.Listen = choice.Profile, listen
	base, err := r.load(ctx, choice.Profile, listen, release)
	if err != nil {
		return Plan{}, err
	}
	if err := stampBuilds(base); err != nil {
		return Plan{}, err
	}
	prep := Prepared{Stack: st, Choice: choice, State: after, Gen: activeGen(after), Slot: after.SlotOf(activeGen(after)), Release: release, base: base}
	obs := r.observeGeneration(ctx, prep, seed, made, source, o)
	obs.Leftovers = leftovers
	target := prep
	if obs.Release != release {
		if target.base, err = r.load(ctx, choice.Profile, listen, obs.Release); err != nil {
			return Plan{}, err
		}
		if err := stampBuilds(target.base); err != nil {
			return Plan{}, err
		}
		target.Release = obs.Release
	}
	for _, rel := range slices.Compact([]string{release, obs.Release}) {
		if choice.Profile != catalog.ProfileDebian {
			break
		}
		bases, err := r.foreseeBases(ctx, rel, o.RebuildBases)
		if err != nil {
			return Plan{}, err
		}
		obs.Bases = append(obs.Bases, bases...)
	}
	projects := []*types.Project{prep.base}
	if target.base != prep.base {
		projects = append(projects, target.base)
	}
	for _, p := range projects {
		built, err := r.foreseeBuilds(ctx, p, obs.Bases)
		if err != nil {
			return Plan{}, err
		}
		for _, svc := range slices.Sorted(maps.Keys(built)) {
			obs.Images = append(obs.Images, change{Name: p.Services[svc].Image, Why: built[svc]})
		}
	}
	obs.Images = slices.CompactFunc(obs.Images, func(a, b change) bool { return a.Name == b.Name })
	plan := planRestore(obs)
	if target.Project, err = generation(st, target.base, plan.next.gen, plan.next.slot, catalog.NoFront); err != nil {
		return Plan{}, err
	}
	target.Gen, target.Slot = plan.next.gen, plan.next.slot
	// The volumes of a generation the recovery removes are not leftovers.
	if g, ok := rec.Gen(plan.next.gen); !ok || !unfinished(rec, g) {
		if err := r.refuseLeftovers(ctx, st.ImageRef(choice.Profile, release), plan.next.gen); err != nil {
			return Plan{}, err
		}
	}
	if err := seed.Check(ctx, target); err != nil {
		return Plan{}, err
	}
	return plan, nil
}

// observeSwarmGeneration reads what a new generation's plan on a swarm needs
// from the state and the data node (data): the generation deployed, a
// generation a stopped restore left, the numbers whose volumes are taken.
func (r Runner) observeSwarmGeneration(ctx context.Context, data Engine, made, source string) (restoreObservation, error) {
	st := r.Stack
	rec, sw, err := r.swarmRecord()
	if err != nil {
		return restoreObservation{}, err
	}
	// Its next number once what a stopped restore left is removed.
	after := sw
	after.Pending = 0
	obs := restoreObservation{Stack: st, Where: OnSwarm, Choice: Choice{Profile: rec.Profile, Reason: "as the swarm's last deploy has it"},
		Made: made, Source: source, From: sw.Active(), Next: after.NextGen(), Release: sw.Release, FromRelease: sw.Release, Serving: true,
		Swarm: &swarmRestore{DataNode: sw.DataNode, Pending: sw.Pending, Taken: map[int]string{}, Shared: sw.FilesVolume != nil}}
	// Volumes of a number no state records are another state directory's,
	// or a one-engine stack's: never written over nor removed. The pending
	// generation's are the recovery's to remove.
	for n := obs.Next; n != sw.Pending; n++ {
		for _, v := range st.Generations.Volumes {
			name := catalog.VolumeName(st.ComposeProject(), v, n)
			found, err := data.VolumeExists(ctx, name)
			if err != nil {
				return restoreObservation{}, err
			}
			if found {
				obs.Swarm.Taken[n] = name
				break
			}
		}
		if obs.Swarm.Taken[n] == "" {
			break
		}
	}
	return obs, nil
}

// PlanRestoreSwarm computes what RestoreSwarm would do with seed now, and
// changes nothing: no lock, no volume, no record, nothing pulled. Its
// refusals are RestoreSwarm's before it changes anything.
func (r Runner) PlanRestoreSwarm(ctx context.Context, seed Seed, made, source string, o SwarmDataOptions) (Plan, error) {
	st := r.Stack
	if st.Generations == nil || st.Database == nil {
		return Plan{}, fmt.Errorf("%w: stack %s has no data to restore", errs.ErrInvalidInput, st.Name)
	}
	obs, err := r.observeSwarmGeneration(ctx, o.Data, made, source)
	if err != nil {
		return Plan{}, err
	}
	plan := planRestore(obs)
	rec, sw, err := r.swarmRecord()
	if err != nil {
		return Plan{}, err
	}
	if _, err := restoredFiles(st, sw, o.FilesVolume); err != nil {
		return Plan{}, err
	}
	// The project as the last deploy made it, with no secret made for it.
	if r.Overrides.PumaWorkers == nil && sw.PumaWorkers > 0 {
		n := sw.PumaWorkers
		r.Overrides.PumaWorkers = &n
	}
	set, err := r.settings(ctx, rec.Profile, rec.Listen, sw.Release)
	if err != nil {
		return Plan{}, err
	}
	base, err := r.Build.Load(ctx, st, set)
	if err != nil {
		return Plan{}, err
	}
	prep, err := swarmPrepared(st, rec, base, plan.next.gen)
	if err != nil {
		return Plan{}, err
	}
	if err := seed.Check(ctx, prep); err != nil {
		return Plan{}, err
	}
	return plan, nil
}

// logSkipped says which generation numbers a restore on a swarm passed over.
func (r Runner) logSkipped(p Plan) {
	st := r.Stack
	for _, s := range p.next.skipped {
		r.logf("stack %s: %s is skipped: %s", st.Name, s.Target, s.Why)
	}
}

// PlanNewGeneration computes what NewGeneration would do with seed, and
// changes nothing: the same refusals before anything changes.
func (s *Stack) PlanNewGeneration(ctx context.Context, seed Seed, made, source string, o GenOptions) (Plan, error) {
	return s.b.planGeneration(ctx, seed, made, source, o)
}

func (b *engineBackend) planGeneration(ctx context.Context, seed Seed, made, source string, o GenOptions) (Plan, error) {
	if len(o.FilesVolume) > 0 {
		return Plan{}, fmt.Errorf("%w: --files-volume is for a stack on a swarm; stack %s runs on this engine", errs.ErrInvalidInput, b.s.Def.Name)
	}
	r, err := b.s.local(ctx)
	if err != nil {
		return Plan{}, err
	}
	return r.PlanNewGeneration(ctx, seed, made, source, o.Up)
}

func (b *swarmBackend) planGeneration(ctx context.Context, seed Seed, made, source string, o GenOptions) (Plan, error) {
	r, data, err := b.data(ctx)
	if err != nil {
		return Plan{}, err
	}
	return r.PlanRestoreSwarm(ctx, seed, made, source, SwarmDataOptions{Data: data, FilesVolume: o.FilesVolume})
}
