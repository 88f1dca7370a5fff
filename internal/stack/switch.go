package stack

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// pointFrontScript replaces the front's upstream file ($1/$2) with standard
// input and has nginx check and reload its configuration: new workers take new
// requests, old ones finish those they hold. It prints the old workers' PIDs
// first, for drainScript. "proces[s]" keeps the script from finding itself.
const pointFrontScript = `set -eu
dir=$1 file=$2
grep -l 'nginx: worker proces[s]' /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true
[ -e "$dir/$file" ] && cp "$dir/$file" "$dir/.$file.old"
cat >"$dir/.$file.new"
mv -f "$dir/.$file.new" "$dir/$file"
if ! nginx -t -q -e stderr; then
	if [ -e "$dir/.$file.old" ]; then mv -f "$dir/.$file.old" "$dir/$file"; else rm -f "$dir/$file"; fi
	exit 1
fi
rm -f "$dir/.$file.old"
nginx -s reload -e stderr
`

// drainScript waits, at most $1 tenths of a second, until the processes whose
// PIDs follow are gone: nginx's old workers, done with the requests they held.
// Only then may the generation they proxied to stop.
const drainScript = `limit=$1; shift; i=0
for p; do while [ -e "/proc/$p" ] && [ "$i" -lt "$limit" ]; do sleep 0.1; i=$((i + 1)); done; done
`

// drainLimit bounds the wait for nginx's old workers: a download or upload
// that outlasts it is cut when the old generation stops.
const drainLimit = 60 * time.Second

// pointFront points st's front at generation gen's application in slot,
// when it does not already point there (or always, with force): the upstream
// file, then a graceful reload. An error means nginx was not reloaded onto it.
// It then waits until the workers that served the previous choice are gone;
// that wait is never an error (the reload happened), and is cut short by
// nothing but its limit.
func (r Runner) pointFront(ctx context.Context, gen, slot int, force bool) error {
	st := r.Stack
	g := st.Generations
	id, err := r.GenContainer(ctx, g.Front, gen)
	if err != nil {
		return err
	}
	if !force {
		// Written and pointing there: nothing to do (a default that happens to
		// be right is written all the same, so that a restart keeps it).
		if text, err := r.readUpstream(ctx, id); err == nil && text == g.Upstream(gen, slot) {
			return nil
		}
	}
	r.logf("stack %s: pointing %s at %s (generation %d)", st.Name, g.Front, g.AppService(gen, slot), gen)
	old, err := r.writeFront(ctx, id, g.UpstreamDir, g.UpstreamFile, g.Upstream(gen, slot))
	if err != nil {
		return fmt.Errorf("pointing %s of stack %s at generation %d: %w", g.Front, st.Name, gen, err)
	}
	r.drain(ctx, id, old)
	return nil
}

// drain waits until the front's workers (PIDs old, in container front) are
// gone, done with the requests they held, at most drainLimit. It is never an
// error: the reload that retired them happened.
func (r Runner) drain(ctx context.Context, front string, old []string) {
	st := r.Stack
	cmd := append([]string{"sh", "-c", drainScript, "drain", strconv.Itoa(int(drainLimit / (100 * time.Millisecond)))}, old...)
	if err := r.Engine.Exec(context.WithoutCancel(ctx), front, cmd, engine.ExecOptions{}); err != nil {
		r.logf("stack %s: waiting for nginx's old workers to finish: %v", st.Name, err)
	}
}

// writeFront replaces file in dir in the front's container front with text,
// and has nginx check and reload its configuration; it returns the PIDs of
// the workers that ran before the reload. A configuration nginx refuses is
// put back as it was.
func (r Runner) writeFront(ctx context.Context, front, dir, file, text string) (oldWorkers []string, err error) {
	var old strings.Builder
	cmd := []string{"sh", "-c", pointFrontScript, "point-front", dir, file}
	if err := r.Engine.Exec(ctx, front, cmd, engine.ExecOptions{Stdin: strings.NewReader(text), Stdout: &old}); err != nil {
		return nil, err
	}
	return strings.Fields(old.String()), nil
}

