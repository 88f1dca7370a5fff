package stack

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// Recover finishes or undoes what a stackctl that stopped half way (killed,
// the machine gone) left on st, and says which, before any other change: a
// switch under way is finished when the front already serves its target and
// that target runs, else undone (the front pointed back); a generation that
// was never finished is removed with its volumes; containers of generations
// that are not active are removed (their volumes stay). The caller holds the
// stack's lock.
func (r Runner) Recover(ctx context.Context) error {
	st := r.Stack
	if st.Generations == nil {
		return nil
	}
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return err
	}
	if rec.Switch != nil {
		if err := r.recoverSwitch(ctx, *rec.Switch); err != nil {
			return err
		}
		if rec, err = r.State.Load(st.Name); err != nil {
			return err
		}
	}
	for _, g := range rec.Generations {
		// Only a generation being made: a restore's, never active, or a
		// restore test's, whatever it got to. One that served (a first start
		// cut short by --no-wait, say) is data.
		if !unfinished(rec, g) {
			continue
		}
		r.logf("stack %s: removing generation %d (%s, begun %s): stackctl stopped before it was finished",
			st.Name, g.N, describe(g), g.At.Local().Format("2006-01-02 15:04:05"))
		if err := r.discard(ctx, g.N); err != nil {
			return err
		}
	}
	if err := r.removeStrays(ctx, activeGen(rec)); err != nil {
		return err
	}
	if rec.Upgrade != nil {
		return r.recoverUpgrade(ctx, rec)
	}
	// Closed with no upgrade under way: an up stopped while it recreated the database.
	if closed, err := r.InMaintenance(ctx); err == nil && closed {
		r.logf("stack %s: opening again: a stopped stackctl left it closed for maintenance", st.Name)
		return r.Maintenance(ctx, false, "")
	}
	return nil
}

// recoverUpgrade opens st again after an upgrade that a stopped stackctl
// left closed for maintenance, and says where the stack stands: on the old
// version (the new generation, never switched to, is gone by now), or on the
// new one, switched to and checked privately but not through the front.
func (r Runner) recoverUpgrade(ctx context.Context, rec state.State) error {
	st := r.Stack
	u := *rec.Upgrade
	// A front that does not run has no maintenance to end: it starts open.
	if err := r.Maintenance(ctx, false, ""); err != nil && !errors.Is(err, errs.ErrNotRunning) {
		return err
	}
	backup := "no pre-upgrade backup was written"
	if u.Backup != "" {
		backup = "the pre-upgrade backup is " + u.Backup
	}
	if rec.Active == u.From {
		r.logf("stack %s: the upgrade from %s to %s was stopped at its step %q: generation %d serves %s again, as before; %s",
			st.Name, u.FromVersion, u.ToVersion, u.Step, u.From, u.FromVersion, backup)
	} else {
		r.logf("stack %s: the upgrade from %s to %s was stopped at its step %q, after the switch: generation %d serves %s; "+
			"'stackctl rollback %s --to %d' returns to %s and its data; %s",
			st.Name, u.FromVersion, u.ToVersion, u.Step, rec.Active, u.ToVersion, st.Name, u.From, u.FromVersion, backup)
	}
	return r.update(func(rec *state.State) error { rec.Upgrade = nil; return nil })
}

// recoverSwitch finishes or undoes sw.
func (r Runner) recoverSwitch(ctx context.Context, sw state.Switch) error {
	st := r.Stack
	g := st.Generations
	gen, slot, err := r.frontGen(ctx)
	_, toErr := r.serviceContainer(ctx, g.AppService(sw.To, sw.ToSlot))
	if err == nil && gen == sw.To && slot == sw.ToSlot && toErr == nil {
		r.logf("stack %s: finishing the switch %s that a stopped stackctl left: nginx already serves %s",
			st.Name, describeSwitch(st, sw), g.AppService(sw.To, sw.ToSlot))
		// The file is what nginx would load; whether it did is not known: reload again.
		if err := r.pointFront(ctx, sw.To, sw.ToSlot, true); err != nil {
			return err
		}
		return r.finishSwitch(ctx, sw)
	}
	r.logf("stack %s: undoing the switch %s that a stopped stackctl left: %s serves again",
		st.Name, describeSwitch(st, sw), g.AppService(sw.From, sw.FromSlot))
	if _, ferr := r.GenContainer(ctx, g.Front, sw.From); ferr == nil {
		if err := r.pointFront(ctx, sw.From, sw.FromSlot, true); err != nil {
			return err
		}
	}
	if sw.SameData() {
		err = r.removeApp(ctx, sw.To, sw.ToSlot)
	} else {
		err = r.removeGenContainers(ctx, sw.To)
	}
	if err != nil {
		return err
	}
	return r.update(func(rec *state.State) error { rec.Switch = nil; return nil })
}

// removeStrays removes the containers that a stopped stackctl may have left
// running beside what st serves: of generations other than active (a
// rollback's target), active's application in its other slot (a changed
// image that never took over), and the front in its other slot (a hand-over
// of nginx cut short).
func (r Runner) removeStrays(ctx context.Context, active int) error {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return err
	}
	cs, err := r.Compose.Ps(ctx, st.ComposeProject(), api.PsOptions{All: true})
	if err != nil {
		return fmt.Errorf("listing %s: %w", st.Name, err)
	}
	seen := map[int]bool{}
	g := st.Generations
	stray := g.AppService(active, 1-rec.SlotOf(active))
	front, strayFront := g.FrontService(rec.FrontSlot), g.FrontService(1-rec.FrontSlot)
	frontRuns := slices.ContainsFunc(cs, func(c api.ContainerSummary) bool { return c.Service == front && c.State == "running" })
	for _, c := range cs {
		gen, _, ok := g.Owner(c.Service)
		switch {
		case g.Edge != "" && c.Service == strayFront && frontRuns:
			// A front hand-over cut short, before or after the new one was
			// recorded: the other one goes, gracefully, the recorded one serving.
			r.logf("stack %s: stopping %s, left beside %s by a stopped stackctl", st.Name, strayFront, front)
			if err := r.retireFront(ctx, 1-rec.FrontSlot); err != nil {
				return err
			}
		case c.Service == stray:
			if err := r.removeApp(ctx, active, 1-rec.SlotOf(active)); err != nil {
				return err
			}
		case ok && gen != active && !seen[gen]:
			seen[gen] = true
			if err := r.removeGenContainers(ctx, gen); err != nil {
				return err
			}
		}
	}
	return nil
}
