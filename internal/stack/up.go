package stack

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/state"
)

// UpOptions are the operator's choices for Up.
type UpOptions struct {
	Profile catalog.Profile
	// Listen overrides the recorded or default host address:port; empty keeps it.
	Listen string
	// Mirror and RebuildBases apply to debian bases.
	Mirror       string
	RebuildBases Rebuild
	// Timeout bounds each wait for the stack to become healthy and answer.
	Timeout time.Duration
	// NoWait returns once containers are created and started, without waiting
	// for health; a first start's configuration then waits for the next up.
	NoWait bool
	// Release is the release a new generation runs (NewGeneration; "": the
	// active generation's).
	Release string
	// Swarm are the choices of a deploy on a swarm.
	Swarm SwarmUp
}

// A Seed fills a new generation's volumes, before the applications first run
// on them: a restore.
type Seed interface {
	// Check runs once the images are built, before anything changes: refuse here.
	Check(ctx context.Context, p Prepared) error
	// Begin runs once the generation's volumes and containers are created,
	// before any of them starts: slow preparations start here, in the background.
	Begin(ctx context.Context, p Prepared) error
	// Fill runs once the generation's database (if it has one), alone, is
	// healthy; the rest of the generation starts when it returns.
	Fill(ctx context.Context, p Prepared) error
	// End releases what Begin started, once Fill returned or the generation
	// failed after Begin: before the runner removes the generation's volumes.
	End()
}

// A Copier is a Seed that fills the new generation from the active one alone
// (an upgrade's copy): what the active data's first start did holds for the
// copy, whose database then carries the mark without running it again.
type Copier interface {
	Seed
	CopiesActive() bool
}

// UpResult is what Up reports back.
type UpResult struct {
	Choice Choice
	URL    string
	// HTTPS says what up did of the site's tls settings.
	HTTPS HTTPSResult
	// AdminPasswordFile holds the generated administrator password, for stacks that have one.
	AdminPasswordFile string
	// Notes are more lines for the operator.
	Notes []string
}

// Prepared is a stack ready to be built and created: profile chosen and
// recorded, bases and secrets in place, compose project loaded.
type Prepared struct {
	Stack  catalog.Stack
	Choice Choice
	State  state.State
	// Project is generation Gen of the stack, behind its front for an up, alone
	// for a generation being made beside the active one.
	Project *types.Project
	Gen     int
	// Slot is the one its application runs in.
	Slot int
	// Release is the release the generation runs ("": the default one).
	Release string
	// base is the stack's project as its compose file has it (generation 1, every service).
	base *types.Project
}

// Persistence is the data volumes of the prepared generation.
func (p Prepared) Persistence() catalog.Persistence {
	return catalog.PersistenceOf(p.Stack, p.base).ForGeneration(p.base.Name, p.Gen)
}

// Service is the name service (as the compose file names it) has in the prepared generation.
func (p Prepared) Service(service string) string {
	if g := p.Stack.Generations; g != nil {
		return g.ServiceIn(service, p.Gen, p.Slot)
	}
	return service
}

const defaultTimeout = 5 * time.Minute

