package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
)

// SwarmDataOptions are the operator's choices for a restore or a rollback
// on a swarm.
type SwarmDataOptions struct {
	// Manager is the API of a manager of the swarm, and Data the data node's
	// engine, which is also the runner's (its seed finds containers there).
	Manager client.APIClient
	Data    *engine.Engine
	// FilesVolume is the shared storage a restore writes the files into,
	// for a stack whose files are shared: never the storage that serves.
	FilesVolume map[string]string
	Timeout     time.Duration
}

// RestoreSwarm makes a new generation of st's data on its swarm, filled by
// seed, and deploys it: the new generation's volumes are made on the data
// node (the files on the new shared storage o names, when they are shared),
// the database filled through a PostgreSQL of the stack's image run there
// alone on the new volume (never the one that serves), the files by the
// seed's writer, while the stack serves; then the switch (deployGen).
// The generation that served stays, with its volumes, for RollbackSwarm.
// A failure before the switch removes what the restore made and changes
// nothing on the swarm; a switch that does not converge deploys the old
// generation again.
func (r Runner) RestoreSwarm(ctx context.Context, seed Seed, made, source string, o SwarmDataOptions) (NewResult, error) {
	st := r.Stack
	timeout := cmp.Or(o.Timeout, defaultTimeout)
	if st.Generations == nil || st.Database == nil {
		return NewResult{}, fmt.Errorf("%w: stack %s has no data to restore", errs.ErrInvalidInput, st.Name)
	}
	// The plan decides whether what a stopped restore left goes first, and
	// the generation's number: what a dry run printed is what runs.
	obs, err := r.observeSwarmGeneration(ctx, o.Data, made, source)
	if err != nil {
		return NewResult{}, err
	}
	plan := planRestore(obs)
	if plan.next.recover {
		if err := r.RecoverSwarm(ctx, o.Data); err != nil {
			return NewResult{}, err
		}
	}
	rec, sw, err := r.swarmRecord()
	if err != nil {
		return NewResult{}, err
	}
	from := plan.next.from
	files, err := restoredFiles(st, sw, o.FilesVolume)
	if err != nil {
		return NewResult{}, err
	}
	r.logSkipped(plan)
	gen := plan.next.gen
	set, base, err := r.swarmProject(ctx, rec)
	if err != nil {
		return NewResult{}, err
	}
	prep, err := swarmPrepared(st, rec, base, gen)
	if err != nil {
		return NewResult{}, err
	}
	// The images the generation's helpers and PostgreSQL run, by digest,
	// which the seed checks too: a node pulls only what its own tasks run.
	for _, svc := range prep.Project.Services {
		if !strings.Contains(svc.Image, "@") {
			continue // not one the swarm runs (swarmPrepared)
		}
		if err := o.Data.EnsureImage(ctx, svc.Image); err != nil {
			return NewResult{}, err
		}
	}
	if err := seed.Check(ctx, prep); err != nil {
		return NewResult{}, err
	}
	next := sw
	next.Gen, next.FilesVolume = gen, files
	dep, err := r.swarmDeployment(set, base, next)
	if err != nil {
		return NewResult{}, err
	}

	// Recorded before the first volume is made: a stackctl killed from here
	// on leaves a record the next command acts on (RecoverSwarm), and the
	// volumes it removes then are the ones made here (the plan found none).
	rec.Swarm.Pending = gen
	if err := r.State.Save(st.Name, rec); err != nil {
		return NewResult{}, err
	}
	r.logf("stack %s: making generation %d (%s) on the swarm's data node %s, beside generation %d, which keeps serving", st.Name, gen, made, sw.DataNode, from)
	filled := false
	defer func() {
		if !filled {
			if err := r.removeSwarmGen(context.WithoutCancel(ctx), o.Data, gen); err != nil {
				r.logf("stack %s: removing the unfinished generation %d failed: %v: the next stackctl command on %s retries", st.Name, gen, err, st.Name)
			} else if err := r.update(func(s *state.State) error { s.Swarm.Pending = 0; return nil }); err != nil {
				r.logf("stack %s: %v", st.Name, err)
			}
		}
	}()
	if err := r.fillSwarmGen(ctx, o.Data, prep, dep, seed, files, timeout); err != nil {
		return NewResult{}, err
	}
	filled = true

	// The new generation recorded, then the switch.
	gens := slices.Clone(sw.AllGens())
	if len(sw.Gens) == 0 {
		gens[0].At = rec.FirstUpAt
	}
	rec.Swarm.Gens = append(gens, state.SwarmGen{N: gen, Made: made, Source: source, At: time.Now().UTC(), FilesVolume: files})
	rec.Swarm.Pending = 0
	if err := r.State.Save(st.Name, rec); err != nil {
		return NewResult{}, err
	}
	d := swarm.Deployer{API: o.Manager, Report: r.Report}
	url, err := r.deployGen(ctx, d, rec, set, base, gen, from, timeout)
	if err != nil {
		return NewResult{From: from, Gen: gen}, r.redeploy(ctx, d, from, sw.Previous, err, timeout)
	}
	return NewResult{UpResult: UpResult{URL: url}, From: from, Gen: gen, Switched: true}, nil
}

