package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// NewResult is what making a generation did.
type NewResult struct {
	UpResult
	// From was the active generation (0: none), Gen is the new one, now active.
	From, Gen int
	// Switched says the stack kept serving throughout: From answered until the
	// front was pointed at Gen.
	Switched bool
}

// NewGeneration makes a new generation of st filled by seed, beside the active
// one, which serves throughout, and then makes it the active one: through the
// switch when the stack serves, else by starting it. Anything that fails before
// the switch removes the new generation (its containers and volumes) and leaves
// the stack as it was; a new generation is recorded before its first volume is
// made, so that a killed stackctl leaves a record the next command acts on.
func (r Runner) NewGeneration(ctx context.Context, seed Seed, made, source string, o UpOptions) (NewResult, error) {
	f, err := r.fillGeneration(ctx, seed, made, source, o)
	if err != nil {
		return NewResult{}, err
	}
	keep := false
	defer func() {
		if !keep {
			f.discard(ctx)
		}
	}()
	res, keep, err := r.takeOver(ctx, f.prep, f.from, describe(f.rec), o, cmp.Or(o.Timeout, defaultTimeout))
	return NewResult{UpResult: res, From: f.from, Gen: f.prep.Gen, Switched: f.from != 0 && keep && err == nil}, err
}

// filled is a new generation, made and filled by its seed, not started.
type filled struct {
	r    Runner
	prep Prepared
	// from was the active generation (0: none).
	from int
	rec  state.Generation
}

// discard removes the generation, saying so when that fails.
func (f filled) discard(ctx context.Context) {
	st, to := f.prep.Stack, f.prep.Gen
	if err := f.r.discard(context.WithoutCancel(ctx), to); err != nil {
		f.r.logf("stack %s: removing the unfinished generation %d failed: %v: the next stackctl command on %s retries", st.Name, to, err, st.Name)
	}
}

// fillGeneration makes a new generation of st beside the active one, which
// serves throughout, and lets seed fill it: built, recorded before its first
// volume is made (so that a killed stackctl leaves a record the next command
// acts on), created, filled. Anything that fails removes it.
func (r Runner) fillGeneration(ctx context.Context, seed Seed, made, source string, o UpOptions) (filled, error) {
	st := r.Stack
	if st.Generations == nil {
		return filled{}, fmt.Errorf("%w: stack %s has no data to make a generation of", errs.ErrInvalidInput, st.Name)
	}
	timeout := cmp.Or(o.Timeout, defaultTimeout)
	prep, err := r.prepare(ctx, o, false)
	if err != nil {
		return filled{}, err
	}
	// The plan decides the generation's number, slot and release: what a
	// dry run printed is what runs.
	plan := planRestore(r.observeGeneration(ctx, prep, seed, made, source, o))
	from, to := plan.next.from, plan.next.gen
	tp, err := r.onRelease(ctx, prep, o, to, plan.next.slot, plan.next.release)
	if err != nil {
		return filled{}, err
	}
	target := tp.Project
	if err := r.Compose.Build(ctx, prep.Project, api.BuildOptions{Deps: true}); err != nil {
		return filled{}, fmt.Errorf("building %s: %w", st.Name, err)
	}
	if tp.Release != prep.Release {
		if err := r.Compose.Build(ctx, target, api.BuildOptions{Deps: true}); err != nil {
			return filled{}, fmt.Errorf("building %s on release %s: %w", st.Name, tp.Release, err)
		}
	}
	if err := r.refuseLeftovers(ctx, st.ImageRef(prep.Choice.Profile, prep.Release), to); err != nil {
		return filled{}, err
	}
	if err := seed.Check(ctx, tp); err != nil {
		return filled{}, err
	}
	rec := state.Generation{N: to, Made: made, Source: source, At: time.Now().UTC(), Release: tp.Release}
	if err := r.update(func(s *state.State) error { s.PutGen(rec); return nil }); err != nil {
		return filled{}, err
	}
	f := filled{r: r, prep: tp, from: from, rec: rec}
	r.logf("stack %s: making generation %d (%s) beside generation %d, which keeps serving", st.Name, to, describe(rec), from)
	whole := false
	defer func() {
		if !whole {
			f.discard(ctx)
		}
	}()
	err = r.Compose.Create(ctx, target, api.CreateOptions{
		IgnoreOrphans: true, Recreate: api.RecreateDiverged, RecreateDependencies: api.RecreateDiverged,
	})
	if err != nil {
		return filled{}, fmt.Errorf("creating generation %d of %s: %w", to, st.Name, err)
	}
	if err := r.seed(ctx, tp, seed, timeout); err != nil {
		return filled{}, err
	}
	if c, ok := seed.(Copier); ok && c.CopiesActive() && st.FirstStart != nil && from != 0 {
		// pg_dump leaves the database's comment, the mark, behind: carried over
		// here, it spares the copy a first start (a Rails boot) in the window.
		done, err := r.configured(ctx, from)
		if err != nil {
			return filled{}, err
		}
		if done {
			if err := r.markConfigured(ctx, to); err != nil {
				return filled{}, err
			}
		}
	}
	whole = true
	return f, nil
}