// Up starts a stack's active generation (generation 1 on a first start)
// behind its front: choose the profile, build what is missing (bases, then
// images), create, start, wait until every service is healthy and the entry
// URL answers, run the stack's first start once, and point the front at the
// generation. Running it again changes nothing. On a stack that serves, a
// change of its application's or its front's image or settings takes over
// without an outage (see changeApp, changeFront).
func (r Runner) Up(ctx context.Context, o UpOptions) (UpResult, error) {
	st := r.Stack
	timeout := cmp.Or(o.Timeout, defaultTimeout)
	prep, err := r.prepare(ctx, o, true)
	if err != nil {
		return UpResult{}, err
	}
	closed := false   // for maintenance, while the database is recreated
	keepEdge := false // the edge keeps its image (see KeptEdge)
	if err := r.Compose.Build(ctx, prep.Project, api.BuildOptions{Deps: true}); err != nil {
		return UpResult{}, fmt.Errorf("building %s: %w", st.Name, err)
	}
	if !o.NoWait {
		// Observe, plan, execute: a changed application, then a changed
		// front, takes over from the one that serves; a changed database is
		// recreated below, behind the maintenance page.
		obs, err := r.observe(ctx, prep, true, nil)
		if err != nil {
			return UpResult{}, err
		}
		plan := planUp(obs)
		keepEdge = plan.keepEdge
		if prep, err = r.changeApp(ctx, prep, plan.handApp, timeout); err != nil {
			return UpResult{}, err
		}
		if prep, err = r.changeFront(ctx, prep, plan.handFront, timeout); err != nil {
			return UpResult{}, err
		}
		if plan.recreateFront != "" {
			r.logf("stack %s: %s changed, and the %s holding its port is new or changed too: both are recreated, "+
				"refusing connections for a moment", st.Name, plan.recreateFront, st.Generations.Edge)
		}
		if closed, err = r.closeForDatabase(ctx, prep, plan.closeForDB); err != nil {
			return UpResult{}, err
		}
	}
	// Open again whatever happens: the database that came back, or the
	// error of one that did not, answers better than our page would.
	open := func() {
		if closed {
			closed = false
			if err := r.Maintenance(context.WithoutCancel(ctx), false, ""); err != nil {
				r.logf("stack %s: opening again after the database's change: %v: 'stackctl up %s' retries", st.Name, err, st.Name)
			}
		}
	}
	defer open()
	create := api.CreateOptions{RemoveOrphans: true, Recreate: api.RecreateDiverged, RecreateDependencies: api.RecreateDiverged}
	if keepEdge {
		// Every service but the edge, which is only ever a dependency here: never recreated.
		edge := st.Generations.Edge
		for _, name := range slices.Sorted(maps.Keys(prep.Project.Services)) {
			if name != edge {
				create.Services = append(create.Services, name)
			}
		}
		create.RecreateDependencies = api.RecreateNever
		r.logf("stack %s: %s keeps its image: %s", st.Name, edge, KeptEdge)
	}
	// The image the database ran before its change: what it runs again
	// should the new one not start healthy.
	var oldDB string
	if closed {
		if id, err := r.Container(ctx, st.Database.Service); err == nil {
			oldDB, _ = r.Engine.ContainerImage(ctx, id)
		}
	}
	err = r.Compose.Create(ctx, prep.Project, create)
	if err != nil {
		err = fmt.Errorf("creating %s: %w", st.Name, err)
	}
	if closed {
		// Healthy again before the tracker opens: serve's own wait asks through nginx.
		if err == nil {
			err = r.start(ctx, st.Name, prep.Project, true, timeout)
		}
		if err != nil && oldDB != "" {
			return UpResult{}, r.databaseBack(ctx, prep, create, oldDB, err, timeout)
		}
		if err != nil {
			return UpResult{}, err
		}
		open()
	}
	if err != nil {
		return UpResult{}, err
	}
	return r.serve(ctx, prep, o.NoWait, timeout)
}

// databaseBack puts the image the database ran before, old, back under its
// tag and starts it again, the tracker still closed, after its new image
// failed (failed): a rebuilt base or a pulled tag that does not start healthy
// is dropped, and the old one serves. It returns what to tell the operator.
func (r Runner) databaseBack(ctx context.Context, prep Prepared, create api.CreateOptions, old string, failed error, timeout time.Duration) error {
	st := prep.Stack
	ctx = context.WithoutCancel(ctx)
	ref := prep.Project.Services[prep.Service(st.Database.Service)].Image
	r.logf("stack %s: the database's new image did not start healthy (%v): %s is %.19s again, the image it ran before", st.Name, failed, ref, old)
	err := r.Engine.Tag(ctx, old, ref)
	if err == nil {
		err = r.Compose.Create(ctx, prep.Project, create)
	}
	if err == nil {
		err = r.start(ctx, st.Name, prep.Project, true, timeout)
	}
	if err != nil {
		return fmt.Errorf("%w; and starting its old image %.19s again failed too: %v: "+
			"'stackctl up %s' retries, the backup taken before is the way back", failed, old, err, st.Name)
	}
	return fmt.Errorf("%w: the database runs its old image again (%.19s, tagged %s), and serves", failed, old, ref)
}

// closeForDatabase closes the serving stack prep for maintenance when the
// plan recreates its database's container (what: a new PostgreSQL image or
// setting): PostgreSQL never runs twice on the same data, so the old one
// stops before the new one starts, and meanwhile users get our maintenance
// page (HTTP 503, Retry-After) rather than Redmine's errors. It says whether
// it closed the stack; the caller opens it again.
func (r Runner) closeForDatabase(ctx context.Context, prep Prepared, what string) (bool, error) {
	if what == "" {
		return false, nil
	}
	st := prep.Stack
	r.logf("stack %s: %s changed: it is recreated behind the maintenance page (PostgreSQL never runs twice on the same data)", st.Name, what)
	// No pass: nothing of stackctl's asks through the front until it opens again.
	if err := r.Maintenance(ctx, true, rand.Text()); err != nil {
		return false, err
	}
	return true, nil
}