// RollbackSwarm deploys generation to of st's data on its swarm again (0:
// the one deployed before the active one), through the same switch as a
// restore (deployGen). The active generation stays.
func (r Runner) RollbackSwarm(ctx context.Context, to int, o SwarmDataOptions) (RollbackResult, error) {
	st := r.Stack
	timeout := cmp.Or(o.Timeout, defaultTimeout)
	if st.Generations == nil || st.Database == nil {
		return RollbackResult{}, fmt.Errorf("%w: stack %s has no data to roll back", errs.ErrInvalidInput, st.Name)
	}
	// The plan decides the target, whose volumes on the data node must all
	// be there, and whether what a stopped restore left goes first.
	obs, err := r.observeSwarmRollback(ctx, o.Data, to)
	if err != nil {
		return RollbackResult{}, err
	}
	plan, err := planRollback(obs)
	if err != nil {
		return RollbackResult{}, err
	}
	if plan.next.recover {
		if err := r.RecoverSwarm(ctx, o.Data); err != nil {
			return RollbackResult{}, err
		}
	}
	rec, sw, err := r.swarmRecord()
	if err != nil {
		return RollbackResult{}, err
	}
	from, to := plan.next.from, plan.next.gen
	set, base, err := r.swarmProject(ctx, rec)
	if err != nil {
		return RollbackResult{}, err
	}
	d := swarm.Deployer{API: o.Manager, Report: r.Report}
	url, err := r.deployGen(ctx, d, rec, set, base, to, from, timeout)
	if err != nil {
		return RollbackResult{}, r.redeploy(ctx, d, from, sw.Previous, err, timeout)
	}
	return RollbackResult{URL: url, From: from, To: to}, nil
}

// deployGen is the switch to generation gen, recorded as the one deployed
// (previous the one to roll back to) before anything changes, so that an up
// after a killed stackctl deploys it. Redmine's tasks are stopped first: the
// database is replaced in place (stop-first: PostgreSQL never runs twice on
// one data directory), and an old task left running beside the new database
// would write a record into one generation and its file into another. Then
// the stack is deployed on gen's volumes, and Redmine's tasks start on them.
// The tracker does not answer meanwhile.
func (r Runner) deployGen(ctx context.Context, d swarm.Deployer, rec state.State, set catalog.Settings, base *types.Project, gen, previous int, timeout time.Duration) (string, error) {
	st := r.Stack
	g, ok := rec.Swarm.GenOf(gen)
	if !ok {
		return "", fmt.Errorf("%w: stack %s has no generation %d on the swarm", errs.ErrNotFound, st.Name, gen)
	}
	next := *rec.Swarm
	next.Gen, next.Previous, next.FilesVolume = gen, previous, g.FilesVolume
	dep, err := r.swarmDeployment(set, base, next)
	if err != nil {
		return "", err
	}
	rec.Swarm = &next
	if err := r.State.Save(st.Name, rec); err != nil {
		return "", err
	}
	r.logf("stack %s: switching the swarm to generation %d: Redmine stops, the database is replaced, Redmine starts on the new data; the tracker does not answer meanwhile", st.Name, gen)
	if err := d.StopService(ctx, dep.Namespace, st.Generations.App, timeout); err != nil {
		return "", err
	}
	url, err := r.applySwarm(ctx, d, dep, set, next.Port, timeout)
	if err != nil {
		return "", err
	}
	rec.Swarm.URL, rec.Swarm.DeployedAt = url, time.Now().UTC()
	return url, r.State.Save(st.Name, rec)
}

