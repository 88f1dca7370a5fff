package stack

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// rollingBack is the redmine stack serving generation active of gens, all
// ready, previous the one that served before it.
func rollingBack(active, previous int, gens ...state.Generation) rollbackObservation {
	rec := state.State{Profile: catalog.ProfileDebian, Active: active, Previous: previous}
	for _, g := range gens {
		g.Ready = true
		rec.PutGen(g)
	}
	return rollbackObservation{Stack: mustRedmine(), Where: OnEngine, Choice: Choice{Profile: catalog.ProfileDebian, Reason: "recorded when the stack was first started"},
		State: rec, Serving: true, Missing: map[int]string{}}
}

// threeGens are a first start, a restore and an upgrade's copy.
var threeGens = []state.Generation{
	{N: 1, Made: state.MadeFirstStart},
	{N: 2, Made: state.MadeRestore, Source: "redmine-20261207T101500Z.tar.zst", Slot: catalog.SlotB},
	{N: 3, Made: state.MadeUpgrade, Source: "of generation 2", Release: "6.1"},
}

// swarmRollingBack is the redmine stack on a swarm, generation active
// deployed, previous before it, gens recorded.
func swarmRollingBack(active, previous, pending int, gens ...int) rollbackObservation {
	sw := &state.Swarm{DataNode: "node-1", Gen: active, Previous: previous, Pending: pending}
	for _, n := range gens {
		sw.Gens = append(sw.Gens, state.SwarmGen{N: n, Made: state.MadeRestore})
	}
	return rollbackObservation{Stack: mustRedmine(), Where: OnSwarm, Choice: Choice{Profile: catalog.ProfileDebian, Reason: "as the swarm's last deploy has it"},
		State: state.State{Profile: catalog.ProfileDebian, Swarm: sw}, Serving: true, Missing: map[int]string{}}
}

// TestPlanRollback keeps the plan of every kind of rollback as its text
// says it, in testdata/plans/rollback-<case>.txt, and its refusals: the
// plan is what 'rollback --dry-run' prints and what the rollback then does.
func TestPlanRollback(t *testing.T) {
	for _, tc := range []struct {
		name string
		obs  rollbackObservation
		// the facts the execution takes from the plan, or the refusal.
		from, to, slot int
		release        string
		recover        bool
		target         error
		says           string
	}{
		{name: "previous", obs: rollingBack(2, 1, threeGens[:2]...), from: 2, to: 1},
		{name: "to", obs: func() rollbackObservation {
			obs := rollingBack(3, 2, threeGens...)
			obs.To = 2
			obs.Images = []change{{"stackctl/redmine:debian", "what it is built from changed"}}
			return obs
		}(), from: 3, to: 2, slot: catalog.SlotB},
		{name: "to-older-release", obs: func() rollbackObservation {
			obs := rollingBack(3, 1, threeGens...)
			obs.Leftovers = []Step{{Action: "remove", Target: "redmine-g2-b", Why: "of generation 2, which does not serve (its volumes stay)"}}
			obs.Bases = []change{{"stackctl/base-postgres:trixie", "built from another recipe"}}
			return obs
		}(), from: 3, to: 1},
		{name: "stopped", obs: func() rollbackObservation {
			obs := rollingBack(2, 1, threeGens[:2]...)
			obs.Serving = false
			return obs
		}(), from: 2, to: 1},
		{name: "nothing-to-return-to", obs: rollingBack(1, 0, threeGens[0]), target: errs.ErrNotFound,
			says: "stack redmine has no generation older than the active 1: see 'stackctl generations redmine'"},
		{name: "volume-gone", obs: func() rollbackObservation {
			obs := rollingBack(2, 1, threeGens[:2]...)
			obs.Missing[1] = "stackctl-redmine_redmine-files"
			return obs
		}(), target: errs.ErrNotFound, says: "volume stackctl-redmine_redmine-files of generation 1 of stack redmine is gone"},
		{name: "swarm", obs: swarmRollingBack(2, 1, 0, 1, 2), from: 2, to: 1},
		{name: "swarm-to", obs: func() rollbackObservation {
			obs := swarmRollingBack(3, 2, 4, 1, 2, 3)
			obs.To = 1
			return obs
		}(), from: 3, to: 1, recover: true},
		{name: "swarm-nothing-to-return-to", obs: swarmRollingBack(0, 0, 0), target: errs.ErrNotFound,
			says: "stack redmine has one generation of data on the swarm: there is none to roll back to"},
		{name: "swarm-volume-gone", obs: func() rollbackObservation {
			obs := swarmRollingBack(2, 1, 0, 1, 2)
			obs.Missing[1] = "stackctl-redmine_db-data"
			return obs
		}(), target: errs.ErrNotFound, says: "volume stackctl-redmine_db-data of generation 1 of stack redmine is not on the data node node-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planRollback(tc.obs)
			if tc.target != nil {
				if !errors.Is(err, tc.target) || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("planRollback: %v; want %v saying %q", err, tc.target, tc.says)
				}
				golden(t, "rollback-"+tc.name, "error: "+err.Error()+"\n")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "rollback-"+tc.name, planText(t, p))
			n := p.next
			if n.from != tc.from || n.gen != tc.to || n.slot != tc.slot || n.recover != tc.recover || p.Serves.Generation != tc.to {
				t.Errorf("decided from %d to %d in slot %d, recover %v, serves %d; want %d to %d in slot %d, recover %v",
					n.from, n.gen, n.slot, n.recover, p.Serves.Generation, tc.from, tc.to, tc.slot, tc.recover)
			}
			if want := tc.obs.State.ReleaseOf(tc.to); tc.obs.State.Swarm == nil && n.release != want {
				t.Errorf("decided release %q, want generation %d's %q", n.release, tc.to, want)
			}
			if p.Outage.Stops != (tc.obs.Where == OnSwarm) || p.Outage.Closes || p.Outage.Refuses {
				t.Errorf("outage %+v: a rollback stops the tracker on a swarm alone", p.Outage)
			}
		})
	}
}