// serve starts the created stack prep (its generation behind the front), waits
// for it, runs its first start when its data lacks the mark, points the front
// at the generation and records it as ready.
func (r Runner) serve(ctx context.Context, prep Prepared, noWait bool, timeout time.Duration) (UpResult, error) {
	st := prep.Stack
	if err := r.start(ctx, st.Name, prep.Project, !noWait, timeout); err != nil {
		return UpResult{}, err
	}
	// Before anything asks nginx: it may still point at another generation
	// (its choice lives in a volume that outlives down).
	if st.Generations != nil && !noWait {
		if err := r.pointFront(ctx, prep.Gen, prep.Slot, false); err != nil {
			return UpResult{}, err
		}
	}
	front, err := r.front(prep.State.Listen)
	if err != nil {
		return UpResult{}, err
	}
	res := UpResult{Choice: prep.Choice, URL: front.Open}
	if noWait {
		return res, nil
	}
	// Plain HTTP: it answers Redmine, or with HTTPS already on, its redirect
	// (on a first start nginx serves no HTTPS yet: ApplyHTTPS comes last).
	plain, err := catalog.EntryURL(catalog.PlainListen(r.Overrides, prep.State.Listen))
	if err != nil {
		return UpResult{}, err
	}
	if err := waitHTTP(ctx, plain, http.DefaultTransport, timeout); err != nil {
		return UpResult{}, fmt.Errorf("stack %s started but %s does not answer: %w: see 'stackctl logs %s'", st.Name, plain, err, st.Name)
	}
	if err := r.configure(ctx, prep.Gen); err != nil {
		return UpResult{}, err
	}
	if st.Generations != nil {
		if err := r.pointMailIn(ctx, prep.Gen, prep.Slot); err != nil {
			return UpResult{}, err
		}
	}
	if st.Generations != nil {
		if err := r.recordReady(ctx, prep.Gen); err != nil {
			return UpResult{}, err
		}
	}
	// Last: a CA that cannot be reached must not keep the first start from
	// closing Redmine's default login.
	if res.HTTPS, err = r.ApplyHTTPS(ctx, false); err != nil {
		return UpResult{}, err
	}
	// HTTPS answers on the published address, its certificate verified for
	// the site's host name as every later command of stackctl's verifies it.
	if front.tls != nil {
		rt, err := front.Transport()
		if err != nil {
			return UpResult{}, err
		}
		if err := waitHTTP(ctx, front.URL, rt, timeout); err != nil {
			return UpResult{}, fmt.Errorf("stack %s serves HTTPS but %s does not answer: %w: see 'stackctl logs %s'", st.Name, front.URL, err, st.Name)
		}
	}
	// Only now is the password set, on a first start.
	if st.HasSecret(catalog.AdminPassword) {
		res.AdminPasswordFile = r.State.SecretPath(st.Name, catalog.AdminPassword)
	}
	return res, nil
}

// prepare chooses the profile, builds missing debian bases, generates missing
// secrets, loads the project, and records the profile and the stack's
// generations: data found without a record becomes generation 1; with
// first set (up), the addresses it publishes on are checked before any of
// that, and a stack without data gets its first generation.
func (r Runner) prepare(ctx context.Context, o UpOptions, first bool) (Prepared, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return Prepared{}, err
	}
	choice, err := ChooseProfile(ctx, st, cmp.Or(o.Profile, catalog.ProfileAuto), rec.Profile, r.Engine)
	if err != nil {
		return Prepared{}, err
	}
	r.logf("stack %s: base %s (%s)", st.Name, choice.Profile, choice.Reason)
	release := rec.ReleaseOf(activeGen(rec))
	listen := cmp.Or(o.Listen, rec.Listen, catalog.DefaultListen)
	if first {
		// Loaded once more, without the secrets a first start makes: a busy
		// port is refused before anything is built, made or recorded.
		p, err := r.load(ctx, choice.Profile, listen, release)
		if err != nil {
			return Prepared{}, err
		}
		if err := r.checkPorts(ctx, p); err != nil {
			return Prepared{}, err
		}
	}
	if choice.Profile == catalog.ProfileDebian {
		if err := r.ensureBases(ctx, o, release); err != nil {
			return Prepared{}, err
		}
	}
	if err := r.State.EnsureSecrets(st); err != nil {
		return Prepared{}, err
	}
	base, err := r.load(ctx, choice.Profile, listen, release)
	if err != nil {
		return Prepared{}, err
	}
	if err := stampBuilds(base); err != nil {
		return Prepared{}, err
	}
	if err := r.adopt(ctx, &rec, first); err != nil {
		return Prepared{}, err
	}
	if rec.Profile == "" {
		rec.FirstUpAt = time.Now().UTC()
	}
	rec.Profile, rec.Listen = choice.Profile, listen
	if err := r.State.Save(st.Name, rec); err != nil {
		return Prepared{}, fmt.Errorf("recording the profile of %s: %w", st.Name, err)
	}
	gen := activeGen(rec)
	p, err := generation(st, base, gen, rec.SlotOf(gen), rec.FrontSlot)
	if err != nil {
		return Prepared{}, err
	}
	return Prepared{Stack: st, Choice: choice, State: rec, Project: p, Gen: gen, Slot: rec.SlotOf(gen), Release: release, base: base}, nil
}