// BuildRelease builds what a new generation of st on release would run (its
// debian bases, then its images) while the stack serves as it does: so that a
// change that waits on it (an upgrade's maintenance) does not wait for builds.
func (r Runner) BuildRelease(ctx context.Context, release string, o UpOptions) error {
	st := r.Stack
	prep, err := r.prepare(ctx, o, false)
	if err != nil {
		return err
	}
	tp, err := r.onRelease(ctx, prep, o, prep.State.NextGen(), catalog.SlotA, release)
	if err != nil {
		return err
	}
	if err := r.Compose.Build(ctx, tp.Project, api.BuildOptions{Deps: true}); err != nil {
		return fmt.Errorf("building %s on release %s: %w", st.Name, release, err)
	}
	return nil
}

// takeOver starts generation prep.Gen (created, its data in place), runs its
// first start when its data lacks the mark, records it ready, and makes it the
// active one: through the switch when generation from serves, else by starting
// it behind the front. kept says the generation must stay: it serves, or the
// front was pointed at it.
func (r Runner) takeOver(ctx context.Context, prep Prepared, from int, why string, o UpOptions, timeout time.Duration) (res UpResult, kept bool, err error) {
	st, to := prep.Stack, prep.Gen
	if err := r.start(ctx, st.Name, prep.Project, true, timeout); err != nil {
		return UpResult{}, false, err
	}
	if err := r.configure(ctx, to); err != nil {
		return UpResult{}, false, err
	}
	if err := r.recordReady(ctx, to); err != nil {
		return UpResult{}, false, err
	}
	front, err := r.front(prep.State.Listen)
	if err != nil {
		return UpResult{}, false, err
	}
	res = UpResult{Choice: prep.Choice, URL: front.Open}
	if from != 0 && r.serving(ctx) {
		sw := state.Switch{From: from, FromSlot: prep.State.SlotOf(from), To: to, ToSlot: prep.Slot, Why: why}
		pointed, err := r.switchTo(ctx, sw)
		return res, pointed, err
	}
	// Nothing serves: the new generation starts behind the front as an up would.
	if err := r.activate(state.Switch{To: to, ToSlot: prep.Slot, Why: why}); err != nil {
		return UpResult{}, false, err
	}
	full, err := generation(st, prep.base, to, prep.Slot, prep.State.FrontSlot)
	if err != nil {
		return UpResult{}, true, err
	}
	// Other generations' containers are stopped, or there would be a front: they go, their volumes stay.
	err = r.Compose.Create(ctx, full, api.CreateOptions{RemoveOrphans: true, Recreate: api.RecreateDiverged, RecreateDependencies: api.RecreateDiverged})
	if err != nil {
		return UpResult{}, true, fmt.Errorf("creating %s: %w", st.Name, err)
	}
	up := prep
	up.Project = full
	res, err = r.serve(ctx, up, false, timeout)
	return res, true, err
}

