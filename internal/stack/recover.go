package stack

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/state"
)

// Recover finishes or undoes what a stackctl that stopped half way (killed,
// the machine gone) left on st, and says which, before any other change: a
// switch under way is finished when the front already serves its target and
// that target runs, else undone (the front pointed back); a generation that
// was never finished is removed with its volumes; containers of generations
// that are not active are removed (their volumes stay). The caller holds the
// stack's lock.
func (r Runner) Recover(ctx context.Context, st catalog.Stack) error {
	if st.Generations == nil {
		return nil
	}
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return err
	}
	if rec.Switch != nil {
		if err := r.recoverSwitch(ctx, st, *rec.Switch); err != nil {
			return err
		}
		if rec, err = r.State.Load(st.Name); err != nil {
			return err
		}
	}
	for _, g := range rec.Generations {
		// Only a generation being made: a restore's, never active. One that
		// served (a first start cut short by --no-wait, say) is data.
		if g.Ready || g.N == rec.Active || g.Made != state.MadeRestore || !g.ActivatedAt.IsZero() {
			continue
		}
		r.logf("stack %s: removing generation %d (%s, begun %s): stackctl stopped before it was finished",
			st.Name, g.N, describe(g), g.At.Local().Format("2006-01-02 15:04:05"))
		if err := r.discard(ctx, st, g.N); err != nil {
			return err
		}
	}
	return r.removeStrays(ctx, st, activeGen(rec))
}

// recoverSwitch finishes or undoes sw.
func (r Runner) recoverSwitch(ctx context.Context, st catalog.Stack, sw state.Switch) error {
	at, err := r.frontGen(ctx, st)
	_, toErr := r.GenContainer(ctx, st, st.Generations.App, sw.To)
	if err == nil && at == sw.To && toErr == nil {
		r.logf("stack %s: finishing the switch from generation %d to %d (%s) that a stopped stackctl left: nginx already serves generation %d",
			st.Name, sw.From, sw.To, sw.Why, sw.To)
		// The file is what nginx would load; whether it did is not known: reload again.
		if err := r.pointFront(ctx, st, sw.To, true); err != nil {
			return err
		}
		if err := r.activate(st, sw.To, sw.Why); err != nil {
			return err
		}
		return r.removeGenContainers(ctx, st, sw.From)
	}
	r.logf("stack %s: undoing the switch from generation %d to %d (%s) that a stopped stackctl left: generation %d serves again",
		st.Name, sw.From, sw.To, sw.Why, sw.From)
	if _, ferr := r.GenContainer(ctx, st, st.Generations.Front, sw.From); ferr == nil {
		if err := r.pointFront(ctx, st, sw.From, true); err != nil {
			return err
		}
	}
	if err := r.removeGenContainers(ctx, st, sw.To); err != nil {
		return err
	}
	return r.update(st, func(rec *state.State) error { rec.Switch = nil; return nil })
}

// removeStrays removes the containers of st's generations other than active,
// which a stopped stackctl may have left running (a rollback's target).
func (r Runner) removeStrays(ctx context.Context, st catalog.Stack, active int) error {
	cs, err := r.Compose.Ps(ctx, st.ComposeProject(), api.PsOptions{All: true})
	if err != nil {
		return fmt.Errorf("listing %s: %w", st.Name, err)
	}
	seen := map[int]bool{}
	for _, c := range cs {
		if gen, ok := genOf(st, c.Service); ok && gen != active && !seen[gen] {
			seen[gen] = true
			if err := r.removeGenContainers(ctx, st, gen); err != nil {
				return err
			}
		}
	}
	return nil
}

// genOf says which generation service (a compose service name) belongs to.
func genOf(st catalog.Stack, service string) (int, bool) {
	for _, s := range st.Generations.Services {
		if service == s {
			return 1, true
		}
		if n, ok := strings.CutPrefix(service, s+"-g"); ok {
			if gen, err := strconv.Atoi(n); err == nil {
				return gen, true
			}
		}
	}
	return 0, false
}