// TestRollbackPlanIsWhatRuns: the plan of a rollback changes nothing, and
// the rollback then returns to the generation it names (after the recovery
// of what a stopped stackctl left, which may change which one that is) and
// serves what it says.
func TestRollbackPlanIsWhatRuns(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer site.Close()
	listen := strings.TrimPrefix(site.URL, "http://")
	st := mustRedmine()
	g := st.Generations
	running := func(services ...string) []api.ContainerSummary {
		var out []api.ContainerSummary
		for _, s := range services {
			out = append(out, api.ContainerSummary{ID: "c-" + s, Service: s, State: "running", Health: "healthy"})
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		rec      state.State
		ps       []api.ContainerSummary
		upstream string
		to       int
		// want are the plan's steps that matter here.
		want     []string
		from, at int
	}{
		{name: "to the one before", rec: state.State{Profile: catalog.ProfileUpstream, Active: 2, Previous: 1, Generations: []state.Generation{
			{N: 1, Made: state.MadeFirstStart, Ready: true}, {N: 2, Made: state.MadeRestore, Source: "a.tar.zst", Ready: true}}},
			ps: running("db-g2", "redmine-g2", "edge", "nginx"), upstream: g.Upstream(2, catalog.SlotA), from: 2, at: 1,
			want: []string{"start generation 1 (db, redmine)", "point-front generation 1", "stop generation 2 (db-g2, redmine-g2)"}},
		{name: "--to, not the one before", to: 1, rec: state.State{Profile: catalog.ProfileUpstream, Active: 3, Previous: 2, Generations: []state.Generation{
			{N: 1, Made: state.MadeFirstStart, Ready: true}, {N: 2, Made: state.MadeRestore, Source: "a.tar.zst", Ready: true},
			{N: 3, Made: state.MadeRestore, Source: "b.tar.zst", Ready: true}}},
			ps: running("db-g3", "redmine-g3", "edge", "nginx"), upstream: g.Upstream(3, catalog.SlotA), from: 3, at: 1,
			want: []string{"start generation 1 (db, redmine)", "stop generation 3 (db-g3, redmine-g3)"}},
		{name: "a switch a stopped restore left, which the recovery finishes", rec: state.State{Profile: catalog.ProfileUpstream, Active: 1,
			Generations: []state.Generation{{N: 1, Made: state.MadeFirstStart, Ready: true}, {N: 3, Made: state.MadeRestore, Source: "b.tar.zst", Ready: true}},
			Switch:      &state.Switch{From: 1, To: 3, Why: "restore of b.tar.zst"}},
			ps: running("db", "redmine", "db-g3", "redmine-g3", "edge", "nginx"), upstream: g.Upstream(3, catalog.SlotA), from: 3, at: 1,
			want: []string{"recover the switch from generation 1 to 3 (restore of b.tar.zst)", "start generation 1 (db, redmine)", "stop generation 3 (db-g3, redmine-g3)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{ps: tc.ps}
			e := &fakeEngine{volumes: map[string]bool{}, comment: configuredMark, upstream: tc.upstream}
			for _, v := range genVolumes(1) {
				e.volumes[v] = true
			}
			r := Runner{Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			tc.rec.Listen = listen
			if err := r.State.Save(st.Name, tc.rec); err != nil {
				t.Fatal(err)
			}
			o := UpOptions{Profile: catalog.ProfileUpstream}
			before, _ := os.ReadFile(filepath.Join(string(r.State), st.Name, "state.json"))
			p, err := r.For(st).PlanRollback(t.Context(), tc.to, o)
			if err != nil {
				t.Fatal(err)
			}
			got := steps(p)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("the plan has no step %q:\n%s", w, strings.Join(got, "\n"))
				}
			}
			after, _ := os.ReadFile(filepath.Join(string(r.State), st.Name, "state.json"))
			if !bytes.Equal(before, after) || len(c.calls) > 0 {
				t.Fatalf("the plan changed something: state %s -> %s, calls %q", before, after, c.calls)
			}
			if p.next.from != tc.from || p.next.gen != tc.at {
				t.Errorf("plan: from %d to %d; want %d to %d", p.next.from, p.next.gen, tc.from, tc.at)
			}

			// What Open does before a rollback, then the rollback.
			if err := r.For(st).Recover(t.Context()); err != nil {
				t.Fatal(err)
			}
			res, err := r.For(st).Rollback(t.Context(), tc.to, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.From != tc.from || res.To != tc.at {
				t.Errorf("the rollback went from %d to %d, the plan said %d to %d", res.From, res.To, tc.from, tc.at)
			}
			if !strings.Contains(e.upstream, "http://"+p.Serves.App+":") {
				t.Errorf("the front points at %q, the plan said %s", e.upstream, p.Serves.App)
			}
		})
	}
}
