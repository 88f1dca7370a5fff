package stack

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
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

// pointFront points st's front at generation gen, when it does not already
// point there (or always, with force): the upstream file, then a graceful
// reload. An error means nginx was not reloaded onto gen. It then waits until
// the workers that served the previous choice are gone; that wait is never an
// error (the reload happened), and is cut short by nothing but its limit.
func (r Runner) pointFront(ctx context.Context, st catalog.Stack, gen int, force bool) error {
	g := st.Generations
	id, err := r.GenContainer(ctx, st, g.Front, gen)
	if err != nil {
		return err
	}
	if !force {
		// Written and pointing there: nothing to do (a default that happens to
		// be right is written all the same, so that a restart keeps it).
		if text, err := r.readUpstream(ctx, st, id); err == nil && text == g.Upstream(gen) {
			return nil
		}
	}
	r.logf("stack %s: pointing %s at generation %d", st.Name, g.Front, gen)
	var old strings.Builder
	cmd := []string{"sh", "-c", pointFrontScript, "point-front", g.UpstreamDir, g.UpstreamFile}
	if err := r.Engine.Exec(ctx, id, cmd, engine.ExecOptions{Stdin: strings.NewReader(g.Upstream(gen)), Stdout: &old}); err != nil {
		return fmt.Errorf("pointing %s of stack %s at generation %d: %w", g.Front, st.Name, gen, err)
	}
	drain := append([]string{"sh", "-c", drainScript, "drain", strconv.Itoa(int(drainLimit / (100 * time.Millisecond)))}, strings.Fields(old.String())...)
	if err := r.Engine.Exec(context.WithoutCancel(ctx), id, drain, engine.ExecOptions{}); err != nil {
		r.logf("stack %s: waiting for nginx's old workers to finish: %v", st.Name, err)
	}
	return nil
}

var upstreamGen = regexp.MustCompile(`http://[a-z0-9-]+?(?:-g([0-9]+))?:[0-9]+;`)

// frontGen says which generation st's running front points at: the upstream
// file's, or generation 1 (the site's default) when there is none.
func (r Runner) frontGen(ctx context.Context, st catalog.Stack) (int, error) {
	id, err := r.GenContainer(ctx, st, st.Generations.Front, 1)
	if err != nil {
		return 0, err
	}
	text, err := r.readUpstream(ctx, st, id)
	if errors.Is(err, errNoUpstream) {
		return 1, nil
	}
	if err != nil {
		return 0, err
	}
	m := upstreamGen.FindStringSubmatch(text)
	if m == nil {
		return 0, fmt.Errorf("the upstream file of stack %s's %s names no generation: %q", st.Name, st.Generations.Front, text)
	}
	if m[1] == "" {
		return 1, nil
	}
	return strconv.Atoi(m[1])
}

var errNoUpstream = errors.New("no upstream file")

// readUpstream returns the upstream file of st's front, running as container
// front; errNoUpstream when it has none (the file is never empty).
func (r Runner) readUpstream(ctx context.Context, st catalog.Stack, front string) (string, error) {
	g := st.Generations
	var out strings.Builder
	cmd := []string{"sh", "-c", `cat "$1" 2>/dev/null || true`, "read-upstream", path.Join(g.UpstreamDir, g.UpstreamFile)}
	if err := r.Engine.Exec(ctx, front, cmd, engine.ExecOptions{Stdout: &out}); err != nil {
		return "", fmt.Errorf("reading the upstream of stack %s's %s: %w", st.Name, g.Front, err)
	}
	if out.Len() == 0 {
		return "", errNoUpstream
	}
	return out.String(), nil
}

