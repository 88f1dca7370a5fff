package stack

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/https"
	"github.com/stackctl/stackctl/internal/state"
)

// steps is a plan's steps as "action target", for comparing.
func steps(p Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Action+" "+s.Target)
	}
	return out
}

// servingRunner is the redmine stack serving generation 1 as the model has
// it, its images built from the contexts as they are, but for the services
// in stale, whose images were built from another context.
func servingRunner(t *testing.T, stale ...string) (Runner, *fakeCompose, *scriptedEngine) {
	t.Helper()
	st := mustRedmine()
	c, e := &fakeCompose{}, newScripted()
	e.volumes[genVolumes(1)[0]] = true
	r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	rec := state.State{Profile: catalog.ProfileUpstream, Listen: catalog.DefaultListen, Active: 1}
	rec.PutGen(state.Generation{N: 1, Made: state.MadeFirstStart, Ready: true})
	if err := r.State.Save(st.Name, rec); err != nil {
		t.Fatal(err)
	}
	running(t, r, c, e.fakeEngine, st, nil, nil)
	p, err := r.load(t.Context(), catalog.ProfileUpstream, catalog.DefaultListen, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := stampBuilds(p); err != nil {
		t.Fatal(err)
	}
	e.imageLabels = map[string]map[string]string{}
	for name, svc := range p.Services {
		if svc.Build == nil {
			continue
		}
		label := svc.Build.Labels[catalog.ContextLabel]
		if slices.Contains(stale, name) {
			label = "another context"
		}
		e.imageLabels[svc.Image] = map[string]string{catalog.ContextLabel: label}
	}
	return r, c, e
}

// TestPlanUpObserves: up's plan is computed from what runs, the images and
// the state, and changes nothing: no SDK call but listing, no record.
func TestPlanUpObserves(t *testing.T) {
	st := mustRedmine()
	for _, tc := range []struct {
		name   string
		runner func(t *testing.T) (Runner, *fakeCompose, *scriptedEngine)
		want   []string
		// changes is Plan.Changes(); app is what serves afterwards.
		changes bool
		app     string
	}{
		{name: "fresh engine", changes: true, app: "redmine", runner: func(t *testing.T) (Runner, *fakeCompose, *scriptedEngine) {
			c, e := &fakeCompose{ps: []api.ContainerSummary{}}, newScripted()
			return Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}, c, e
		}, want: []string{
			"build stackctl/nginx:upstream", "build stackctl/redmine:upstream",
			"create db", "create edge", "create nginx", "create redmine",
			"first-start redmine", "point-front generation 1",
		}},
		{name: "serving, nothing changed", app: "redmine", runner: func(t *testing.T) (Runner, *fakeCompose, *scriptedEngine) {
			return servingRunner(t)
		}, want: []string{"none nothing changes"}},
		{name: "serving, theme changed", changes: true, app: "redmine-b", runner: func(t *testing.T) (Runner, *fakeCompose, *scriptedEngine) {
			return servingRunner(t, "redmine")
		}, want: []string{"build stackctl/redmine:upstream", "hand-over redmine -> redmine-b"}},
		{name: "serving HTTPS, kept", app: "redmine", runner: func(t *testing.T) (Runner, *fakeCompose, *scriptedEngine) {
			r, c, e := servingRunner(t)
			r.HTTPS = https.Config{Mode: https.ModeSelfSigned}
			e.tls = map[string]string{tlsStamp: "abc\n"}
			return r, c, e
		}, want: []string{"none nothing changes", "https kept"}},
		{name: "serving, HTTPS turned on", changes: true, app: "redmine", runner: func(t *testing.T) (Runner, *fakeCompose, *scriptedEngine) {
			r, c, e := servingRunner(t)
			r.HTTPS = https.Config{Mode: https.ModeSelfSigned}
			e.tls = map[string]string{}
			return r, c, e
		}, want: []string{"https on"}},
		{name: "serving HTTPS, turned off", changes: true, app: "redmine", runner: func(t *testing.T) (Runner, *fakeCompose, *scriptedEngine) {
			r, c, e := servingRunner(t)
			e.tls = map[string]string{tlsStamp: "abc\n"}
			return r, c, e
		}, want: []string{"https off"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, c, _ := tc.runner(t)
			before, _ := os.ReadFile(filepath.Join(string(r.State), st.Name, "state.json"))
			p, err := r.PlanUp(t.Context(), UpOptions{Profile: catalog.ProfileUpstream})
			if err != nil {
				t.Fatal(err)
			}
			if got := steps(p); !slices.Equal(got, tc.want) {
				t.Errorf("steps %q\nwant  %q", got, tc.want)
			}
			if p.Changes() != tc.changes || p.Serves.App != tc.app || p.Where != OnEngine || p.Profile != catalog.ProfileUpstream {
				t.Errorf("changes %v, serves %s, on %s, profile %s; want changes %v, serves %s", p.Changes(), p.Serves.App, p.Where, p.Profile, tc.changes, tc.app)
			}
			after, _ := os.ReadFile(filepath.Join(string(r.State), st.Name, "state.json"))
			if len(c.calls) > 0 || !bytes.Equal(before, after) {
				t.Errorf("the plan changed something: calls %q, state %s -> %s", c.calls, before, after)
			}
		})
	}
}

