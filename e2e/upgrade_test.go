package e2e

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// TestUpgrade: a Redmine 6.0.5 / PostgreSQL 17 stack with data (over 1,000
// issues with a custom field, wiki pages, 57 MB of attachments, a theme)
// upgraded to 6.1.5 / PostgreSQL 18 on the debian profile, behind the
// maintenance page: a probe every 100 ms sees 200s and our 503 page, never
// anything else; every record and attachment byte is served afterwards; then
// a rollback serves 6.0.5, PostgreSQL 17 and the data again. Before it, the
// upgrades that must be refused (nothing changes) and those that fail or are
// killed half way (the old version serves, the data as it was).
func TestUpgrade(t *testing.T) {
	shares(t)
	api := dockerAPI(t)
	root := copyProject(t)
	state := t.TempDir()
	backups := t.TempDir()
	env := []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + state, "STACKCTL_DIR=" + root, "STACKCTL_BACKUP_DIR=" + backups}
	freshStack(t, env, "redmine")

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	up := mustRun(t, env, "up", "redmine", "--profile", "debian", "--listen", listen, "--timeout", "15m")
	rm := &redmine{t: t, base: strings.TrimSpace(up.stdout), password: readSecrets(t, filepath.Join(instanceState(t, state), "redmine", "secrets"))["admin_password"]}
	want := populate(t, rm)
	bulk(t, api, rm, 1000)
	mustRun(t, env, "check-theme", "--theme", "harbor", "--apply")
	before := snapshot(t, rm)
	versions := func(t *testing.T, redmine, postgres string) {
		t.Helper()
		var s struct {
			Redmine, Postgres string
			Maintenance       bool
		}
		if err := json.Unmarshal([]byte(mustRun(t, env, "status", "redmine", "--json").stdout), &s); err != nil {
			t.Fatal(err)
		}
		if s.Redmine != redmine || !strings.HasPrefix(s.Postgres, postgres+".") || s.Maintenance {
			t.Fatalf("status: Redmine %s, PostgreSQL %s, maintenance %v; want %s, %s.x, open", s.Redmine, s.Postgres, s.Maintenance, redmine, postgres)
		}
	}
	unchanged := func(t *testing.T, what string) {
		t.Helper()
		versions(t, "6.0.5", "17")
		if got := snapshot(t, rm); got != before {
			t.Fatalf("after %s the data differs from before", what)
		}
	}
	upgrade := func(args ...string) result {
		return stackctl(t, env, append([]string{"upgrade", "redmine", "--yes"}, args...)...)
	}
	plugins := "/usr/src/redmine/plugins/"

	// Refused before anything changes (exit 24).
	for _, tc := range []struct{ to, says string }{
		{"9.9", "no release of Redmine 9.9"},
		{"6.0.5", "runs Redmine 6.0.5 with PostgreSQL 17 already"},
	} {
		if r := upgrade("--to", tc.to); r.code != 24 || !strings.Contains(r.stderr, tc.says) {
			t.Errorf("upgrade --to %s: exit %d, want 24 saying %q:\n%s", tc.to, r.code, tc.says, r.stderr)
		}
		if r := upgrade("--to", tc.to, "--dry-run"); r.code != 24 || !strings.Contains(r.stderr, tc.says) || r.stdout != "" {
			t.Errorf("upgrade --to %s --dry-run: exit %d, want 24 saying %q and no plan:\n%s%s", tc.to, r.code, tc.says, r.stderr, r.stdout)
		}
	}
	if r := upgrade("--to", "6.1.5", "--postgres", "17"); r.code != 24 || !strings.Contains(r.stderr, "comes with PostgreSQL 18") {
		t.Errorf("upgrade --postgres 17: exit %d, want 24:\n%s", r.code, r.stderr)
	}
	if r := upgrade("--to", "6.1.5", "--postgres", "17", "--dry-run"); r.code != 24 || !strings.Contains(r.stderr, "comes with PostgreSQL 18") {
		t.Errorf("upgrade --postgres 17 --dry-run: exit %d, want 24:\n%s", r.code, r.stderr)
	}
	execIn(t, api, activeRedmine(t, api), "sh", "-c", "mkdir -p "+plugins+"legacy_tool && printf '%s\\n' "+
		`"Redmine::Plugin.register :legacy_tool do" "  requires_redmine version: '6.0'" "end" > `+plugins+"legacy_tool/init.rb")
	if r := upgrade("--to", "6.1.5"); r.code != 24 || !strings.Contains(r.stderr, "legacy_tool (requires_redmine version: '6.0')") {
		t.Errorf("upgrade with a plugin for 6.0 only: exit %d, want 24 naming it:\n%s", r.code, r.stderr)
	}
	if r := upgrade("--to", "6.1.5", "--dry-run"); r.code != 24 || !strings.Contains(r.stderr, "legacy_tool (requires_redmine version: '6.0')") {
		t.Errorf("upgrade --dry-run with a plugin for 6.0 only: exit %d, want 24 naming it:\n%s", r.code, r.stderr)
	}
	execIn(t, api, activeRedmine(t, api), "rm", "-r", plugins+"legacy_tool")
	unchanged(t, "the refusals")

	// A plugin whose migration fails on the new version: the upgrade fails
	// (exit 25) at the copy step, the old version serves throughout.
	execIn(t, api, activeRedmine(t, api), "sh", "-c", "mkdir -p "+plugins+"stackctl_breaks/db/migrate && printf '%s\\n' "+
		`"Redmine::Plugin.register :stackctl_breaks do" "  requires_redmine version_or_higher: '6.0'" "end" > `+plugins+"stackctl_breaks/init.rb && "+
		`printf '%s\n' "class Breaks < ActiveRecord::Migration[7.2]" "  def up = raise('a plugin migration that fails, on purpose')" "end" > `+
		plugins+"stackctl_breaks/db/migrate/001_breaks.rb")
	p := startMaintenanceProbe(rm.base + "projects/harbour")
	r := upgrade("--to", "6.1.5", "--timeout", "5m")
	requests, failures := p.stop()
	t.Logf("failing upgrade: %d requests, %d maintenance pages, %d failed", requests, p.closed, len(failures))
	if r.code != 25 || !strings.Contains(r.stderr, "at step 4") || !strings.Contains(r.stderr, "the pre-upgrade backup is "+backups) {
		t.Errorf("upgrade with a failing plugin migration: exit %d, want 25 naming step 4 and the backup:\n%s", r.code, r.stderr)
	}
	if len(failures) > 0 {
		t.Errorf("probe during the failed upgrade: %d of %d requests failed: %v", len(failures), requests, failures)
	}
	execIn(t, api, activeRedmine(t, api), "rm", "-r", plugins+"stackctl_breaks")
	unchanged(t, "a failed upgrade")

	// stackctl killed while it copies: the next command opens the stack again
	// and says where it stands.
	killAt(t, env, "upgrade redmine: step 4/6", "upgrade", "redmine", "--to", "6.1.5", "--yes")
	next := mustRun(t, env, "up", "redmine")
	if !strings.Contains(next.stderr, "the upgrade from Redmine 6.0.5 with PostgreSQL 17 to Redmine 6.1.5 with PostgreSQL 18 was stopped") {
		t.Errorf("the command after a killed upgrade does not say where the stack stands:\n%s", next.stderr)
	}
	unchanged(t, "a killed upgrade")

	// Killed after the switch, before maintenance ends: the next command opens
	// the stack, which serves the new version, and says how to return.
	killAt(t, env, "upgrade redmine: step 5/6", "upgrade", "redmine", "--to", "6.1.5", "--yes")
	next = mustRun(t, env, "up", "redmine")
	if !strings.Contains(next.stderr, "after the switch") || !strings.Contains(next.stderr, "'stackctl rollback redmine --to 1'") {
		t.Errorf("the command after an upgrade killed after its switch does not say where the stack stands:\n%s", next.stderr)
	}
	versions(t, "6.1.5", "18")
	if got := snapshot(t, rm); got != before {
		t.Error("after an upgrade killed after its switch the data differs from before")
	}
	back := dryRunOf(t, env, projectRoot, "rollback", "redmine", "--to", "1")
	wantStepsLike(t, back, [2]string{"start", "generation 1 (db, redmine"}, [2]string{"point-front", "generation 1"})
	wantOutage(t, back, "none")
	mustRun(t, env, "rollback", "redmine", "--to", "1")
	unchanged(t, "a rollback after an upgrade killed after its switch")
	servesAsPlanned(t, api, back)

	// The upgrade, as its plan says: a new generation on 6.1 behind the
	// maintenance page, Redmine's migrations, then open.
	plan := dryRunOf(t, env, projectRoot, "upgrade", "redmine", "--to", "6.1.5")
	wantSteps(t, plan, false, [2]string{"backup", filepath.Join(backups, "pre-upgrade")}, [2]string{"close", "the tracker"},
		[2]string{"migrate", plan.Serves.App}, [2]string{"point-front", fmt.Sprintf("generation %d", plan.Serves.Generation)}, [2]string{"open", "the tracker"})
	wantOutage(t, plan, "closes")
	unchanged(t, "upgrade --dry-run")
	p = startMaintenanceProbe(rm.base + "projects/harbour")
	start := time.Now()
	r = mustRun(t, env, "upgrade", "redmine", "--to", "6.1.5", "--yes")
	// Open once upgrade returns: no late maintenance page from nginx's old workers.
	rm.do("GET", "/projects/harbour", "", 200)
	requests, failures = p.stop()
	t.Logf("upgrade: %s; probe: %d requests, %d maintenance pages (about %.1f s), %d failed",
		time.Since(start).Round(100*time.Millisecond), requests, p.closed, float64(p.closed)/10, len(failures))
	if len(failures) > 0 || p.closed == 0 {
		t.Errorf("probe during the upgrade: %d of %d requests failed (%v), %d maintenance pages", len(failures), requests, failures, p.closed)
	}
	versions(t, "6.1.5", "18")
	if got := snapshot(t, rm); got != before {
		t.Error("after the upgrade the data differs from before")
	}
	if got := activeGen(t, env); got != plan.Serves.Generation {
		t.Errorf("the upgrade made generation %d active, the plan said %d", got, plan.Serves.Generation)
	}
	servesAsPlanned(t, api, plan)
	want.check(t, rm)
	mustRun(t, env, "check-theme")
	if r := upgrade("--to", "6.0.5"); r.code != 24 || !strings.Contains(r.stderr, "cannot migrate a database down") {
		t.Errorf("a downgrade: exit %d, want 24:\n%s", r.code, r.stderr)
	}

	// Rollback: the old version and its data, without a failed request; the
	// generation that served before (1), not the newest older one (2, made by
	// the upgrade killed after its switch).
	back = dryRunOf(t, env, projectRoot, "rollback", "redmine")
	if back.Serves.Generation != 1 {
		t.Errorf("the rollback's plan returns to generation %d, want 1, the one that served before", back.Serves.Generation)
	}
	wantOutage(t, back, "none")
	p = startProbe(rm.base + "projects/harbour")
	start = time.Now()
	mustRun(t, env, "rollback", "redmine")
	requests, failures = p.stop()
	t.Logf("rollback: %s; probe: %d requests, %d failed", time.Since(start).Round(100*time.Millisecond), requests, len(failures))
	if len(failures) > 0 {
		t.Errorf("probe during the rollback: %d of %d requests failed: %v", len(failures), requests, failures)
	}
	unchanged(t, "the rollback")
	servesAsPlanned(t, api, back)
	want.check(t, rm)
}

