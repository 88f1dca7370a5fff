package stack

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/report"
	"github.com/stackctl/stackctl/internal/state"
)

// genVolumes are the data volumes of generation gen of the redmine stack.
func genVolumes(gen int) []string {
	st := mustRedmine()
	var out []string
	for _, v := range st.Generations.Volumes {
		out = append(out, catalog.VolumeName(st.ComposeProject(), v, gen))
	}
	return out
}

// twoGenerations records the redmine stack with generations 1 and 2, both
// ready, 2 active after 1, on listen.
func twoGenerations(t *testing.T, r Runner, listen string) {
	t.Helper()
	rec := state.State{Profile: catalog.ProfileUpstream, Listen: listen, Active: 2, Previous: 1}
	rec.PutGen(state.Generation{N: 1, Made: state.MadeFirstStart, Ready: true})
	rec.PutGen(state.Generation{N: 2, Made: state.MadeRestore, Source: "a.tar.zst", Ready: true})
	if err := r.State.Save("redmine", rec); err != nil {
		t.Fatal(err)
	}
}

// TestRollback: a rollback starts its target beside the generation that
// serves, checks it and points the front over, then removes the other
// generation's containers (its volumes stay); a target that fails is removed
// and the active generation serves on, and one whose volumes are gone is
// refused before anything is built.
func TestRollback(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer site.Close()
	listen := strings.TrimPrefix(site.URL, "http://")
	st := mustRedmine()
	g := st.Generations
	for _, tc := range []struct {
		name string
		// gone are generation 1's volumes that are missing.
		gone     []string
		fail     string
		failWget bool
		// notServing: nothing runs but generation 2's data containers.
		notServing bool
		want       []string
		active     int
		says       string
		target     error
	}{
		{name: "switches", active: 1,
			want: []string{"build", "create", "start db,redmine", "remove db-g2,redmine-g2"}},
		{name: "never healthy", fail: "start db,redmine", active: 2, says: "generation 2 still serves",
			want: []string{"build", "create", "start db,redmine", "remove db,redmine,redmine-b"}},
		{name: "fails its smoke check", failWget: true, active: 2, says: "failed its smoke check",
			want: []string{"build", "create", "start db,redmine", "remove db,redmine,redmine-b"}},
		{name: "volume gone", gone: []string{"stackctl-redmine_redmine-files"}, active: 2, target: errs.ErrNotFound,
			says: "volume stackctl-redmine_redmine-files of generation 1 of stack redmine is gone"},
		{name: "nothing serves", notServing: true, active: 1,
			want: []string{"build", "create", "start db,redmine", "create", "start db,edge,nginx,redmine"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{fail: tc.fail}
			e := newScripted()
			e.comment, e.upstream, e.failWget = configuredMark, g.Upstream(2, catalog.SlotA), tc.failWget
			for _, v := range genVolumes(1) {
				e.volumes[v] = !slices.Contains(tc.gone, v)
			}
			if tc.notServing {
				c.ps = []api.ContainerSummary{{ID: "c-db-g2", Service: "db-g2", State: "running"}}
			}
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			twoGenerations(t, r, listen)
			res, err := r.Rollback(t.Context(), 0, UpOptions{})
			if tc.says == "" && err != nil {
				t.Fatal(err)
			}
			if tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)) {
				t.Fatalf("rollback: %v, want it to say %q", err, tc.says)
			}
			if tc.target != nil && !errors.Is(err, tc.target) {
				t.Errorf("rollback: %v, want %v", err, tc.target)
			}
			if !slices.Equal(c.calls, tc.want) {
				t.Errorf("calls = %q\nwant    %q", c.calls, tc.want)
			}
			rec, _ := r.State.Load(st.Name)
			if rec.Active != tc.active || rec.Switch != nil {
				t.Errorf("active %d (switch %+v), want %d", rec.Active, rec.Switch, tc.active)
			}
			if len(e.removed) > 0 {
				t.Errorf("a rollback removed volumes %q", e.removed)
			}
			if tc.active == 1 {
				if res.From != 2 || res.To != 1 || rec.Previous != 2 {
					t.Errorf("result %+v, previous %d: want from 2 to 1, 2 recorded as previous", res, rec.Previous)
				}
				if g1, _ := rec.Gen(1); g1.ActivatedBy != "rollback from 2" {
					t.Errorf("generation 1 activated by %q", g1.ActivatedBy)
				}
			}
			if wantFront := g.Upstream(tc.active, catalog.SlotA); e.upstream != wantFront {
				t.Errorf("the front points at %q, want %q", e.upstream, wantFront)
			}
		})
	}
}