// redeploy deploys generation gen again (previous the one to roll back to
// then) after a switch away from it failed with cause, and returns cause,
// saying what now serves.
func (r Runner) redeploy(ctx context.Context, d swarm.Deployer, gen, previous int, cause error, timeout time.Duration) error {
	st := r.Stack
	r.logf("stack %s: %v: deploying generation %d again", st.Name, cause, gen)
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return errors.Join(cause, err)
	}
	ctx = context.WithoutCancel(ctx) // the way back, even after Ctrl-C
	set, base, err := r.swarmProject(ctx, rec)
	if err == nil {
		_, err = r.deployGen(ctx, d, rec, set, base, gen, previous, timeout)
	}
	if err != nil {
		return fmt.Errorf("%w; deploying generation %d again failed too: %v: see 'stackctl ps %s', and 'stackctl up %s' to try again", cause, gen, err, st.Name, st.Name)
	}
	return fmt.Errorf("%w: generation %d is deployed again and serves", cause, gen)
}

// swarmGens lists sw's generations for a message.
func swarmGens(sw state.Swarm) string {
	var ns []string
	for _, g := range sw.AllGens() {
		ns = append(ns, strconv.Itoa(g.N))
	}
	return strings.Join(ns, ", ")
}

// fillSwarmGen makes generation gen's volumes on the data node and lets
// seed fill them, the database through a PostgreSQL run there alone on its
// new volume, stopped cleanly once filled.
func (r Runner) fillSwarmGen(ctx context.Context, data *engine.Engine, prep Prepared, dep swarm.Deployment, seed Seed, files map[string]string, timeout time.Duration) error {
	st := r.Stack
	pers := prep.Persistence()
	byKey := map[string]string{}
	var shared []string
	for _, mt := range pers.Mounts {
		byKey[mt.Volume] = mt.Name
		opts := map[string]string(nil)
		// The volumes the Swarm form puts on shared storage (its files, not
		// the plugins, which it leaves out), as its file says.
		if v, ok := dep.Config.Volumes[mt.Volume]; ok && files != nil && len(v.DriverOpts) > 0 {
			opts = files
			shared = append(shared, mt.Name)
		}
		if err := data.CreateVolume(ctx, mt.Name, opts, map[string]string{"com.docker.stack.namespace": dep.Namespace}); err != nil {
			return err
		}
	}
	if len(shared) > 0 {
		// New storage must be empty: stackctl never deletes what is on the
		// operator's storage, so a restore stopped half way leaves its files
		// there, and another must not mix its own with them.
		app := prep.Project.Services[prep.Service(st.Generations.App)].Image
		usage, err := data.VolumeUsage(ctx, app, shared)
		if err != nil {
			return err
		}
		for _, name := range shared {
			if !usage[name].Empty {
				return fmt.Errorf("%w: the storage --files-volume names (%v) is not empty: a restore writes into empty storage only; "+
					"empty it, or name other storage", swarm.ErrRefused, files)
			}
		}
	}
	defer seed.End()
	if err := seed.Begin(ctx, prep); err != nil {
		return err
	}
	db, err := swarm.RunLocal(ctx, data, dep, st.Database.Service, prep.Gen, byKey)
	if err != nil {
		return err
	}
	defer func() {
		if db != nil {
			_ = db.Stop(context.WithoutCancel(ctx))
		}
	}()
	if err := db.WaitHealthy(ctx, timeout); err != nil {
		return err
	}
	if err := seed.Fill(ctx, prep); err != nil {
		return err
	}
	seed.End()
	err = db.Stop(ctx)
	db = nil
	return err
}

// removeSwarmGen removes what a restore made of generation gen on the data
// node: its PostgreSQL, then its volumes.
func (r Runner) removeSwarmGen(ctx context.Context, data *engine.Engine, gen int) error {
	st := r.Stack
	if err := swarm.RemoveLocal(ctx, data, swarm.LocalName(st.ComposeProject(), st.Database.Service, gen)); err != nil {
		return err
	}
	var failed []error
	for _, v := range st.Generations.Volumes {
		failed = append(failed, data.RemoveVolume(ctx, catalog.VolumeName(st.ComposeProject(), v, gen)))
	}
	return errors.Join(failed...)
}