// smoke checks generation gen of st before the front is pointed at it, through
// a private path (from the front's container, on the stack's network, to the
// generation's own application): its login page, and one API read of its data
// (or the login its settings require for one).
func (r Runner) smoke(ctx context.Context, st catalog.Stack, gen int) error {
	g := st.Generations
	front, err := r.GenContainer(ctx, st, g.Front, gen)
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://%s:%d", catalog.ServiceName(g.App, gen), g.AppPort)
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

// switchTo makes generation to, started and healthy beside the active
// generation from, the one st serves: a smoke check, then the switch recorded,
// the front pointed at to, to recorded active, and from's containers removed.
// pointed says whether the front was pointed: before that, from serves as it
// did and to is the caller's to remove.
func (r Runner) switchTo(ctx context.Context, st catalog.Stack, from, to int, why string) (pointed bool, err error) {
	if err := r.smoke(ctx, st, to); err != nil {
		return false, err
	}
	sw := &state.Switch{From: from, To: to, Why: why, At: time.Now().UTC()}
	if err := r.update(st, func(rec *state.State) error { rec.Switch = sw; return nil }); err != nil {
		return false, err
	}
	// From here on an interrupt does not cut the switch short: it is seconds
	// long, and a half switch would need the next command to sort it out.
	ctx = context.WithoutCancel(ctx)
	r.logf("stack %s: switching from generation %d to %d (%s)", st.Name, from, to, why)
	if err := r.pointFront(ctx, st, to, true); err != nil {
		// Back to from, whatever the reload did: from still runs.
		if uerr := r.pointFront(ctx, st, from, true); uerr != nil {
			return true, fmt.Errorf("%w; pointing it back at generation %d failed too (%v): the next stackctl command on %s retries", err, from, uerr, st.Name)
		}
		if uerr := r.update(st, func(rec *state.State) error { rec.Switch = nil; return nil }); uerr != nil {
			return true, errors.Join(err, uerr)
		}
		return false, err
	}
	if err := r.activate(st, to, why); err != nil {
		return true, err
	}
	if err := r.removeGenContainers(ctx, st, from); err != nil {
		return true, fmt.Errorf("stack %s serves generation %d, but removing generation %d's containers failed: %w", st.Name, to, from, err)
	}
	return true, nil
}

// activate records generation to as the active one, for why (a restore, a
// rollback), the switch to it done.
func (r Runner) activate(st catalog.Stack, to int, why string) error {
	return r.update(st, func(rec *state.State) error {
		g, ok := rec.Gen(to)
		if !ok {
			return fmt.Errorf("stack %s has no record of generation %d", st.Name, to)
		}
		g.ActivatedAt, g.ActivatedBy = time.Now().UTC(), why
		rec.PutGen(g)
		// The generation left has served: whole, whatever its start-up left recorded.
		if prev, ok := rec.Gen(rec.Active); ok && prev.N != to {
			prev.Ready = true
			rec.PutGen(prev)
		}
		rec.Active, rec.Switch = to, nil
		return nil
	})
}

// update changes st's recorded state with fn and saves it.
func (r Runner) update(st catalog.Stack, fn func(*state.State) error) error {
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return err
	}
	if err := fn(&rec); err != nil {
		return err
	}
	if err := r.State.Save(st.Name, rec); err != nil {
		return fmt.Errorf("recording the state of %s: %w", st.Name, err)
	}
	return nil
}

// removeGenContainers stops and removes the containers of generation gen of st
// (its volumes stay).
func (r Runner) removeGenContainers(ctx context.Context, st catalog.Stack, gen int) error {
	p, err := r.recordedAs(ctx, st, gen, false)
	if err != nil {
		return err
	}
	cs, err := r.Compose.Ps(ctx, p.Name, api.PsOptions{All: true})
	if err != nil {
		return fmt.Errorf("listing %s: %w", st.Name, err)
	}
	var names []string
	for _, c := range cs {
		if _, ok := p.Services[c.Service]; ok {
			names = append(names, c.Service)
		}
	}
	if len(names) == 0 {
		return nil
	}
	r.logf("stack %s: removing generation %d's containers (%s); its volumes stay", st.Name, gen, strings.Join(names, ", "))
	if err := r.Compose.Remove(ctx, p.Name, api.RemoveOptions{Project: p, Services: names, Stop: true, Force: true}); err != nil {
		return fmt.Errorf("removing generation %d of %s: %w", gen, st.Name, err)
	}
	return nil
}