// TestRollbackRefuses: a stack without data has nothing to roll back to, and
// one without an older generation says where to look.
func TestRollbackRefuses(t *testing.T) {
	nginx, _ := catalog.LookupStack("nginx")
	r := Runner{Stack: nginx, Compose: &fakeCompose{}, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
	if _, err := r.Rollback(t.Context(), 0, UpOptions{}); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("rollback of nginx: %v", err)
	}
	st := mustRedmine()
	for _, tc := range []struct {
		name string
		rec  state.State
		to   int
		says string
	}{
		{"never started", state.State{}, 0, "has no generations: start it with 'stackctl up redmine'"},
		{"one generation", state.State{Active: 1, Generations: []state.Generation{{N: 1, Ready: true}}}, 0, "no generation older than the active 1"},
		{"unknown", state.State{Active: 1, Generations: []state.Generation{{N: 1, Ready: true}}}, 7, "has no generation 7"},
		{"unfinished", state.State{Active: 2, Generations: []state.Generation{{N: 1}, {N: 2, Ready: true}}}, 1, "generation 1 of stack redmine was never finished"},
		{"active", state.State{Active: 2, Generations: []state.Generation{{N: 1, Ready: true}, {N: 2, Ready: true}}}, 2, "already the active one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rollbackTarget(st, tc.rec, tc.to)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("rollbackTarget: %v, want %q", err, tc.says)
			}
		})
	}
}

// TestGenerations: each generation with what made it, whether it serves,
// its volumes and their total size, unknown (-1) when one is missing or
// nothing can measure them (a stack never started has no image).
func TestGenerations(t *testing.T) {
	st := mustRedmine()
	e := newScripted()
	e.usage = map[string]engine.VolumeUsage{}
	for gen, sizes := range map[int][]int64{1: {100, 20, 3}, 2: {400, 50, 6}, 3: {7, 8, 9}} {
		for i, v := range genVolumes(gen) {
			e.volumes[v] = !(gen == 3 && i == 1)
			e.usage[v] = engine.VolumeUsage{Bytes: sizes[i]}
		}
	}
	r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	rec := state.State{Profile: catalog.ProfileUpstream, Active: 2}
	rec.PutGen(state.Generation{N: 1, Made: state.MadeFound, Ready: true})
	rec.PutGen(state.Generation{N: 2, Made: state.MadeRestore, Source: "a.tar.zst", Ready: true})
	rec.PutGen(state.Generation{N: 3, Made: state.MadeUpgrade, Source: "6.1", Ready: true})
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	got, err := r.Generations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		what   string
		active bool
		size   int64
	}{{"found", false, 123}, {"restore of a.tar.zst", true, 456}, {"upgrade 6.1", false, -1}}
	if len(got) != len(want) {
		t.Fatalf("%d generations, want %d", len(got), len(want))
	}
	for i, w := range want {
		if g := got[i]; g.What != w.what || g.Active != w.active || g.Size != w.size || !slices.Equal(g.Volumes, genVolumes(g.N)) {
			t.Errorf("generation %d: %q active %v size %d volumes %q; want %q %v %d", g.N, g.What, g.Active, g.Size, g.Volumes, w.what, w.active, w.size)
		}
	}
	rec.Profile = "" // never started: no image to measure with
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	got, _ = r.Generations(t.Context())
	for _, g := range got {
		if g.Size != -1 {
			t.Errorf("generation %d measured (%d) with no image", g.N, g.Size)
		}
	}
	nginx, _ := catalog.LookupStack("nginx")
	if _, err := r.For(nginx).Generations(t.Context()); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("generations of nginx: %v", err)
	}
}

