package stack

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/state"
)

// observation is what up's plan is computed from: the state, the stack's
// containers as they run, the images and bases, and the site's wishes. It is
// read, never changed, by planUp.
type observation struct {
	Stack  catalog.Stack
	Where  string
	Choice Choice
	// Gen, Slot and FrontSlot are the active generation, its application's
	// slot and the front's, as they stand.
	Gen, Slot, FrontSlot int
	// Made is how the active generation came to be ("" when none is
	// recorded); Ready says it passed its checks and served.
	Made  string
	Ready bool
	// Serving says the front runs: somebody may be using the tracker.
	Serving bool
	NoWait  bool
	// Bases are the debian bases up would build, with why.
	Bases []change
	// Images are the images up would build anew, with why (built from
	// cache otherwise: the same image).
	Images []change
	// Services are the project's services as up would have them, by name.
	Services []serviceState
	// Leftovers are what a stopped stackctl left, which up first finishes or
	// undoes (Recover).
	Leftovers []Step
	// HTTPS is the site's tls mode ("off" for none), and ServedHTTPS whether
	// nginx serves HTTPS now.
	HTTPS       string
	ServedHTTPS bool
}

// change is one thing to make, with why.
type change struct{ Name, Why string }

// serviceState is one service of the project against its container.
type serviceState struct {
	Name string
	// Role is what it is to the stack: app, front, edge, database or "".
	Role string
	// Exists: a container of it exists; Runs: it runs, healthy if the
	// model checks its health.
	Exists, Runs bool
	// What of it differs from its container ("image", "settings").
	What []string
}

