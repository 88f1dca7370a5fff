package upgrade

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
)

// update reports -update: rewrite the golden plans. A test helper linked in
// through the Compose SDK may define the flag already; share it.
var update = func() func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden plans in testdata/plans")
	}
	return func() bool { return flag.Lookup("update").Value.String() == "true" }
}()

// copyPlan is the stack's plan of an upgrade's copy of generation 1 into
// generation 2 on release 6.1, as internal/stack makes it (its golden
// restore-upgrade-copy.txt), with the steps before it given.
func copyPlan(before ...stack.Step) stack.Plan {
	steps := append(before,
		stack.Step{Action: "make", Target: "generation 2 (upgrade of generation 1, Redmine 6.0.5 with PostgreSQL 17 to Redmine 6.1.5 with PostgreSQL 18), beside generation 1, which keeps serving",
			Why: "on release 6.1; recorded before its first volume is made, so that the next command removes what a stopped stackctl left of it"},
		stack.Step{Action: "create", Target: "volume stackctl-redmine_db-data-g2"},
		stack.Step{Action: "create", Target: "volume stackctl-redmine_redmine-files-g2"},
		stack.Step{Action: "create", Target: "volume stackctl-redmine_redmine-plugins-g2"},
		stack.Step{Action: "start", Target: "db-g2", Why: "alone, a fresh PostgreSQL on its new volume"},
		stack.Step{Action: "copy", Target: "volume stackctl-redmine_db-data-g2", Why: "from generation 1 as a backup reads it: a pg_dump snapshot, restored into the new PostgreSQL"},
		stack.Step{Action: "copy", Target: "volume stackctl-redmine_redmine-files-g2", Why: "from generation 1 as a backup reads it: a tar stream from its running container"},
		stack.Step{Action: "copy", Target: "volume stackctl-redmine_redmine-plugins-g2", Why: "from generation 1 as a backup reads it: a tar stream from its running container"},
		stack.Step{Action: "start", Target: "generation 2 (db-g2, redmine-g2)",
			Why: "privately, beside generation 1: healthy; the site's settings written into its database; the first start's mark is carried over from generation 1"},
		stack.Step{Action: "migrate", Target: "redmine-g2", Why: "Redmine's and its plugins' migrations (db:migrate) run as it first starts on release 6.1"},
		stack.Step{Action: "check", Target: "redmine-g2", Why: "a smoke check from nginx's container: the login page and one API read of its data"},
		stack.Step{Action: "point-front", Target: "generation 2", Why: "nginx at redmine-g2, its configuration checked and reloaded gracefully: requests under way finish"},
		stack.Step{Action: "stop", Target: "generation 1 (db, redmine)",
			Why: "its containers removed once nginx's old workers are done; its volumes kept: 'stackctl rollback redmine' returns to it"})
	return stack.Plan{Stack: "redmine", Where: stack.OnEngine, Profile: catalog.ProfileDebian, ProfileReason: "recorded when the stack was first started",
		Steps: steps, Serves: stack.Serves{Generation: 2, App: "redmine-g2", Front: "nginx"}}
}

// TestPlanUpgrade keeps an upgrade's plan as its text says it, in
// testdata/plans/<case>.txt (go test ./internal/upgrade -update rewrites
// them): what 'upgrade --dry-run' prints and what the upgrade then does.
func TestPlanUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name string
		obs  observation
	}{
		{name: "upgrade", obs: observation{From: 1, FromVersion: "Redmine 6.0.5 with PostgreSQL 17", ToVersion: "Redmine 6.1.5 with PostgreSQL 18",
			Backup: "/var/backups/stackctl", Copy: copyPlan()}},
		{name: "upgrade-after-a-killed-one", obs: observation{From: 1, FromVersion: "Redmine 6.0.5 with PostgreSQL 17", ToVersion: "Redmine 6.1.5 with PostgreSQL 18",
			Backup: "/var/backups/stackctl", Copy: copyPlan(
				stack.Step{Action: "remove", Target: "generation 2 (upgrade of generation 1, Redmine 6.0.5 with PostgreSQL 17 to Redmine 6.1.5 with PostgreSQL 18)", Why: "a stopped stackctl never finished it"},
				stack.Step{Action: "recover", Target: "the upgrade to Redmine 6.1.5 with PostgreSQL 18", Why: "stopped at its step \"copy into a new generation, migrations and switch\": the tracker opens again"},
				stack.Step{Action: "build-base", Target: "stackctl/base-postgres:trixie-18", Why: "not built yet, from the Debian mirror with mmdebstrap"},
				stack.Step{Action: "build", Target: "stackctl/redmine:debian-6.1", Why: "not built yet"})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planUpgrade(tc.obs)
			var got bytes.Buffer
			if err := p.WriteText(&got); err != nil {
				t.Fatal(err)
			}
			if _, err := json.Marshal(p); err != nil {
				t.Errorf("--json: %v", err)
			}
			golden := filepath.Join("testdata", "plans", tc.name+".txt")
			if update() {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v: run go test ./internal/upgrade -run TestPlanUpgrade -update", err)
			}
			if got.String() != string(want) {
				t.Errorf("plan differs from %s (-update rewrites it):\n%s", golden, got.String())
			}
			if !p.Outage.Closes || p.Serves != tc.obs.Copy.Serves || p.Steps[len(p.Steps)-1].Action != "open" {
				t.Errorf("outage %+v, serves %+v, last step %+v: want closed, the copy's generation serving, opened last", p.Outage, p.Serves, p.Steps[len(p.Steps)-1])
			}
		})
	}
}