// TestPlanUpLeftovers: what a stopped stackctl left comes first in the
// plan, as recovery would find it: the switch, an unfinished generation,
// containers in the other slots or of other generations, an upgrade.
func TestPlanUpLeftovers(t *testing.T) {
	st := mustRedmine()
	r, c, _ := servingRunner(t)
	for _, svc := range []string{"nginx-b", "redmine-b", "db-g2"} {
		c.ps = append(c.ps, api.ContainerSummary{ID: "c-" + svc, Service: svc, State: "running"})
	}
	if err := r.State.Update(st.Name, func(rec *state.State) error {
		rec.Switch = &state.Switch{From: 1, To: 2, Why: "restore of a.tar.zst"}
		rec.PutGen(state.Generation{N: 2, Made: state.MadeRestore, Source: "a.tar.zst"})
		rec.PutGen(state.Generation{N: 3, Made: state.MadeRestore, Ready: true}) // whole: not a leftover
		rec.Upgrade = &state.Upgrade{From: 1, ToVersion: "6.0", Step: "backup"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	p, err := r.PlanUp(t.Context(), UpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"recover the switch from generation 1 to 2 (restore of a.tar.zst)",
		"remove generation 2 (restore of a.tar.zst)",
		"remove nginx-b", "remove redmine-b", "remove db-g2",
		"recover the upgrade to 6.0",
	}
	if got := steps(p); !slices.Equal(got, want) {
		t.Errorf("steps %q\nwant  %q", got, want)
	}
	nginx, _ := catalog.LookupStack("nginx")
	if l, err := r.For(nginx).leftovers(t.Context(), state.State{}); l != nil || err != nil {
		t.Errorf("leftovers of nginx: %v, %v", l, err)
	}
}

// TestForeseeBases: a debian base is built when missing, built from another
// recipe, or asked for; one built from its recipe is not.
func TestForeseeBases(t *testing.T) {
	st := mustRedmine()
	rel, err := catalog.LookupRelease("")
	if err != nil {
		t.Fatal(err)
	}
	bases := st.BasesFor(rel)
	if len(bases) == 0 {
		t.Fatal("redmine has no debian bases")
	}
	for _, tc := range []struct {
		name    string
		label   func(b catalog.Base) map[string]string
		rebuild Rebuild
		why     string
	}{
		{name: "missing", why: "not built yet, from the Debian mirror with mmdebstrap"},
		{name: "another recipe", label: func(catalog.Base) map[string]string { return map[string]string{basebuild.LabelRecipe: "old"} }, why: "built from another recipe"},
		{name: "current", label: func(b catalog.Base) map[string]string {
			return map[string]string{basebuild.LabelRecipe: b.Recipe.Hash()}
		}},
		{name: "asked for", label: func(b catalog.Base) map[string]string {
			return map[string]string{basebuild.LabelRecipe: b.Recipe.Hash()}
		},
			rebuild: Rebuild{All: true}, why: "--rebuild-bases"},
		{name: "with fixes pending", label: func(b catalog.Base) map[string]string {
			return map[string]string{basebuild.LabelRecipe: b.Recipe.Hash()}
		},
			rebuild: Rebuild{Bases: map[string]string{"redmine": "fixes", "postgres": "fixes", "nginx": "fixes"}}, why: "fixes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newScripted()
			if tc.label != nil {
				e.imageLabels = map[string]map[string]string{}
				for _, b := range bases {
					e.imageLabels[b.DebianRef()] = tc.label(b)
				}
			}
			r := Runner{Stack: st, Engine: e}
			got, err := r.foreseeBases(t.Context(), "", tc.rebuild)
			if err != nil {
				t.Fatal(err)
			}
			var want []change
			if tc.why != "" {
				for _, b := range bases {
					want = append(want, change{b.DebianRef(), tc.why})
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	if _, err := (Runner{Stack: st, Engine: newScripted()}).foreseeBases(t.Context(), "no-such-release", Rebuild{}); err == nil {
		t.Error("an unknown release was foreseen")
	}
}

// TestRoleOf: each service as the project runs it has its role in the plan.
func TestRoleOf(t *testing.T) {
	st := mustRedmine()
	nginx, _ := catalog.LookupStack("nginx")
	for svc, want := range map[string]string{
		"edge": "edge", "nginx": "front", "nginx-b": "front", "redmine": "app", "redmine-g3-b": "app",
		"db": "database", "db-g2": "database", "nginx-c": "",
	} {
		if got := roleOf(st, svc); got != want {
			t.Errorf("roleOf(%s) = %q, want %q", svc, got, want)
		}
	}
	if got := roleOf(nginx, "nginx"); got != "" {
		t.Errorf("the nginx stack's nginx has role %q", got)
	}
}