// bulk adds a custom field (Redmine's API cannot make one: the Rails console
// does), n issues that carry it, and wiki pages.
func bulk(t *testing.T, api client.APIClient, rm *redmine, n int) {
	t.Helper()
	execIn(t, api, activeRedmine(t, api), "/docker-entrypoint.sh", "rails", "runner",
		`IssueCustomField.create!(name: "Berth", field_format: "string", is_for_all: true, is_filter: true, trackers: Tracker.all)`)
	var fields struct {
		CustomFields []struct {
			ID   int
			Name string
		} `json:"custom_fields"`
	}
	rm.json(rm.do("GET", "/custom_fields.json", "", 200), &fields)
	berth := 0
	for _, f := range fields.CustomFields {
		if f.Name == "Berth" {
			berth = f.ID
		}
	}
	if berth == 0 {
		t.Fatalf("the custom field was not made: %+v", fields)
	}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for i := range work {
				rm.do("POST", "/issues.json", fmt.Sprintf(`{"issue":{"project_id":"lighthouse","subject":"Buoy %04d needs a new lamp",
					"description":"Reported from the pier.\n\nLamp *%d* flickers.","custom_fields":[{"id":%d,"value":"Berth %d"}]}}`, i, i, berth, i%40), 201)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	for i := range 5 {
		rm.do("PUT", fmt.Sprintf("/projects/lighthouse/wiki/Log_%d.json", i), fmt.Sprintf(`{"wiki_page":{"text":"h1. Log %d\n\nAll lamps checked."}}`, i), 201)
	}
}

// snapshot reads every issue (with its custom fields) and every wiki page
// through the REST API, and hashes what the tracker holds: fields that a newer
// Redmine adds to its answers are left out.
func snapshot(t *testing.T, rm *redmine) string {
	t.Helper()
	var lines []string
	for offset := 0; ; offset += 100 {
		var page struct {
			Issues []struct {
				ID                   int
				Subject, Description string
				Project, Tracker     struct{ Name string }
				CustomFields         []struct {
					Name  string
					Value any
				} `json:"custom_fields"`
				CreatedOn string `json:"created_on"`
			}
			TotalCount int `json:"total_count"`
		}
		rm.json(rm.do("GET", fmt.Sprintf("/issues.json?status_id=*&sort=id&limit=100&offset=%d", offset), "", 200), &page)
		for _, is := range page.Issues {
			lines = append(lines, fmt.Sprintf("%d|%s|%s|%s|%s|%v|%s", is.ID, is.Subject, is.Description, is.Project.Name, is.Tracker.Name, is.CustomFields, is.CreatedOn))
		}
		if offset+100 >= page.TotalCount {
			break
		}
	}
	for _, project := range []string{"harbour", "lighthouse"} {
		var index struct {
			WikiPages []struct{ Title string } `json:"wiki_pages"`
		}
		rm.json(rm.do("GET", "/projects/"+project+"/wiki/index.json", "", 200), &index)
		for _, w := range index.WikiPages {
			var page struct {
				WikiPage struct{ Text string } `json:"wiki_page"`
			}
			rm.json(rm.do("GET", "/projects/"+project+"/wiki/"+w.Title+".json", "", 200), &page)
			lines = append(lines, project+"/"+w.Title+"|"+page.WikiPage.Text)
		}
	}
	sort.Strings(lines)
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return fmt.Sprintf("%d records, sha256 %x", len(lines), sum)
}