// Maintenance closes st's front for maintenance (on), so that every route but
// its health check answers our maintenance page with HTTP 503, except
// requests that carry pass in catalog.MaintenanceHeader; or opens it again.
// It returns once nginx's workers from before have finished their requests
// and gone, so that every request after it sees the change.
func (r Runner) Maintenance(ctx context.Context, on bool, pass string) error {
	st := r.Stack
	g := st.Generations
	if g == nil || g.MaintenanceFile == "" {
		return fmt.Errorf("%w: stack %s has no front to close for maintenance", errs.ErrInvalidInput, st.Name)
	}
	id, err := r.GenContainer(ctx, g.Front, 1)
	if err != nil {
		return err
	}
	text, what := "", "opening stack %s again: maintenance is over"
	if on {
		if pass == "" {
			return fmt.Errorf("closing stack %s for maintenance: no pass for stackctl's own checks", st.Name)
		}
		text, what = g.Maintenance(pass), "closing stack %s for maintenance: nginx answers 503 and our page"
	}
	r.logf(what, st.Name)
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return err
	}
	// Closed, no mail goes into the data either: whatever closes it may copy
	// the data, or leave it.
	if on {
		if err := r.pauseMailIn(ctx, activeGen(rec)); err != nil {
			return err
		}
	}
	old, err := r.writeFront(ctx, id, g.UpstreamDir, g.MaintenanceFile, text)
	if err != nil {
		return fmt.Errorf("%s: %w", fmt.Sprintf(what, st.Name), err)
	}
	// Closing: the writes under way finish before whatever the maintenance is
	// for begins. Opening: nginx's reload is asynchronous, and its old workers
	// would answer a few more requests with the maintenance page after this
	// returned (bench/upgrade.sh's probe caught one).
	r.drain(ctx, id, old)
	if !on {
		if err := r.pointMailIn(ctx, activeGen(rec), rec.SlotOf(activeGen(rec))); err != nil {
			r.logf("stack %s: %v: mail is not polled until 'stackctl up %s'", st.Name, err, st.Name)
		}
	}
	return nil
}

// InMaintenance says whether st's front is closed for maintenance.
func (r Runner) InMaintenance(ctx context.Context) (bool, error) {
	st := r.Stack
	g := st.Generations
	if g == nil || g.MaintenanceFile == "" {
		return false, nil
	}
	id, err := r.GenContainer(ctx, g.Front, 1)
	if err != nil {
		return false, err
	}
	text, err := r.readFront(ctx, id, g.UpstreamDir, g.MaintenanceFile)
	if err != nil {
		return false, fmt.Errorf("reading whether stack %s is in maintenance: %w", st.Name, err)
	}
	return strings.TrimSpace(text) != "", nil
}

// frontGen says which generation, and slot of its application, st's running
// front points at: the upstream file's, or generation 1's first slot (the
// site's default) when there is none.
func (r Runner) frontGen(ctx context.Context) (gen, slot int, err error) {
	st := r.Stack
	id, err := r.GenContainer(ctx, st.Generations.Front, 1)
	if err != nil {
		return 0, 0, err
	}
	text, err := r.readUpstream(ctx, id)
	if errors.Is(err, errNoUpstream) {
		return 1, catalog.SlotA, nil
	}
	if err != nil {
		return 0, 0, err
	}
	if gen, slot, err = st.Generations.ParseUpstream(text); err != nil {
		return 0, 0, fmt.Errorf("stack %s's %s: %w", st.Name, st.Generations.Front, err)
	}
	return gen, slot, nil
}

var errNoUpstream = errors.New("no upstream file")

// readUpstream returns the upstream file of st's front, running as container
// front; errNoUpstream when it has none (the file is never empty).
func (r Runner) readUpstream(ctx context.Context, front string) (string, error) {
	st := r.Stack
	g := st.Generations
	text, err := r.readFront(ctx, front, g.UpstreamDir, g.UpstreamFile)
	if err != nil {
		return "", fmt.Errorf("reading the upstream of stack %s's %s: %w", st.Name, g.Front, err)
	}
	if text == "" {
		return "", errNoUpstream
	}
	return text, nil
}

// readFront returns file in dir in the front's container front (its upstream
// file, its maintenance file): "" when there is none.
func (r Runner) readFront(ctx context.Context, front, dir, file string) (string, error) {
	var out strings.Builder
	cmd := []string{"sh", "-c", `cat "$1" 2>/dev/null || true`, "read-front", path.Join(dir, file)}
	err := r.Engine.Exec(ctx, front, cmd, engine.ExecOptions{Stdout: &out})
	return out.String(), err
}