// serving says whether st's front runs.
func (r Runner) serving(ctx context.Context) bool {
	st := r.Stack
	_, err := r.GenContainer(ctx, st.Generations.Front, 1)
	return err == nil
}

// RollbackResult is what a rollback did.
type RollbackResult struct {
	URL      string
	From, To int
}

// Rollback makes generation to (0: the one that served before the active
// one, see rollbackTarget) the active one again, through the switch: the active generation
// serves until the front is pointed over, and stays, reachable by another
// rollback, until pruned.
func (r Runner) Rollback(ctx context.Context, to int, o UpOptions) (RollbackResult, error) {
	st := r.Stack
	if st.Generations == nil {
		return RollbackResult{}, fmt.Errorf("%w: stack %s has no data to roll back", errs.ErrInvalidInput, st.Name)
	}
	timeout := cmp.Or(o.Timeout, defaultTimeout)
	prep, err := r.prepare(ctx, o, false)
	if err != nil {
		return RollbackResult{}, err
	}
	// The plan decides the target, whose volumes must all be there, and its
	// slot and release: what a dry run printed is what runs.
	obs, err := r.observeRollback(ctx, prep.State, prep.Choice, to)
	if err != nil {
		return RollbackResult{}, err
	}
	plan, err := planRollback(obs)
	if err != nil {
		return RollbackResult{}, err
	}
	from := plan.next.from
	to = plan.next.gen
	tp, err := r.onRelease(ctx, prep, o, to, plan.next.slot, plan.next.release)
	if err != nil {
		return RollbackResult{}, err
	}
	target := tp.Project
	// The target's images, on its own release: what it last ran, rebuilt from cache.
	if err := r.Compose.Build(ctx, target, api.BuildOptions{Deps: true}); err != nil {
		return RollbackResult{}, fmt.Errorf("building %s: %w", st.Name, err)
	}
	r.logf("stack %s: starting generation %d beside generation %d, which keeps serving", st.Name, to, from)
	err = r.Compose.Create(ctx, target, api.CreateOptions{
		IgnoreOrphans: true, Recreate: api.RecreateDiverged, RecreateDependencies: api.RecreateDiverged,
	})
	if err != nil {
		return RollbackResult{}, fmt.Errorf("creating generation %d of %s: %w", to, st.Name, err)
	}
	serving := r.serving(ctx)
	res, kept, err := r.takeOver(ctx, tp, from, fmt.Sprintf("rollback from %d", from), o, timeout)
	if err != nil && !kept {
		if rerr := r.removeGenContainers(context.WithoutCancel(ctx), to); rerr != nil {
			err = errors.Join(err, rerr)
		}
		if serving {
			return RollbackResult{}, fmt.Errorf("%w: generation %d still serves", err, from)
		}
		return RollbackResult{}, fmt.Errorf("%w: generation %d is still the active one", err, from)
	}
	if err != nil {
		return RollbackResult{}, err
	}
	return RollbackResult{URL: res.URL, From: from, To: to}, nil
}