// observe reads what up's plan needs of prep, after prepare. With built set,
// the images are the ones the build just made; else a build is foreseen from
// the images' ContextLabel (a dry run builds nothing).
func (r Runner) observe(ctx context.Context, prep Prepared, built bool, bases []change) (observation, error) {
	st := prep.Stack
	obs := observation{Stack: st, Where: OnEngine, Choice: prep.Choice, Gen: prep.Gen, Slot: prep.Slot, FrontSlot: prep.State.FrontSlot}
	if g, ok := prep.State.Gen(prep.Gen); ok {
		obs.Made, obs.Ready = g.Made, g.Ready
	}
	cs, err := r.Compose.Ps(ctx, prep.Project.Name, api.PsOptions{All: true})
	if err != nil {
		return observation{}, fmt.Errorf("listing %s: %w", st.Name, err)
	}
	rebuilt := map[string]string{}
	if !built {
		if rebuilt, err = r.foreseeBuilds(ctx, prep.Project, bases); err != nil {
			return observation{}, err
		}
		for _, svc := range slices.Sorted(maps.Keys(rebuilt)) {
			obs.Images = append(obs.Images, change{Name: prep.Project.Services[svc].Image, Why: rebuilt[svc]})
		}
		obs.Images = slices.CompactFunc(obs.Images, func(a, b change) bool { return a.Name == b.Name })
		// A service that runs a base itself (the database, the edge) gets
		// another image when that base is built anew.
		for name, svc := range prep.Project.Services {
			if svc.Build == nil && slices.ContainsFunc(bases, func(b change) bool { return b.Name == svc.Image }) {
				rebuilt[name] = "runs " + svc.Image + ", which is built anew"
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(prep.Project.Services)) {
		s, err := r.serviceState(ctx, prep.Project, name, roleOf(st, name), cs, rebuilt[name] != "")
		if err != nil {
			return observation{}, err
		}
		obs.Services = append(obs.Services, s)
		if s.Role == "front" && s.Runs {
			obs.Serving = true
		}
	}
	obs.HTTPS = "off"
	if r.HTTPS.On() {
		obs.HTTPS = r.HTTPS.Mode
	}
	if g := st.Generations; g != nil && g.TLSDir != "" && obs.Serving {
		if front, err := r.GenContainer(ctx, g.Front, prep.Gen); err == nil {
			have, err := r.readFront(ctx, front, g.TLSDir, tlsStamp)
			if err != nil {
				return observation{}, fmt.Errorf("reading stack %s's HTTPS: %w", st.Name, err)
			}
			obs.ServedHTTPS = strings.TrimSpace(have) != ""
		}
	}
	return obs, nil
}

// roleOf names what service (as the project runs it) is to st.
func roleOf(st catalog.Stack, service string) string {
	g := st.Generations
	switch {
	case g == nil:
		return ""
	case service == g.Edge:
		return "edge"
	case strings.HasPrefix(service, g.Front) && (service == g.FrontService(0) || service == g.FrontService(1)):
		return "front"
	}
	if _, _, ok := g.Owner(service); ok {
		if strings.HasPrefix(service, g.App) {
			return "app"
		}
		if st.Database != nil && strings.HasPrefix(service, st.Database.Service) {
			return "database"
		}
	}
	return ""
}

// serviceState compares service, as p has it, with its container among cs:
// its image (another ID than its image has now, or one a build would make
// anew: rebuilt) and its settings (stackctl's ConfigLabel where the model
// puts one, else the Compose SDK's own hash, which decides a recreate).
func (r Runner) serviceState(ctx context.Context, p *types.Project, service, role string, cs []api.ContainerSummary, rebuilt bool) (serviceState, error) {
	want := p.Services[service]
	out := serviceState{Name: service, Role: role}
	for _, c := range cs {
		if c.Service != service {
			continue
		}
		out.Exists = true
		checked := want.HealthCheck != nil && !want.HealthCheck.Disable
		if c.State != "running" || (checked && c.Health != "healthy") {
			return out, nil
		}
		out.Runs = true
		img, found, err := r.Engine.Image(ctx, want.Image)
		if err != nil {
			return serviceState{}, err
		}
		running, err := r.Engine.ContainerImage(ctx, c.ID)
		if err != nil {
			return serviceState{}, err
		}
		if rebuilt || !found || img.ID != running {
			out.What = append(out.What, "image")
		}
		// The application and the front are handed over when stackctl's
		// label differs; what else differs is what Compose recreates.
		label, h := catalog.ConfigLabel, want.CustomLabels[catalog.ConfigLabel]
		if role != "app" && role != "front" {
			label = api.ConfigHashLabel
			if h, err = compose.ServiceHash(want); err != nil {
				return serviceState{}, fmt.Errorf("hashing %s of %s: %w", service, p.Name, err)
			}
		}
		if c.Labels[label] != h {
			out.What = append(out.What, "settings")
		}
		return out, nil
	}
	return out, nil
}

// foreseeBuilds says which of p's services a build would give another image,
// and why: its image is missing, was built from another context, or is built
// on one of bases, which are built first.
func (r Runner) foreseeBuilds(ctx context.Context, p *types.Project, bases []change) (map[string]string, error) {
	out := map[string]string{}
	for name, svc := range p.Services {
		if svc.Build == nil {
			continue
		}
		img, found, err := r.Engine.Image(ctx, svc.Image)
		switch {
		case err != nil:
			return nil, err
		case !found:
			out[name] = "not built yet"
		case img.Labels[catalog.ContextLabel] != svc.Build.Labels[catalog.ContextLabel]:
			out[name] = "what it is built from changed"
		default:
			if b, ok := builtOn(*svc.Build, bases); ok {
				out[name] = "built on " + b + ", which is built anew"
			}
		}
	}
	return out, nil
}

// builtOn finds which of bases a build starts from: its arguments name the
// base image (the Dockerfile's FROM ${..._BASE}).
func builtOn(b types.BuildConfig, bases []change) (string, bool) {
	for _, base := range bases {
		for _, v := range b.Args {
			if v != nil && *v == base.Name {
				return base.Name, true
			}
		}
	}
	return "", false
}

// foreseeBases lists the debian bases of st on release that up would build.
func (r Runner) foreseeBases(ctx context.Context, release string, rebuild Rebuild) ([]change, error) {
	st := r.Stack
	rel, err := catalog.LookupRelease(release)
	if err != nil {
		return nil, err
	}
	var out []change
	for _, b := range st.BasesFor(rel) {
		info, found, err := r.Engine.Image(ctx, b.DebianRef())
		why, again := rebuild.Of(b.Name)
		switch {
		case err != nil:
			return nil, err
		case again:
			out = append(out, change{b.DebianRef(), why})
		case !found:
			out = append(out, change{b.DebianRef(), "not built yet, from the Debian mirror with mmdebstrap"})
		case info.Labels[basebuild.LabelRecipe] != b.Recipe.Hash():
			out = append(out, change{b.DebianRef(), "built from another recipe"})
		}
	}
	return out, nil
}

// leftovers says what Recover would finish or undo of what a stopped
// stackctl left on st, without doing it.
func (r Runner) leftovers(ctx context.Context, rec state.State) ([]Step, error) {
	st := r.Stack
	g := st.Generations
	if g == nil {
		return nil, nil
	}
	var out []Step
	if sw := rec.Switch; sw != nil {
		out = append(out, Step{Action: "recover", Target: "the switch " + describeSwitch(st, *sw),
			Why: "a stopped stackctl left it: finished if nginx already serves its target, else undone"})
	}
	for _, gen := range rec.Generations {
		if !unfinished(rec, gen) {
			continue
		}
		out = append(out, Step{Action: "remove", Target: fmt.Sprintf("generation %d (%s)", gen.N, describe(gen)),
			Why: "a stopped stackctl never finished it"})
	}
	cs, err := r.Compose.Ps(ctx, st.ComposeProject(), api.PsOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", st.Name, err)
	}
	active := activeGen(rec)
	stray := g.AppService(active, 1-rec.SlotOf(active))
	front, strayFront := g.FrontService(rec.FrontSlot), g.FrontService(1-rec.FrontSlot)
	frontRuns := slices.ContainsFunc(cs, func(c api.ContainerSummary) bool { return c.Service == front && c.State == "running" })
	seen := map[string]bool{}
	for _, c := range cs {
		gen, _, ok := g.Owner(c.Service)
		var why string
		switch {
		case g.Edge != "" && c.Service == strayFront && frontRuns:
			why = fmt.Sprintf("left beside %s by a stopped stackctl: stopped gracefully", front)
		case c.Service == stray:
			why = "a hand-over a stopped stackctl left unfinished"
		case ok && gen != active:
			why = fmt.Sprintf("of generation %d, which does not serve (its volumes stay)", gen)
		default:
			continue
		}
		if !seen[c.Service] {
			seen[c.Service] = true
			out = append(out, Step{Action: "remove", Target: c.Service, Why: why})
		}
	}
	if rec.Upgrade != nil {
		out = append(out, Step{Action: "recover", Target: "the upgrade to " + rec.Upgrade.ToVersion,
			Why: fmt.Sprintf("stopped at its step %q: the tracker opens again", rec.Upgrade.Step)})
	}
	return out, nil
}

// PlanUp computes what Up would do now and changes nothing: no lock, no
// build, no record. What a stopped stackctl left comes first, as Up's
// recovery would find it; an address another process or container holds is
// refused as Up refuses it.
func (r Runner) PlanUp(ctx context.Context, o UpOptions) (Plan, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return Plan{}, err
	}
	choice, err := ChooseProfile(ctx, st, cmp.Or(o.Profile, catalog.ProfileAuto), rec.Profile, r.Engine)
	if err != nil {
		return Plan{}, err
	}
	release := rec.ReleaseOf(activeGen(rec))
	var bases []change
	if choice.Profile == catalog.ProfileDebian {
		if bases, err = r.foreseeBases(ctx, release, o.RebuildBases); err != nil {
			return Plan{}, err
		}
	}
	listen := cmp.Or(o.Listen, rec.Listen, catalog.DefaultListen)
	base, err := r.load(ctx, choice.Profile, listen, release)
	if err != nil {
		return Plan{}, err
	}
	if err := stampBuilds(base); err != nil {
		return Plan{}, err
	}
	after := rec
	after.Generations = slices.Clone(rec.Generations)
	if err := r.adopt(ctx, &after, true); err != nil {
		return Plan{}, err
	}
	gen := activeGen(after)
	p, err := generation(st, base, gen, after.SlotOf(gen), after.FrontSlot)
	if err != nil {
		return Plan{}, err
	}
	if err := r.checkPorts(ctx, p); err != nil {
		return Plan{}, err
	}
	prep := Prepared{Stack: st, Choice: choice, State: after, Project: p, Gen: gen, Slot: after.SlotOf(gen), Release: release, base: base}
	obs, err := r.observe(ctx, prep, false, bases)
	if err != nil {
		return Plan{}, err
	}
	obs.NoWait, obs.Bases = o.NoWait, bases
	if obs.Leftovers, err = r.leftovers(ctx, rec); err != nil {
		return Plan{}, err
	}
	return planUp(obs), nil
}