// Rebuild names the debian bases built again though their recipe has not
// changed: every one (--rebuild-bases), or those Debian has published fixes
// for since they were built (update).
type Rebuild struct {
	All bool
	// Bases maps a base's name to why it is rebuilt.
	Bases map[string]string
}

// Of says whether base is rebuilt, and why.
func (rb Rebuild) Of(base string) (why string, ok bool) {
	if rb.All {
		return "--rebuild-bases", true
	}
	why, ok = rb.Bases[base]
	return why, ok
}

// ensureBases builds the debian bases of st on release that are missing or
// stale, and those o rebuilds.
func (r Runner) ensureBases(ctx context.Context, o UpOptions, release string) error {
	st := r.Stack
	rel, err := catalog.LookupRelease(release)
	if err != nil {
		return err
	}
	for _, b := range st.BasesFor(rel) {
		_, force := o.RebuildBases.Of(b.Name)
		bb := basebuild.Builder{Engine: r.Engine, Mirror: o.Mirror, Force: force, Report: r.Report}
		if _, err := bb.Ensure(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// onRelease is prep made for generation gen on release instead: its project
// (without the front, its application in slot) loaded with that release's
// images, its bases built. prep itself is left as it was.
func (r Runner) onRelease(ctx context.Context, prep Prepared, o UpOptions, gen, slot int, release string) (Prepared, error) {
	out := prep
	if release != prep.Release {
		if prep.Choice.Profile == catalog.ProfileDebian {
			if err := r.ensureBases(ctx, o, release); err != nil {
				return Prepared{}, err
			}
		}
		base, err := r.load(ctx, prep.Choice.Profile, prep.State.Listen, release)
		if err != nil {
			return Prepared{}, err
		}
		out.base, out.Release = base, release
	}
	p, err := generation(prep.Stack, out.base, gen, slot, catalog.NoFront)
	if err != nil {
		return Prepared{}, err
	}
	out.Project, out.Gen, out.Slot = p, gen, slot
	return out, nil
}

// adopt records generation 1 of a stack with generations but no active one:
// found (a stack started before generations existed, or whose state was lost)
// when its volumes exist, else, with first, as made by this first start.
func (r Runner) adopt(ctx context.Context, rec *state.State, first bool) error {
	st := r.Stack
	if st.Generations == nil || rec.Active != 0 {
		return nil
	}
	found := rec.Profile != ""
	for _, v := range st.Generations.Volumes {
		if found {
			break
		}
		var err error
		if found, err = r.Engine.VolumeExists(ctx, catalog.VolumeName(st.ComposeProject(), v, 1)); err != nil {
			return err
		}
	}
	switch {
	case found:
		rec.PutGen(state.Generation{N: 1, Made: state.MadeFound, At: cmp.Or(rec.FirstUpAt, time.Now().UTC()), Ready: true})
	case first:
		rec.PutGen(state.Generation{N: 1, Made: state.MadeFirstStart, At: time.Now().UTC()})
	default:
		return nil
	}
	rec.Active = 1
	return nil
}

// configure writes the site's application settings into the stack's database
// (every time: the settings file is the operator's word), then runs the
// stack's first start on data that does not carry its mark, and marks the
// data: whether a stack is configured is a fact of its database,
// never a record that could outlive the volumes (removed behind stackctl's
// back, the next start must not leave Redmine's default admin login open). Data
// a seed brought gets it too: the first start leaves data set up before alone,
// and a backup of a stack that never had it must not restore an open login.
func (r Runner) configure(ctx context.Context, gen int) error {
	st := r.Stack
	if err := r.applySettings(ctx, gen); err != nil {
		return err
	}
	if st.FirstStart == nil {
		return nil
	}
	done, err := r.configured(ctx, gen)
	if err != nil || done {
		return err
	}
	if err := r.firstStart(ctx, gen, st.FirstStart); err != nil {
		return err
	}
	return r.markConfigured(ctx, gen)
}

// seed lets s fill the created generation prep: its database starts alone (a
// fresh PostgreSQL initialises an empty database for the seed), then s fills it.
func (r Runner) seed(ctx context.Context, prep Prepared, s Seed, timeout time.Duration) error {
	defer s.End()
	if err := s.Begin(ctx, prep); err != nil {
		return err
	}
	if d := prep.Stack.Database; d != nil {
		p, err := prep.Project.WithSelectedServices([]string{prep.Service(d.Service)})
		if err != nil {
			return fmt.Errorf("starting %s: %w", prep.Stack.Name, err)
		}
		if err := r.start(ctx, prep.Stack.Name, p, true, timeout); err != nil {
			return err
		}
	}
	return s.Fill(ctx, prep)
}

// start starts every service of p, a project of stack name (the SDK starts all
// it is given), waiting until they are healthy when wait is set. A container
// that crashes meanwhile (its restart policy restarts it) fails the wait at
// once: the SDK's wait can miss the moment it is down and wait on until the
// timeout, with a tracker closed for maintenance the while.
//
// The SDK's wait ends without an error when its context is cancelled, as it is
// once a crash is seen or the caller gives up: then that is the error, never a
// nil from Start, which would pass a container that was never healthy.
func (r Runner) start(ctx context.Context, name string, p *types.Project, wait bool, timeout time.Duration) error {
	if !wait {
		if err := r.Compose.Start(ctx, p.Name, api.StartOptions{Project: p}); err != nil {
			return r.portError(ctx, p, fmt.Errorf("starting %s: %w", name, err))
		}
		return nil
	}
	wctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	watched := make(chan struct{})
	var crash error
	go func() {
		defer close(watched)
		if crash = r.watchCrashes(wctx, p); crash != nil {
			stop(crash)
		}
	}()
	err := r.Compose.Start(wctx, p.Name, api.StartOptions{Project: p, Wait: true, WaitTimeout: timeout})
	stop(nil)
	<-watched
	if crash != nil {
		err = crash
	} else if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return r.portError(ctx, p, fmt.Errorf("starting %s: %w", name, err))
	}
	return nil
}

// crashPoll is how often start looks for crashed containers.
const crashPoll = time.Second

// watchCrashes returns an error naming the first container of p's services
// that the engine restarts after it exited, or nil once ctx is done.
func (r Runner) watchCrashes(ctx context.Context, p *types.Project) error {
	seen := map[string]int{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(crashPoll):
		}
		cs, err := r.Compose.Ps(ctx, p.Name, api.PsOptions{All: true})
		if err != nil {
			continue // the wait itself reports an engine that stops answering
		}
		for _, c := range cs {
			if _, ok := p.Services[c.Service]; !ok {
				continue
			}
			n, code, err := r.Engine.ContainerRestarts(ctx, c.ID)
			if err != nil {
				continue
			}
			before, known := seen[c.ID]
			seen[c.ID] = n
			if known && n > before {
				return fmt.Errorf("%s exited with code %d and was restarted: it fails as it starts", c.Service, code)
			}
		}
	}
}

// firstStart runs the stack's first-start command in its service's container,
// with the named secret on standard input.
func (r Runner) firstStart(ctx context.Context, gen int, fs *catalog.FirstStart) error {
	st := r.Stack
	id, err := r.GenContainer(ctx, fs.Service, gen)
	if err != nil {
		return err
	}
	o := engine.ExecOptions{}
	if fs.StdinSecret != "" {
		v, err := r.State.ReadSecret(st.Name, fs.StdinSecret)
		if err != nil {
			return err
		}
		o.Stdin = strings.NewReader(v + "\n")
	}
	r.logf("stack %s: generation %d: first start: %s", st.Name, gen, fs.Says)
	if err := r.Engine.Exec(ctx, id, fs.Command, o); err != nil {
		return fmt.Errorf("first start of %s: %w", st.Name, err)
	}
	return nil
}
