package stack

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// changeApp hands the serving stack prep over to its application's changed
// image or settings (what, as the plan says; "": nothing to hand over)
// without an outage: the new container starts in the generation's other slot
// beside the one that serves, on the same data, becomes healthy and passes
// the smoke check; the front is pointed at it and its old workers finish
// their requests; then the old container is removed. It returns prep as it
// stands afterwards (its application in the new slot). A new container that
// fails leaves the old one serving: it is removed and the error carries the
// tail of its log.
func (r Runner) changeApp(ctx context.Context, prep Prepared, what string, timeout time.Duration) (Prepared, error) {
	if what == "" {
		return prep, nil
	}
	st, gen, slot := prep.Stack, prep.Gen, prep.Slot
	g := st.Generations
	next := 1 - slot
	from, to := g.AppService(gen, slot), g.AppService(gen, next)
	target, err := generation(st, prep.base, gen, next, catalog.NoFront)
	if err != nil {
		return prep, err
	}
	// The new container alone: the database it shares is the one that runs.
	if target, err = target.WithSelectedServices([]string{to}, types.IgnoreDependencies); err != nil {
		return prep, fmt.Errorf("starting %s of stack %s: %w", to, st.Name, err)
	}
	r.logf("stack %s: %s changed: starting %s beside %s, which keeps serving", st.Name, what, to, from)
	err = r.Compose.Create(ctx, target, api.CreateOptions{
		Services: []string{to}, IgnoreOrphans: true, Recreate: api.RecreateForce, RecreateDependencies: api.RecreateNever,
	})
	if err == nil {
		err = r.start(ctx, st.Name, target, true, timeout)
	}
	var pointed bool
	if err == nil {
		pointed, err = r.switchTo(ctx, state.Switch{From: gen, FromSlot: slot, To: gen, ToSlot: next, Why: what + " changed"})
	}
	if err != nil && !pointed {
		tail := r.logTail(context.WithoutCancel(ctx), to, 30)
		if rerr := r.removeApp(context.WithoutCancel(ctx), gen, next); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return prep, fmt.Errorf("%w: %s keeps serving; the last lines %s logged:\n%s", err, from, to, tail)
	}
	if err != nil {
		return prep, err
	}
	out := prep
	out.Slot = next
	if out.Project, err = generation(st, prep.base, gen, next, prep.State.FrontSlot); err != nil {
		return prep, err
	}
	if out.State, err = r.State.Load(st.Name); err != nil {
		return prep, err
	}
	return out, nil
}

// changeFront hands the serving front of prep over to its changed image or
// settings (what, as the plan says; "": nothing to hand over) without
// refusing a connection: the new nginx starts in the front's other slot, in
// the edge's network namespace, listening on the same port (SO_REUSEPORT)
// beside the one that serves; once it is healthy the old one is stopped
// gracefully (SIGQUIT: it stops accepting, the connections queued on its
// sockets move to the new one, and it finishes the requests it holds, for at
// most drainLimit), then removed. A new nginx that fails is removed, the old
// one serving on. It returns prep as it stands afterwards. The plan hands
// the front over only when the front and its edge run and the edge itself
// is unchanged; else the ordinary start-up recreates them.
func (r Runner) changeFront(ctx context.Context, prep Prepared, what string, timeout time.Duration) (Prepared, error) {
	if what == "" {
		return prep, nil
	}
	st := prep.Stack
	g := st.Generations
	cur := prep.State.FrontSlot
	from, to := g.FrontService(cur), g.FrontService(1-cur)
	next := 1 - cur
	target, err := generation(st, prep.base, prep.Gen, prep.Slot, next)
	if err != nil {
		return prep, err
	}
	// The new front alone, in the edge that runs: the generation it serves runs too.
	if target, err = target.WithSelectedServices([]string{g.Edge, to}, types.IgnoreDependencies); err != nil {
		return prep, fmt.Errorf("starting %s of stack %s: %w", to, st.Name, err)
	}
	r.logf("stack %s: %s changed: starting %s beside %s, on the same port", st.Name, what, to, from)
	if _, ok := prep.Project.Services[g.Edge].Sysctls[catalog.MigrateReq.Sysctl]; !ok {
		r.logf("stack %s: the engine's kernel is older than Linux %d.%d: a connection that reaches %s's socket as it closes is reset",
			st.Name, catalog.MigrateReq.Major, catalog.MigrateReq.Minor, from)
	}
	err = r.Compose.Create(ctx, target, api.CreateOptions{
		Services: []string{to}, IgnoreOrphans: true, Recreate: api.RecreateForce, RecreateDependencies: api.RecreateNever,
	})
	if err == nil {
		err = r.start(ctx, st.Name, target, true, timeout)
	}
	if err == nil {
		// Recorded first: should stackctl stop now, the next command retires the old one (see removeStrays).
		err = r.update(func(rec *state.State) error { rec.FrontSlot = next; return nil })
	}
	if err != nil {
		tail := r.logTail(context.WithoutCancel(ctx), to, 30)
		if rerr := r.retireFront(context.WithoutCancel(ctx), next); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return prep, fmt.Errorf("%w: %s keeps serving; the last lines %s logged:\n%s", err, from, to, tail)
	}
	r.logf("stack %s: %s serves; %s finishes the requests it holds and goes", st.Name, to, from)
	if err := r.retireFront(context.WithoutCancel(ctx), cur); err != nil {
		return prep, err
	}
	out := prep
	if out.Project, err = generation(st, prep.base, prep.Gen, prep.Slot, next); err != nil {
		return prep, err
	}
	if out.State, err = r.State.Load(st.Name); err != nil {
		return prep, err
	}
	return out, nil
}

