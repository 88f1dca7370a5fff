package stack

import (
	"context"
	"slices"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/state"
)

// TestRollbackTarget: the default is the generation that served before the
// active one, else the newest ready generation below it; unknown, active and
// unfinished ones are refused.
func TestRollbackTarget(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	rec := state.State{Active: 4, Generations: []state.Generation{
		{N: 1, Ready: true}, {N: 2, Ready: true}, {N: 3}, {N: 4, Ready: true}, {N: 5, Ready: true},
	}}
	for _, tc := range []struct {
		to, want int
		fails    bool
	}{
		{to: 0, want: 2}, {to: 1, want: 1}, {to: 5, want: 5},
		{to: 3, fails: true}, {to: 4, fails: true}, {to: 9, fails: true},
	} {
		got, err := rollbackTarget(st, rec, tc.to)
		if (err != nil) != tc.fails || got != tc.want {
			t.Errorf("rollbackTarget(--to %d) = %d, %v; want %d (fails: %v)", tc.to, got, err, tc.want, tc.fails)
		}
	}
	// The generation that served before the active one wins: an upgrade from
	// 1 made 4 after 2 and 3 came and went.
	rec.Previous = 1
	if got, err := rollbackTarget(st, rec, 0); err != nil || got != 1 {
		t.Errorf("rollbackTarget with generation 1 served before: %d, %v; want 1", got, err)
	}
	rec.Previous = 3 // unfinished: the default as before
	if got, _ := rollbackTarget(st, rec, 0); got != 2 {
		t.Errorf("rollbackTarget with an unfinished previous generation: %d, want 2", got)
	}
	if _, err := rollbackTarget(st, state.State{Active: 1, Generations: []state.Generation{{N: 1, Ready: true}}}, 0); err == nil {
		t.Error("a stack with one generation rolled back to something")
	}
}

// TestPrunePlan: the active generation always stays and counts; the newest
// others fill the rest of --keep; the dry run removes nothing.
func TestPrunePlan(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	for _, tc := range []struct {
		active, keep  int
		kept, removed []int
	}{
		{active: 4, keep: 2, kept: []int{5, 4}, removed: []int{3, 2, 1}},
		{active: 2, keep: 2, kept: []int{5, 2}, removed: []int{4, 3, 1}},
		{active: 1, keep: 1, kept: []int{1}, removed: []int{5, 4, 3, 2}},
		{active: 3, keep: 9, kept: []int{5, 4, 3, 2, 1}},
	} {
		e := &fakeEngine{volumes: map[string]bool{}}
		r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
		rec := state.State{Profile: catalog.ProfileUpstream, Active: tc.active}
		for n := 1; n <= 5; n++ {
			rec.PutGen(state.Generation{N: n, Ready: true})
		}
		if err := r.State.Save(st.Name, rec); err != nil {
			t.Fatal(err)
		}
		res, err := r.Prune(context.Background(), tc.keep, true)
		if err != nil {
			t.Fatal(err)
		}
		var removed []int
		for _, g := range res.Removed {
			removed = append(removed, g.N)
		}
		if !slices.Equal(res.Kept, tc.kept) || !slices.Equal(removed, tc.removed) || len(e.removed) > 0 {
			t.Errorf("active %d, keep %d: kept %v, removed %v (volumes %v); want kept %v, removed %v",
				tc.active, tc.keep, res.Kept, removed, e.removed, tc.kept, tc.removed)
		}
	}
	r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: &fakeEngine{}, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	if _, err := r.Prune(context.Background(), 0, true); err == nil {
		t.Error("prune --keep 0 was accepted")
	}
}