// smoke checks generation gen of st, its application in slot, before the
// front is pointed at it, through a private path (from the front's container,
// on the stack's network, to that application): its login page, and one API
// read of its data (or the login its settings require for one).
func (r Runner) smoke(ctx context.Context, gen, slot int) error {
	st := r.Stack
	g := st.Generations
	front, err := r.GenContainer(ctx, g.Front, gen)
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://%s:%d", g.AppService(gen, slot), g.AppPort)
	get := func(path string) (string, error) {
		var out strings.Builder
		err := r.Engine.Exec(ctx, front, []string{"wget", "-q", "-T", "30", "-O", "-", base + path}, engine.ExecOptions{Stdout: &out})
		return out.String(), err
	}
	page, err := get("/login")
	if err != nil || !strings.Contains(page, `name="username"`) {
		return fmt.Errorf("generation %d of stack %s failed its smoke check: %s/login: %v: see 'stackctl logs %s'", gen, st.Name, base, cmpErr(err, "no login form"), st.Name)
	}
	data, err := get("/projects.json?limit=1")
	if err == nil && strings.Contains(data, `"projects"`) {
		return nil
	}
	if err != nil && strings.Contains(err.Error(), " 401") {
		return nil // the data asks for a login (Authentication required): it answered
	}
	return fmt.Errorf("generation %d of stack %s failed its smoke check: %s/projects.json: %v: see 'stackctl logs %s'", gen, st.Name, base, cmpErr(err, "no projects in the answer"), st.Name)
}

func cmpErr(err error, otherwise string) any {
	if err != nil {
		return err
	}
	return otherwise
}

// switchTo makes what sw names (generation sw.To, its application in
// sw.ToSlot), started and healthy beside what serves (sw.From in sw.FromSlot),
// the one st serves: a smoke check, then the switch recorded, the front
// pointed over, sw.To recorded active in its slot, and what served before
// removed: generation sw.From's containers, or for a change of slot only the
// application's other container. pointed says whether the front was pointed:
// before that, sw.From serves as it did and sw.To is the caller's to remove.
func (r Runner) switchTo(ctx context.Context, sw state.Switch) (pointed bool, err error) {
	st := r.Stack
	if err := r.smoke(ctx, sw.To, sw.ToSlot); err != nil {
		return false, err
	}
	sw.At = time.Now().UTC()
	if err := r.update(func(rec *state.State) error { rec.Switch = &sw; return nil }); err != nil {
		return false, err
	}
	// From here on an interrupt does not cut the switch short: it is seconds
	// long, and a half switch would need the next command to sort it out.
	ctx = context.WithoutCancel(ctx)
	r.logf("stack %s: switching %s", st.Name, describeSwitch(st, sw))
	// Other data: no mail goes into the data being left from here on.
	if !sw.SameData() {
		if err := r.pauseMailIn(ctx, sw.From); err != nil {
			if uerr := r.update(func(rec *state.State) error { rec.Switch = nil; return nil }); uerr != nil {
				return false, errors.Join(err, uerr)
			}
			return false, err
		}
	}
	if err := r.pointFront(ctx, sw.To, sw.ToSlot, true); err != nil {
		// Back to what served, whatever the reload did: it still runs.
		if uerr := r.pointFront(ctx, sw.From, sw.FromSlot, true); uerr != nil {
			return true, fmt.Errorf("%w; pointing it back at generation %d failed too (%v): the next stackctl command on %s retries", err, sw.From, uerr, st.Name)
		}
		if !sw.SameData() {
			if perr := r.pointMailIn(ctx, sw.From, sw.FromSlot); perr != nil {
				r.logf("stack %s: %v: mail is not polled until 'stackctl up %s'", st.Name, perr, st.Name)
			}
		}
		if uerr := r.update(func(rec *state.State) error { rec.Switch = nil; return nil }); uerr != nil {
			return true, errors.Join(err, uerr)
		}
		return false, err
	}
	return true, r.finishSwitch(ctx, sw)
}

