package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
)

// dryRunOf runs 'stackctl ARGS --dry-run --json' in dir (up, restore-volumes,
// rollback, upgrade) and returns the plan, after checking that the text form
// says the same steps.
func dryRunOf(t *testing.T, env []string, dir string, args ...string) stack.Plan {
	t.Helper()
	r := mustRunIn(t, dir, env, append(append([]string{}, args...), "--dry-run", "--json")...)
	var p stack.Plan
	if err := json.Unmarshal([]byte(r.stdout), &p); err != nil {
		t.Fatalf("%s --dry-run --json: %v\n%s", args[0], err, r.stdout)
	}
	text := mustRunIn(t, dir, env, append(append([]string{}, args...), "--dry-run")...).stdout
	t.Logf("plan:\n%s", text)
	for _, s := range p.Steps {
		if !strings.Contains(text, s.Action) || !strings.Contains(text, s.Target) {
			t.Errorf("%s --dry-run's text lacks the step %s %s of its JSON:\n%s", args[0], s.Action, s.Target, text)
		}
	}
	return p
}

// wantStepsLike fails unless p has, for each pair, a step of that action
// whose target begins with the given text.
func wantStepsLike(t *testing.T, p stack.Plan, steps ...[2]string) {
	t.Helper()
	for _, w := range steps {
		found := false
		for _, s := range p.Steps {
			found = found || s.Action == w[0] && strings.HasPrefix(s.Target, w[1])
		}
		if !found {
			t.Errorf("the plan has no step %s %s…: %+v", w[0], w[1], p.Steps)
		}
	}
}

// wantOutage fails unless p's outage is the one named: "none", "closes",
// "refuses" or "stops".
func wantOutage(t *testing.T, p stack.Plan, want string) {
	t.Helper()
	o, got := p.Outage, "none"
	switch {
	case o.Closes:
		got = "closes"
	case o.Refuses:
		got = "refuses"
	case o.Stops:
		got = "stops"
	}
	if got != want {
		t.Errorf("the plan's outage %+v: %s, want %s", o, got, want)
	}
}

// swarmServesAsPlanned fails unless the Redmine stack on the swarm (its
// manager mgr) runs what plan said it would: its application's service, on
// the database of the generation it named.
func swarmServesAsPlanned(t *testing.T, mgr client.APIClient, p stack.Plan) {
	t.Helper()
	ctx := context.Background()
	if _, err := mgr.ServiceInspect(ctx, p.Serves.App, client.ServiceInspectOptions{}); err != nil {
		t.Errorf("the plan said %s serves: %v", p.Serves.App, err)
	}
	db, err := mgr.ServiceInspect(ctx, redmineProject(t)+"_db", client.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := catalog.VolumeName(redmineProject(t), "db-data", p.Serves.Generation)
	var got []string
	for _, m := range db.Service.Spec.TaskTemplate.ContainerSpec.Mounts {
		if m.Source == want {
			return
		}
		got = append(got, m.Source)
	}
	t.Errorf("the database runs on %v, the plan said generation %d's %s", got, p.Serves.Generation, want)
}