// rollbackTarget checks generation to as a rollback's target, or finds one
// when to is 0: the generation that served before the active one, when it is
// still there and whole, else the newest ready generation below the active one.
func rollbackTarget(st catalog.Stack, rec state.State, to int) (int, error) {
	if rec.Active == 0 {
		return 0, fmt.Errorf("%w: stack %s has no generations: start it with 'stackctl up %s'", errs.ErrNotFound, st.Name, st.Name)
	}
	if g, ok := rec.Gen(rec.Previous); to == 0 && ok && g.Ready && g.N != rec.Active {
		return g.N, nil
	}
	if to == 0 {
		for _, g := range slices.Backward(rec.Generations) {
			if g.N < rec.Active && g.Ready {
				return g.N, nil
			}
		}
		return 0, fmt.Errorf("%w: stack %s has no generation older than the active %d: see 'stackctl generations %s'", errs.ErrNotFound, st.Name, rec.Active, st.Name)
	}
	g, ok := rec.Gen(to)
	switch {
	case !ok:
		return 0, fmt.Errorf("%w: stack %s has no generation %d: see 'stackctl generations %s'", errs.ErrNotFound, st.Name, to, st.Name)
	case to == rec.Active:
		return 0, fmt.Errorf("%w: generation %d of stack %s is already the active one", errs.ErrInvalidInput, to, st.Name)
	case !g.Ready:
		return 0, fmt.Errorf("%w: generation %d of stack %s was never finished", errs.ErrNotFound, to, st.Name)
	}
	return to, nil
}

// recordReady records generation gen of st as whole and started, with the
// images its containers run.
func (r Runner) recordReady(ctx context.Context, gen int) error {
	st := r.Stack
	images := map[string]string{}
	for _, svc := range st.Generations.Services {
		id, err := r.GenContainer(ctx, svc, gen)
		if err != nil {
			return err
		}
		if images[svc], err = r.Engine.ContainerImage(ctx, id); err != nil {
			return err
		}
	}
	return r.update(func(rec *state.State) error {
		g, ok := rec.Gen(gen)
		if !ok {
			return fmt.Errorf("stack %s has no record of generation %d", st.Name, gen)
		}
		g.Ready, g.Images = true, images
		if rec.Active == gen && g.ActivatedAt.IsZero() {
			g.ActivatedAt = time.Now().UTC()
		}
		rec.PutGen(g)
		return nil
	})
}

// refuseLeftovers refuses to make generation gen of st over one of its
// volumes that exists already, unless an operator made it for it: empty, and
// made by no compose project (a volume on another driver or disk, say). One
// that stackctl made has no record, so it may hold what someone needs.
func (r Runner) refuseLeftovers(ctx context.Context, image string, gen int) error {
	st := r.Stack
	for _, v := range st.Generations.Volumes {
		name := catalog.VolumeName(st.ComposeProject(), v, gen)
		labels, found, err := r.Engine.VolumeLabels(ctx, name)
		if err != nil {
			return err
		}
		if !found {
			continue
		}
		if labels[api.ProjectLabel] == "" {
			usage, err := r.Engine.VolumeUsage(ctx, image, []string{name})
			if err != nil {
				return err
			}
			if usage[name].Empty {
				r.logf("stack %s: generation %d's %s goes into volume %s, made outside stackctl and empty", st.Name, gen, v, name)
				continue
			}
		}
		return fmt.Errorf("%w: volume %s exists and is not empty, or was made by compose, but stack %s has no record of generation %d: "+
			"look at what it holds, then remove it ('docker volume rm %s') or move it aside", errs.ErrInvalidInput, name, st.Name, gen, name)
	}
	return nil
}

// discard removes generation gen of st: its containers, its volumes, its record.
func (r Runner) discard(ctx context.Context, gen int) error {
	st := r.Stack
	if err := r.removeGenContainers(ctx, gen); err != nil {
		return err
	}
	for _, v := range st.Generations.Volumes {
		if err := r.Engine.RemoveVolume(ctx, catalog.VolumeName(st.ComposeProject(), v, gen)); err != nil {
			return err
		}
	}
	return r.update(func(rec *state.State) error { rec.DropGen(gen); return nil })
}

// describe says what made generation g.
func describe(g state.Generation) string {
	if g.Made == state.MadeRestore && g.Source != "" {
		return "restore of " + g.Source
	}
	if g.Made == state.MadeUpgrade && g.Source != "" {
		return "upgrade " + g.Source
	}
	return g.Made
}

