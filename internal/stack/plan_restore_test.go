package stack

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/state"
)

// golden compares text with testdata/plans/name.txt (go test -update
// rewrites it).
func golden(t *testing.T, name, text string) {
	t.Helper()
	path := filepath.Join("testdata", "plans", name+".txt")
	if update() {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v: run go test ./internal/stack -run 'TestPlan' -update", err)
	}
	if text != string(want) {
		t.Errorf("plan differs from %s (-update rewrites it):\n%s", path, text)
	}
}

// planText is p as --dry-run prints it, after checking --json takes it.
func planText(t *testing.T, p Plan) string {
	t.Helper()
	var b bytes.Buffer
	if err := p.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if _, err := json.Marshal(p); err != nil {
		t.Errorf("--json: %v", err)
	}
	return b.String()
}

// restoring is a restore of archive into the redmine stack, whose
// generation from serves (0: none).
func restoring(t *testing.T, from int) restoreObservation {
	t.Helper()
	return restoreObservation{Stack: mustRedmine(), Where: OnEngine, Choice: Choice{Profile: catalog.ProfileDebian, Reason: "recorded when the stack was first started"},
		Made: state.MadeRestore, Source: "redmine-20261207T101500Z.tar.zst", From: from, Next: from + 1, Serving: from != 0}
}

// TestPlanRestore keeps the plan of every kind of new generation as its
// text says it, in testdata/plans/restore-<case>.txt: the plan is what
// 'restore-volumes --dry-run' prints and what the restore then does.
func TestPlanRestore(t *testing.T) {
	for _, tc := range []struct {
		name string
		obs  func(t *testing.T) restoreObservation
		// want are the facts the execution takes from the plan.
		from, gen int
		recover   bool
		app       string
		stops     bool
	}{
		{name: "serving", from: 1, gen: 2, app: "redmine-g2", obs: func(t *testing.T) restoreObservation { return restoring(t, 1) }},
		{name: "serving-slot-b", from: 2, gen: 3, app: "redmine-g3", obs: func(t *testing.T) restoreObservation {
			obs := restoring(t, 2)
			obs.FromSlot, obs.FrontSlot = catalog.SlotB, catalog.SlotB
			return obs
		}},
		{name: "no-data", gen: 1, app: "redmine", obs: func(t *testing.T) restoreObservation {
			obs := restoring(t, 0)
			obs.Choice.Reason = "auto: stackctl/base-postgres is not present and cannot be pulled"
			obs.Bases = []change{{"stackctl/base-postgres:trixie", "not built yet, from the Debian mirror with mmdebstrap"}}
			obs.Images = []change{{"stackctl/redmine:debian", "not built yet"}, {"stackctl/nginx:debian", "not built yet"}}
			return obs
		}},
		{name: "stopped", from: 1, gen: 2, app: "redmine-g2", obs: func(t *testing.T) restoreObservation {
			obs := restoring(t, 1)
			obs.Serving = false
			return obs
		}},
		{name: "only", from: 1, gen: 2, app: "redmine-g2", obs: func(t *testing.T) restoreObservation {
			obs := restoring(t, 1)
			obs.Copied = []string{"db-data", "redmine-plugins"}
			return obs
		}},
		{name: "killed-restore", from: 1, gen: 2, app: "redmine-g2", obs: func(t *testing.T) restoreObservation {
			obs := restoring(t, 1)
			obs.Leftovers = []Step{
				{Action: "remove", Target: "generation 2 (restore of redmine-20261207T101500Z.tar.zst)", Why: "a stopped stackctl never finished it"},
				{Action: "remove", Target: "redmine-g2", Why: "of generation 2, which does not serve (its volumes stay)"},
			}
			return obs
		}},
		{name: "upgrade-copy", from: 1, gen: 2, app: "redmine-g2", obs: func(t *testing.T) restoreObservation {
			obs := restoring(t, 1)
			obs.Made, obs.Source = state.MadeUpgrade, "of generation 1, Redmine 6.0.5 with PostgreSQL 17 to Redmine 6.1.5 with PostgreSQL 18"
			obs.Release, obs.FromRelease = "6.1", ""
			obs.Copied, obs.CarriesMark = mustRedmine().Generations.Volumes, true
			return obs
		}},
		{name: "swarm", from: 1, gen: 2, app: "stackctl-redmine_redmine", stops: true, obs: func(t *testing.T) restoreObservation {
			return onSwarm(restoring(t, 1), 0, nil, false)
		}},
		{name: "swarm-killed-restore", from: 1, gen: 3, app: "stackctl-redmine_redmine", stops: true, recover: true, obs: func(t *testing.T) restoreObservation {
			// Generation 2's volumes are another state directory's; 3 is
			// what a stopped restore left.
			return onSwarm(restoring(t, 1), 3, map[int]string{2: "stackctl-redmine_db-data-g2"}, true)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planRestore(tc.obs(t))
			golden(t, "restore-"+tc.name, planText(t, p))
			if p.next.from != tc.from || p.next.gen != tc.gen || p.next.recover != tc.recover {
				t.Errorf("decided from %d, generation %d, recover %v; want %d, %d, %v", p.next.from, p.next.gen, p.next.recover, tc.from, tc.gen, tc.recover)
			}
			if p.Serves.Generation != tc.gen || p.Serves.App != tc.app {
				t.Errorf("serves generation %d, %s; want %d, %s", p.Serves.Generation, p.Serves.App, tc.gen, tc.app)
			}
			if p.Outage.Stops != tc.stops || p.Outage.Closes || p.Outage.Refuses {
				t.Errorf("outage %+v, want stops %v alone", p.Outage, tc.stops)
			}
		})
	}
}