// TestRecover: a switch left under way is finished when the front already
// serves its target, else undone; a generation never finished is removed with
// its volumes; a ready one that is not active keeps its volumes. A change of
// slot (a new image on the same data) is finished or undone the same way, and
// only the application's container that lost is removed.
func TestRecover(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	g := st.Generations
	a, b := catalog.SlotA, catalog.SlotB
	for _, tc := range []struct {
		name             string
		sw               state.Switch
		frontAt, atSlot  int
		active, slot     int
		removed          string
		upstream, upSlot int
	}{
		{name: "front already at the target", sw: state.Switch{From: 1, To: 2}, frontAt: 2, active: 2, upstream: 2,
			removed: "remove db,redmine,redmine-b"},
		{name: "front still at the old one", sw: state.Switch{From: 1, To: 2}, frontAt: 1, active: 1, upstream: 1,
			removed: "remove db-g2,redmine-g2"},
		{name: "slot: front already at the new one", sw: state.Switch{From: 1, To: 1, ToSlot: b}, frontAt: 1, atSlot: b,
			active: 1, slot: b, upstream: 1, upSlot: b, removed: "remove redmine"},
		{name: "slot: front still at the old one", sw: state.Switch{From: 1, To: 1, ToSlot: b}, frontAt: 1, atSlot: a,
			active: 1, slot: a, upstream: 1, upSlot: a, removed: "remove redmine-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &fakeEngine{volumes: map[string]bool{}, upstream: g.Upstream(tc.frontAt, tc.atSlot)}
			c := &fakeCompose{}
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			rec := state.State{Profile: catalog.ProfileUpstream, Active: 1, Switch: &tc.sw}
			rec.PutGen(state.Generation{N: 1, Ready: true})
			rec.PutGen(state.Generation{N: 2, Ready: true})
			rec.PutGen(state.Generation{N: 3, Made: state.MadeRestore}) // interrupted while being made
			if err := r.State.Save(st.Name, rec); err != nil {
				t.Fatal(err)
			}
			if err := r.Recover(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, _ := r.State.Load(st.Name)
			if got.Active != tc.active || got.SlotOf(got.Active) != tc.slot || got.Switch != nil {
				t.Errorf("after recovery: active %d in slot %d, switch %+v; want active %d in slot %d and no switch",
					got.Active, got.SlotOf(got.Active), got.Switch, tc.active, tc.slot)
			}
			if _, ok := got.Gen(3); ok {
				t.Errorf("the unfinished generation 3 is still recorded")
			}
			if _, ok := got.Gen(2); !ok {
				t.Errorf("the ready generation 2 was forgotten")
			}
			if want := []string{"stackctl-redmine_db-data-g3", "stackctl-redmine_redmine-files-g3", "stackctl-redmine_redmine-plugins-g3"}; !slices.Equal(e.removed, want) {
				t.Errorf("volumes removed %v, want exactly generation 3's %v", e.removed, want)
			}
			if e.upstream != g.Upstream(tc.upstream, tc.upSlot) {
				t.Errorf("the front points at %q, want generation %d slot %d", e.upstream, tc.upstream, tc.upSlot)
			}
			if len(c.calls) == 0 || c.calls[0] != tc.removed {
				t.Errorf("first removal %q, want %q (all: %q)", c.calls, tc.removed, c.calls)
			}
		})
	}
}

// TestRecoverOpens: a front left closed for maintenance with no upgrade
// under way (an up stopped while it recreated the database) opens again.
func TestRecoverOpens(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	e := &fakeEngine{volumes: map[string]bool{}, upstream: st.Generations.Upstream(1, catalog.SlotA), maintenance: []bool{true}}
	c := &fakeCompose{}
	r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	rec := state.State{Profile: catalog.ProfileUpstream, Active: 1}
	rec.PutGen(state.Generation{N: 1, Ready: true})
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	if err := r.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(e.maintenance, []bool{true, false}) {
		t.Errorf("maintenance written %v, want it opened", e.maintenance)
	}
}

// TestRecoverKeepsWhatServed: a generation that served but was never recorded
// ready (a first start with --no-wait) is data, not a generation being made:
// recovery leaves it, and the switch away from it records it ready.
func TestRecoverKeepsWhatServed(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	e := &fakeEngine{volumes: map[string]bool{}, upstream: st.Generations.Upstream(2, catalog.SlotA)}
	r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	rec := state.State{Profile: catalog.ProfileUpstream, Active: 1}
	rec.PutGen(state.Generation{N: 1, Made: state.MadeFirstStart})
	rec.PutGen(state.Generation{N: 2, Made: state.MadeRestore, Ready: true})
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	if err := r.activate(state.Switch{From: 1, To: 2, Why: "restore"}); err != nil {
		t.Fatal(err)
	}
	if err := r.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := r.State.Load(st.Name)
	if g, ok := got.Gen(1); !ok || !g.Ready || len(e.removed) > 0 {
		t.Errorf("generation 1 after the switch away and a recovery: %+v (recorded: %v), volumes removed %v", g, ok, e.removed)
	}
}

// TestDownRemovesAllData: down --volumes removes every generation's data
// volumes, those the state records and those it does not (another state
// directory's, or a lost one's), and nothing else.
func TestDownRemovesAllData(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	p := st.ComposeProject()
	e := &fakeEngine{volumes: map[string]bool{
		p + "_db-data": true, p + "_redmine-files": true,
		p + "_db-data-g3": true, p + "_redmine-plugins-g3": true, // no record of generation 3
		p + "_nginx-upstream": true, "other_db-data-g2": true,
	}}
	r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	rec := state.State{Profile: catalog.ProfileUpstream, Active: 1}
	rec.PutGen(state.Generation{N: 1, Ready: true})
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	if err := r.Down(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	want := []string{p + "_db-data", p + "_redmine-files", p + "_db-data-g3", p + "_redmine-plugins-g3"}
	if !slices.Equal(e.removed, want) {
		t.Errorf("removed %v, want %v", e.removed, want)
	}
}
