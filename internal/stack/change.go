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
// image or settings without an outage, when that is what changed: the new
// container starts in the generation's other slot beside the one that serves,
// on the same data, becomes healthy and passes the smoke check; the front is
// pointed at it and its old workers finish their requests; then the old
// container is removed. It returns prep as it stands afterwards (its
// application in the new slot), or unchanged when there was nothing to hand
// over or the stack does not serve (the ordinary start-up does the rest). A new
// container that fails leaves the old one serving: it is removed and the error
// carries the tail of its log.
func (r Runner) changeApp(ctx context.Context, prep Prepared, timeout time.Duration) (Prepared, error) {
	st, gen, slot := prep.Stack, prep.Gen, prep.Slot
	g := st.Generations
	if g == nil {
		return prep, nil
	}
	if rec, ok := prep.State.Gen(gen); !ok || !rec.Ready || !r.serving(ctx, st) {
		return prep, nil
	}
	what, err := r.appChanged(ctx, prep)
	if err != nil || what == "" {
		return prep, err
	}
	next := 1 - slot
	from, to := g.AppService(gen, slot), g.AppService(gen, next)
	target, err := generation(st, prep.base, gen, next, false)
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
		pointed, err = r.switchTo(ctx, st, state.Switch{From: gen, FromSlot: slot, To: gen, ToSlot: next, Why: what + " changed"})
	}
	if err != nil && !pointed {
		tail := r.logTail(context.WithoutCancel(ctx), st, to, 30)
		if rerr := r.removeApp(context.WithoutCancel(ctx), st, gen, next); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return prep, fmt.Errorf("%w: %s keeps serving; the last lines %s logged:\n%s", err, from, to, tail)
	}
	if err != nil {
		return prep, err
	}
	out := prep
	out.Slot = next
	if out.Project, err = generation(st, prep.base, gen, next, true); err != nil {
		return prep, err
	}
	if out.State, err = r.State.Load(st.Name); err != nil {
		return prep, err
	}
	return out, nil
}

// appChanged says what of prep's application differs from the container that
// serves it ("Redmine's image", "Redmine's settings", or both), or "" when
// nothing does, or when that container is not running healthy (then there is
// nothing to keep serving, and the ordinary start-up recreates it).
func (r Runner) appChanged(ctx context.Context, prep Prepared) (string, error) {
	g := prep.Stack.Generations
	name := g.AppService(prep.Gen, prep.Slot)
	want, ok := prep.Project.Services[name]
	if !ok {
		return "", fmt.Errorf("stack %s: %s is not in its project", prep.Stack.Name, name)
	}
	cs, err := r.Compose.Ps(ctx, prep.Project.Name, api.PsOptions{All: true})
	if err != nil {
		return "", fmt.Errorf("listing %s: %w", prep.Stack.Name, err)
	}
	for _, c := range cs {
		if c.Service != name {
			continue
		}
		if c.State != "running" || c.Health != "healthy" {
			return "", nil
		}
		img, found, err := r.Engine.Image(ctx, want.Image)
		if err != nil {
			return "", err
		}
		running, err := r.Engine.ContainerImage(ctx, c.ID)
		if err != nil {
			return "", err
		}
		var what []string
		if !found || img.ID != running {
			what = append(what, "image")
		}
		if c.Labels[catalog.ConfigLabel] != want.CustomLabels[catalog.ConfigLabel] {
			what = append(what, "settings")
		}
		if len(what) == 0 {
			return "", nil
		}
		return fmt.Sprintf("%s's %s", g.App, strings.Join(what, " and ")), nil
	}
	return "", nil
}

// logTail returns the last n lines service (a compose service name) of st
// logged, backtraces cut short so that the error they follow shows, or what
// kept them from being read.
func (r Runner) logTail(ctx context.Context, st catalog.Stack, service string, n int) string {
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