// GenerationInfo is one generation as 'stackctl generations' shows it.
type GenerationInfo struct {
	state.Generation
	Active bool `json:"active"`
	// Volumes are its data volumes (engine names), and Size the bytes they
	// hold (-1: unknown: a volume is missing, or could not be measured).
	Volumes []string `json:"volumes"`
	Size    int64    `json:"size"`
	// Made describes what made it, for people.
	What string `json:"what"`
}

// Generations lists st's generations with the size of their volumes.
func (r Runner) Generations(ctx context.Context) ([]GenerationInfo, error) {
	st := r.Stack
	if st.Generations == nil {
		return nil, fmt.Errorf("%w: stack %s has no data, so no generations", errs.ErrInvalidInput, st.Name)
	}
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, g := range rec.Generations {
		for _, v := range st.Generations.Volumes {
			names = append(names, catalog.VolumeName(st.ComposeProject(), v, g.N))
		}
	}
	var image string
	if rec.Profile != "" {
		image = st.ImageRef(rec.Profile, rec.ReleaseOf(rec.Active))
	}
	sizes, err := r.usage(ctx, image, names)
	if err != nil {
		return nil, err
	}
	var out []GenerationInfo
	for _, g := range rec.Generations {
		info := GenerationInfo{Generation: g, Active: g.N == rec.Active, What: describe(g)}
		for _, v := range st.Generations.Volumes {
			name := catalog.VolumeName(st.ComposeProject(), v, g.N)
			info.Volumes = append(info.Volumes, name)
			size, ok := sizes[name]
			if !ok || info.Size < 0 {
				info.Size = -1
				continue
			}
			info.Size += size
		}
		out = append(out, info)
	}
	return out, nil
}

// usage measures those of the volumes named that exist, with image (st's
// own); one that is missing, or all when that image is, has no size.
func (r Runner) usage(ctx context.Context, image string, names []string) (map[string]int64, error) {
	st := r.Stack
	var present []string
	for _, name := range names {
		found, err := r.Engine.VolumeExists(ctx, name)
		if err != nil {
			return nil, err
		}
		if found {
			present = append(present, name)
		}
	}
	out := map[string]int64{}
	if len(present) == 0 || image == "" {
		return out, nil
	}
	usage, err := r.Engine.VolumeUsage(ctx, image, present)
	if err != nil {
		r.logf("stack %s: sizes unknown: %v", st.Name, err)
		return out, nil
	}
	for name, u := range usage {
		out[name] = u.Bytes
	}
	return out, nil
}

// PruneResult is what a prune removed, or would.
type PruneResult struct {
	Removed []GenerationInfo `json:"removed"`
	Kept    []int            `json:"kept"`
}

// Prune removes the generations of st beyond the newest keep (the active one
// always stays, and counts): their volumes and records. With dryRun it only
// says which.
func (r Runner) Prune(ctx context.Context, keep int, dryRun bool) (PruneResult, error) {
	st := r.Stack
	if keep < 1 {
		return PruneResult{}, fmt.Errorf("%w: --keep %d: the active generation always stays; keep at least 1", errs.ErrInvalidInput, keep)
	}
	all, err := r.Generations(ctx)
	if err != nil {
		return PruneResult{}, err
	}
	var res PruneResult
	others := keep - 1 // the active generation takes one place
	for _, g := range slices.Backward(all) {
		if g.Active || others > 0 {
			if !g.Active {
				others--
			}
			res.Kept = append(res.Kept, g.N)
			continue
		}
		res.Removed = append(res.Removed, g)
	}
	if dryRun {
		return res, nil
	}
	for _, g := range res.Removed {
		r.logf("stack %s: removing generation %d (%s): volumes %s", st.Name, g.N, g.What, strings.Join(g.Volumes, ", "))
		if err := r.discard(ctx, g.N); err != nil {
			return res, err
		}
	}
	return res, nil
}