// retireFront stops st's front in slot gracefully (nginx's stop signal,
// SIGQUIT: it finishes the requests it holds, for at most drainLimit) and
// removes it.
func (r Runner) retireFront(ctx context.Context, slot int) error {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return err
	}
	gen := activeGen(rec)
	base, err := r.load(ctx, profileOr(rec.Profile), rec.Listen, rec.ReleaseOf(gen))
	if err != nil {
		return err
	}
	p, err := generation(st, base, gen, rec.SlotOf(gen), slot)
	if err != nil {
		return err
	}
	name := st.Generations.FrontService(slot)
	limit := drainLimit
	if err := r.Compose.Stop(ctx, p.Name, api.StopOptions{Project: p, Services: []string{name}, Timeout: &limit}); err != nil {
		return fmt.Errorf("stopping %s of stack %s: %w", name, st.Name, err)
	}
	if err := r.Compose.Remove(ctx, p.Name, api.RemoveOptions{Project: p, Services: []string{name}, Force: true}); err != nil {
		return fmt.Errorf("removing %s of stack %s: %w", name, st.Name, err)
	}
	return nil
}

// logTail returns the last n lines service (a compose service name) of st
// logged, backtraces cut short so that the error they follow shows, or what
// kept them from being read.
func (r Runner) logTail(ctx context.Context, service string, n int) string {
	st := r.Stack
	var c tailConsumer
	err := r.Compose.Logs(ctx, st.ComposeProject(), &c, api.LogOptions{Services: []string{service}, Tail: "500"})
	if err != nil {
		return fmt.Sprintf("(its log could not be read: %v)", err)
	}
	return errs.LastLines(shortenBacktraces(c.String(), 3), n)
}

// shortenBacktraces keeps the first keep lines of each run of backtrace lines
// (Ruby's "from FILE:LINE", Java's and Python's alike) and says how many went.
func shortenBacktraces(log string, keep int) string {
	var out []string
	run := 0
	flush := func() {
		if run > keep {
			out = append(out, fmt.Sprintf("\t... %d more lines of backtrace", run-keep))
		}
		run = 0
	}
	for line := range strings.Lines(log) {
		line = strings.TrimRight(line, "\n")
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "from ") || strings.HasPrefix(t, "at ") || strings.HasPrefix(t, "File \"") {
			run++
			if run <= keep {
				out = append(out, line)
			}
			continue
		}
		flush()
		out = append(out, line)
	}
	flush()
	return strings.Join(out, "\n")
}

// tailConsumer collects log lines.
type tailConsumer struct{ strings.Builder }

func (c *tailConsumer) Log(_, message string)    { c.WriteString(message + "\n") }
func (c *tailConsumer) Err(_, message string)    { c.WriteString(message + "\n") }
func (c *tailConsumer) Status(_, message string) {}