// RecoverSwarm removes from the data node (data) what a restore stopped
// half way left there: its PostgreSQL container, which holds the database
// password in its files, and the generation's volumes, all made by it
// (RestoreSwarm records the generation only once none of its volumes are
// there). What it wrote into new shared storage stays: stackctl never
// deletes the operator's files.
func (r Runner) RecoverSwarm(ctx context.Context, data *engine.Engine) error {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil || rec.Swarm == nil || rec.Swarm.Pending == 0 || st.Generations == nil || st.Database == nil {
		return err
	}
	gen := rec.Swarm.Pending
	r.logf("stack %s: removing generation %d from the data node: a stopped stackctl left it unfinished", st.Name, gen)
	if err := r.removeSwarmGen(ctx, data, gen); err != nil {
		return err
	}
	return r.update(func(s *state.State) error { s.Swarm.Pending = 0; return nil })
}

// swarmRecord is st's state, which must say it runs on a swarm.
func (r Runner) swarmRecord() (state.State, state.Swarm, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return state.State{}, state.Swarm{}, err
	}
	if rec.Swarm == nil {
		return state.State{}, state.Swarm{}, fmt.Errorf("%w: stack %s is not deployed on a swarm: 'stackctl up %s --on swarm' first", errs.ErrNotRunning, st.Name, st.Name)
	}
	if rec.Swarm.Down {
		return state.State{}, state.Swarm{}, fmt.Errorf("%w: stack %s was taken off its swarm by 'stackctl down': 'stackctl up %s' deploys it there again first", errs.ErrNotRunning, st.Name, st.Name)
	}
	return rec, *rec.Swarm, nil
}

// swarmProject is the settings and project of st as its last deploy made
// them (its profile, address, release and Puma size), for a redeploy.
func (r Runner) swarmProject(ctx context.Context, rec state.State) (catalog.Settings, *types.Project, error) {
	st := r.Stack
	if r.Overrides.PumaWorkers == nil && rec.Swarm.PumaWorkers > 0 {
		n := rec.Swarm.PumaWorkers
		r.Overrides.PumaWorkers = &n
	}
	set, err := r.settings(ctx, rec.Profile, rec.Listen, rec.Swarm.Release)
	if err != nil {
		return catalog.Settings{}, nil, err
	}
	if err := r.State.EnsureSecrets(st); err != nil {
		return catalog.Settings{}, nil, err
	}
	p, err := r.Build.Load(ctx, st, set)
	if err != nil {
		return catalog.Settings{}, nil, err
	}
	return set, p, nil
}

// swarmPrepared is generation gen of st's project as a seed sees it: the
// generation's volumes, and the images the swarm runs (by digest, on the
// data node since its tasks run there) in its services.
func swarmPrepared(st catalog.Stack, rec state.State, base *types.Project, gen int) (Prepared, error) {
	p, err := st.ForGeneration(base, gen, catalog.SlotA, catalog.NoFront)
	if err != nil {
		return Prepared{}, err
	}
	services := maps.Clone(p.Services)
	for name, ref := range rec.Swarm.Images {
		in := st.Generations.ServiceIn(name, gen, catalog.SlotA)
		if svc, ok := services[in]; ok {
			svc.Image = ref
			services[in] = svc
		}
	}
	p.Services = services
	return Prepared{Stack: st, Choice: Choice{Profile: rec.Profile}, State: rec, Project: p, Gen: gen, Slot: catalog.SlotA, Release: rec.Swarm.Release, base: base}, nil
}

// restoredFiles is the shared storage a restore writes the files into:
// none when the stack's files are on the data node, else flag, which must
// name storage no generation uses.
func restoredFiles(st catalog.Stack, sw state.Swarm, flag map[string]string) (map[string]string, error) {
	if sw.FilesVolume == nil {
		if flag != nil {
			return nil, fmt.Errorf("%w: --files-volume: stack %s keeps its files on the data node %s, and so does the restore; "+
				"moving them to shared storage is a deploy with --files-volume on an empty stack, then a restore", swarm.ErrRefused, st.Name, sw.DataNode)
		}
		return nil, nil
	}
	if flag == nil {
		return nil, fmt.Errorf("%w: stack %s keeps its files on shared storage (%v), which a restore must not write over: "+
			"name new storage for the restored files with --files-volume (another directory of the same server, say); the current one stays, for a rollback",
			swarm.ErrRefused, st.Name, sw.FilesVolume)
	}
	for _, g := range sw.AllGens() {
		if maps.Equal(g.FilesVolume, flag) {
			return nil, fmt.Errorf("%w: --files-volume names the storage of generation %d of stack %s, which a restore must not write over: name new storage",
				swarm.ErrRefused, g.N, st.Name)
		}
	}
	return flag, nil
}