// TestPruneRemoves: prune removes what its plan says, containers, volumes
// and record, and says so; the kept generations stay whole.
func TestPruneRemoves(t *testing.T) {
	st := mustRedmine()
	e := newScripted()
	c := &fakeCompose{}
	var log bytes.Buffer
	r := Runner{Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir()), Report: report.New(&log, report.Options{})}
	rec := state.State{Profile: catalog.ProfileUpstream, Active: 2}
	for n := 1; n <= 3; n++ {
		rec.PutGen(state.Generation{N: n, Made: state.MadeRestore, Source: "a.tar.zst", Ready: true})
	}
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	res, err := r.For(st).Prune(t.Context(), 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Kept, []int{3, 2}) || len(res.Removed) != 1 || res.Removed[0].N != 1 {
		t.Fatalf("kept %v, removed %+v; want 3 and 2 kept, 1 removed", res.Kept, res.Removed)
	}
	if !slices.Equal(e.removed, genVolumes(1)) || !slices.Equal(c.calls, []string{"remove db,redmine,redmine-b"}) {
		t.Errorf("volumes removed %q, calls %q; want generation 1's alone", e.removed, c.calls)
	}
	got, _ := r.State.Load(st.Name)
	if _, ok := got.Gen(1); ok || len(got.Generations) != 2 {
		t.Errorf("recorded after prune: %+v", got.Generations)
	}
	if !strings.Contains(log.String(), "removing generation 1 (restore of a.tar.zst)") {
		t.Errorf("log %q does not say what goes", log.String())
	}
}

// copierSeed is an upgrade's copy: it fills from the active generation alone.
type copierSeed struct{ seedRecorder }

func (copierSeed) CopiesActive() bool { return true }

// TestNewGenerationRefusesLeftovers: a volume of the new generation that
// exists already is refused, with what to do, before anything is recorded or
// created, unless an operator made it for it (no compose label, empty).
func TestNewGenerationRefusesLeftovers(t *testing.T) {
	st := mustRedmine()
	db2 := genVolumes(2)[0]
	for _, tc := range []struct {
		name   string
		labels map[string]string
		empty  bool
		// refused, else the seed's check is reached (and fails on purpose).
		refused bool
	}{
		{name: "made by compose", labels: map[string]string{api.ProjectLabel: "stackctl-redmine"}, empty: true, refused: true},
		{name: "made by hand, holding data", labels: map[string]string{}, refused: true},
		{name: "made by hand, empty", labels: map[string]string{}, empty: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{fail: "seed check"}
			e := newScripted()
			e.comment = configuredMark
			e.volumes[genVolumes(1)[0]], e.volumes[db2] = true, true
			e.labels = map[string]map[string]string{db2: tc.labels}
			e.usage = map[string]engine.VolumeUsage{db2: {Empty: tc.empty}}
			var log bytes.Buffer
			r := Runner{Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir()), Report: report.New(&log, report.Options{})}
			_, err := r.For(st).NewGeneration(t.Context(), seedRecorder{c: c}, state.MadeRestore, "a.tar.zst", UpOptions{Profile: catalog.ProfileUpstream})
			if err == nil {
				t.Fatal("made a generation")
			}
			if refused := errors.Is(err, errs.ErrInvalidInput) && strings.Contains(err.Error(), "'docker volume rm "+db2+"'"); refused != tc.refused {
				t.Errorf("error %v: refused %v, want %v", err, refused, tc.refused)
			}
			if reached := slices.Contains(c.calls, "seed check"); reached == tc.refused {
				t.Errorf("calls %q: the seed's check reached %v", c.calls, reached)
			}
			if !tc.refused && !strings.Contains(log.String(), "made outside stackctl and empty") {
				t.Errorf("log %q does not say the operator's volume is used", log.String())
			}
			if slices.Contains(c.calls, "create") || len(e.removed) > 0 {
				t.Errorf("calls %q, volumes removed %q: nothing may change", c.calls, e.removed)
			}
			if rec, _ := r.State.Load(st.Name); len(rec.Generations) != 1 {
				t.Errorf("generations recorded %+v, want generation 1 alone", rec.Generations)
			}
		})
	}
	nginx, _ := catalog.LookupStack("nginx")
	r := Runner{Stack: nginx, Compose: &fakeCompose{}, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
	if _, err := r.NewGeneration(t.Context(), nil, state.MadeRestore, "", UpOptions{}); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("a generation of nginx: %v", err)
	}
}