// finishSwitch records what sw switched to as active, and removes what
// served before, once the front serves sw.To.
func (r Runner) finishSwitch(ctx context.Context, sw state.Switch) error {
	st := r.Stack
	if err := r.activate(sw); err != nil {
		return err
	}
	// Closed for maintenance (an upgrade, checked after the switch), mail
	// waits: opening points it, at whichever generation then serves.
	if closed, err := r.InMaintenance(ctx); err == nil && !closed {
		if err := r.pointMailIn(ctx, sw.To, sw.ToSlot); err != nil {
			// Serving is done; mail waits for the next up, which points it.
			r.logf("stack %s: %v: mail is not polled until 'stackctl up %s'", st.Name, err, st.Name)
		}
	}
	if sw.SameData() {
		return r.removeApp(ctx, sw.From, sw.FromSlot)
	}
	if err := r.removeGenContainers(ctx, sw.From); err != nil {
		return fmt.Errorf("stack %s serves generation %d, but removing generation %d's containers failed: %w", st.Name, sw.To, sw.From, err)
	}
	return nil
}

// describeSwitch says what sw changes, for people.
func describeSwitch(st catalog.Stack, sw state.Switch) string {
	g := st.Generations
	if sw.SameData() {
		return fmt.Sprintf("generation %d from %s to %s (%s)", sw.To, g.AppService(sw.From, sw.FromSlot), g.AppService(sw.To, sw.ToSlot), sw.Why)
	}
	return fmt.Sprintf("from generation %d to %d (%s)", sw.From, sw.To, sw.Why)
}

// activate records what sw switched to as active: generation sw.To, its
// application in sw.ToSlot. A change of generation also records when and why
// (a restore, a rollback) it became active.
func (r Runner) activate(sw state.Switch) error {
	st := r.Stack
	return r.update(func(rec *state.State) error {
		g, ok := rec.Gen(sw.To)
		if !ok {
			return fmt.Errorf("stack %s has no record of generation %d", st.Name, sw.To)
		}
		g.Slot = sw.ToSlot
		if !sw.SameData() {
			g.ActivatedAt, g.ActivatedBy = time.Now().UTC(), sw.Why
		}
		rec.PutGen(g)
		// The generation left has served: whole, whatever its start-up left recorded.
		if prev, ok := rec.Gen(rec.Active); ok && prev.N != sw.To {
			prev.Ready = true
			rec.PutGen(prev)
		}
		if rec.Active != 0 && rec.Active != sw.To {
			rec.Previous = rec.Active
		}
		rec.Active, rec.Switch = sw.To, nil
		return nil
	})
}

// update changes st's recorded state with fn and saves it.
func (r Runner) update(fn func(*state.State) error) error {
	st := r.Stack
	return r.State.Update(st.Name, fn)
}

// removeGenContainers stops and removes the containers of generation gen of
// st, its application in either slot (its volumes stay).
func (r Runner) removeGenContainers(ctx context.Context, gen int) error {
	st := r.Stack
	return r.removeContainers(ctx, gen, func(svc string) bool {
		g, _, ok := st.Generations.Owner(svc)
		return ok && g == gen
	})
}

// removeApp stops and removes the container of generation gen's application in slot.
func (r Runner) removeApp(ctx context.Context, gen, slot int) error {
	st := r.Stack
	name := st.Generations.AppService(gen, slot)
	return r.removeContainers(ctx, gen, func(svc string) bool { return svc == name })
}

// removeContainers stops and removes the containers of st's services that
// which picks, all of generation gen.
func (r Runner) removeContainers(ctx context.Context, gen int, which func(service string) bool) error {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return err
	}
	base, err := r.load(ctx, profileOr(rec.Profile), rec.Listen, rec.ReleaseOf(gen))
	if err != nil {
		return err
	}
	// Both slots: the SDK stops only services its project has.
	p, err := generation(st, base, gen, catalog.SlotA, catalog.NoFront)
	if err != nil {
		return err
	}
	b, err := generation(st, base, gen, catalog.SlotB, catalog.NoFront)
	if err != nil {
		return err
	}
	maps.Copy(p.Services, b.Services)
	cs, err := r.Compose.Ps(ctx, p.Name, api.PsOptions{All: true})
	if err != nil {
		return fmt.Errorf("listing %s: %w", st.Name, err)
	}
	var names []string
	for _, c := range cs {
		if which(c.Service) && !slices.Contains(names, c.Service) {
			names = append(names, c.Service)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	r.logf("stack %s: removing generation %d's containers (%s); its volumes stay", st.Name, gen, strings.Join(names, ", "))
	if err := r.Compose.Remove(ctx, p.Name, api.RemoveOptions{Project: p, Services: names, Stop: true, Force: true}); err != nil {
		return fmt.Errorf("removing generation %d of %s: %w", gen, st.Name, err)
	}
	return nil
}