// onSwarm is obs on a swarm whose data node is node-1: pending is a
// generation a stopped restore left, taken the numbers whose volumes are
// there without a record, shared says the files are on shared storage.
func onSwarm(obs restoreObservation, pending int, taken map[int]string, shared bool) restoreObservation {
	obs.Where, obs.Choice.Reason = OnSwarm, "as the swarm's last deploy has it"
	obs.Swarm = &swarmRestore{DataNode: "node-1", Pending: pending, Taken: taken, Shared: shared}
	return obs
}

// copyingSeed is a restore with --only: it copies some volumes from the
// active generation.
type copyingSeed struct {
	seedRecorder
	copies []string
}

func (s copyingSeed) Copies() []string { return s.copies }

// TestRestorePlanIsWhatRuns: the plan of a restore changes nothing (no
// record, no SDK call but the seed's check), and the restore then makes the
// generation it names, beside what it says serves, after the recovery of
// what a stopped stackctl left, and serves what it says.
func TestRestorePlanIsWhatRuns(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer site.Close()
	listen := strings.TrimPrefix(site.URL, "http://")
	st := mustRedmine()
	running := func(services ...string) []api.ContainerSummary {
		var out []api.ContainerSummary
		for _, s := range services {
			out = append(out, api.ContainerSummary{ID: "c-" + s, Service: s, State: "running", Health: "healthy"})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		rec  *state.State
		ps   []api.ContainerSummary
		// gen2 says generation 2's volumes exist: a killed restore made them.
		gen2   bool
		copies []string
		// want are the plan's steps that matter here.
		want []string
		from int
		gen  int
	}{
		{name: "no data yet", ps: []api.ContainerSummary{}, gen: 1,
			want: []string{"make generation 1 (restore of a.tar.zst), nothing serving yet", "fill volume stackctl-redmine_db-data", "point-front generation 1"}},
		{name: "serving", rec: servingGen1(), ps: running("db", "redmine", "edge", "nginx"), from: 1, gen: 2,
			want: []string{"make generation 2 (restore of a.tar.zst), beside generation 1, which keeps serving", "check redmine-g2", "point-front generation 2", "stop generation 1 (db, redmine)"}},
		{name: "only", rec: servingGen1(), ps: running("db", "redmine", "edge", "nginx"), copies: []string{"db-data", "redmine-plugins"}, from: 1, gen: 2,
			want: []string{"copy volume stackctl-redmine_db-data-g2", "fill volume stackctl-redmine_redmine-files-g2", "copy volume stackctl-redmine_redmine-plugins-g2"}},
		{name: "a killed restore left behind", rec: func() *state.State {
			rec := servingGen1()
			rec.PutGen(state.Generation{N: 2, Made: state.MadeRestore, Source: "b.tar.zst"})
			return rec
		}(), ps: append(running("db", "redmine", "edge", "nginx"), api.ContainerSummary{ID: "c-db-g2", Service: "db-g2", State: "running"}), gen2: true, from: 1, gen: 2,
			want: []string{"remove generation 2 (restore of b.tar.zst)", "remove db-g2", "make generation 2 (restore of a.tar.zst), beside generation 1, which keeps serving"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{ps: tc.ps}
			e := &fakeEngine{volumes: map[string]bool{}, comment: configuredMark, upstream: st.Generations.Upstream(1, catalog.SlotA)}
			r := Runner{Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			if tc.rec != nil {
				tc.rec.Listen = listen
				if err := r.State.Save(st.Name, *tc.rec); err != nil {
					t.Fatal(err)
				}
				for _, v := range genVolumes(1) {
					e.volumes[v] = true
				}
			}
			for _, v := range genVolumes(2) {
				e.volumes[v] = tc.gen2
			}
			o := UpOptions{Profile: catalog.ProfileUpstream, Listen: listen}
			seed := copyingSeed{seedRecorder{c: c}, tc.copies}
			before, _ := os.ReadFile(filepath.Join(string(r.State), st.Name, "state.json"))
			p, err := r.For(st).PlanNewGeneration(t.Context(), seed, state.MadeRestore, "a.tar.zst", o)
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
			if !bytes.Equal(before, after) || !slices.Equal(c.calls, []string{"seed check"}) || len(e.removed) > 0 {
				t.Fatalf("the plan changed something: state %s -> %s, calls %q, volumes removed %q", before, after, c.calls, e.removed)
			}
			if p.next.from != tc.from || p.next.gen != tc.gen || p.Serves.Generation != tc.gen {
				t.Errorf("plan: from %d, generation %d, serves %d; want %d, %d", p.next.from, p.next.gen, p.Serves.Generation, tc.from, tc.gen)
			}

			// What Open does before a restore, then the restore.
			c.calls = nil
			if err := r.For(st).Recover(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, v := range genVolumes(2) {
				e.volumes[v] = false // the fake keeps the volumes it removed
			}
			res, err := r.For(st).NewGeneration(t.Context(), seed, state.MadeRestore, "a.tar.zst", o)
			if err != nil {
				t.Fatal(err)
			}
			if res.From != tc.from || res.Gen != tc.gen {
				t.Errorf("the restore made generation %d from %d, the plan said %d from %d", res.Gen, res.From, tc.gen, tc.from)
			}
			if !strings.Contains(e.upstream, "http://"+p.Serves.App+":") {
				t.Errorf("the front points at %q, the plan said %s", e.upstream, p.Serves.App)
			}
		})
	}
}

// servingGen1 is the redmine stack's record with generation 1 active, ready.
func servingGen1() *state.State {
	rec := &state.State{Profile: catalog.ProfileUpstream, Active: 1}
	rec.PutGen(state.Generation{N: 1, Made: state.MadeFirstStart, Ready: true})
	return rec
}