// TestNewGenerationDiscards: a generation whose creation fails is removed,
// its record first made, then dropped, and its volumes removed.
func TestNewGenerationDiscards(t *testing.T) {
	st := mustRedmine()
	c := &fakeCompose{fail: "create"}
	e := newScripted()
	e.comment = configuredMark
	e.volumes[genVolumes(1)[0]] = true
	r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	_, err := r.NewGeneration(t.Context(), seedRecorder{c: c}, state.MadeRestore, "a.tar.zst", UpOptions{Profile: catalog.ProfileUpstream})
	if err == nil || !strings.Contains(err.Error(), "creating generation 2 of redmine") {
		t.Fatalf("NewGeneration: %v", err)
	}
	if want := []string{"build", "seed check", "create", "remove db-g2,redmine-g2"}; !slices.Equal(c.calls, want) {
		t.Errorf("calls %q, want %q", c.calls, want)
	}
	if !slices.Equal(e.removed, genVolumes(2)) {
		t.Errorf("volumes removed %q, want generation 2's", e.removed)
	}
	if rec, _ := r.State.Load(st.Name); len(rec.Generations) != 1 || rec.Active != 1 {
		t.Errorf("after the failure: active %d, generations %+v", rec.Active, rec.Generations)
	}
}

// TestNewGenerationCarriesTheMark: a copy of the active data carries its
// first start's mark over and runs no first start; data from elsewhere that
// lacks the mark gets its first start, on the new generation.
func TestNewGenerationCarriesTheMark(t *testing.T) {
	st := mustRedmine()
	for _, tc := range []struct {
		name       string
		copier     bool
		firstStart bool
	}{
		{name: "copy of the active data", copier: true},
		{name: "restore", firstStart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{}
			e := newScripted()
			e.marked = map[string]bool{"c-db": true}
			e.upstream = st.Generations.Upstream(1, catalog.SlotA)
			e.volumes[genVolumes(1)[0]] = true
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			var seed Seed = seedRecorder{c: c}
			if tc.copier {
				seed = copierSeed{seedRecorder{c: c}}
			}
			res, err := r.NewGeneration(t.Context(), seed, state.MadeUpgrade, "6.1", UpOptions{Profile: catalog.ProfileUpstream})
			if err != nil {
				t.Fatal(err)
			}
			if res.From != 1 || res.Gen != 2 || !res.Switched {
				t.Errorf("result %+v: want a switch from 1 to 2", res)
			}
			if !e.marked["c-db-g2"] {
				t.Error("generation 2's database is not marked")
			}
			ran := slices.Contains(e.execs, "c-redmine-g2 /docker-entrypoint.sh")
			if ran != tc.firstStart || len(e.execs) > 1 {
				t.Errorf("execs %q: first start on generation 2 ran %v, want %v", e.execs, ran, tc.firstStart)
			}
		})
	}
}
