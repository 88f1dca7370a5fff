package stack

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/state"
)

// serving is the redmine stack's generation gen serving, every service
// running unchanged, its application in slot and its front in frontSlot.
func serving(t *testing.T, gen, slot, frontSlot int) observation {
	t.Helper()
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	g := st.Generations
	obs := observation{Stack: st, Where: OnEngine, Choice: Choice{Profile: catalog.ProfileDebian, Reason: "recorded for this stack"},
		Gen: gen, Slot: slot, FrontSlot: frontSlot, Made: state.MadeFirstStart, Ready: true, Serving: true, HTTPS: "off"}
	for _, s := range []serviceState{
		{Name: catalog.ServiceName(st.Database.Service, gen), Role: "database"},
		{Name: g.Edge, Role: "edge"},
		{Name: g.FrontService(frontSlot), Role: "front"},
		{Name: g.AppService(gen, slot), Role: "app"},
	} {
		s.Exists, s.Runs = true, true
		obs.Services = append(obs.Services, s)
	}
	return obs
}

// changed is obs with what of the service in role marked changed.
func changed(obs observation, role string, what ...string) observation {
	obs.Services = append([]serviceState(nil), obs.Services...)
	for i, s := range obs.Services {
		if s.Role == role {
			obs.Services[i].What = what
		}
	}
	return obs
}

// TestPlanUp keeps the plan of every kind of change as its text says it,
// in testdata/plans/<case>.txt (go test -update rewrites them): the plan is
// what 'up --dry-run' prints and what up then does.
func TestPlanUp(t *testing.T) {
	nginx, err := catalog.LookupStack("nginx")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		obs  func(t *testing.T) observation
		// want are facts the text alone would let slip.
		closes, refuses, changes bool
		app, front               string
	}{
		{name: "empty-engine", changes: true, app: "redmine", front: "nginx", obs: func(t *testing.T) observation {
			obs := serving(t, 1, 0, 0)
			obs.Ready, obs.Serving = false, false
			obs.Choice.Reason = "no upstream image is present or pullable"
			obs.Bases = []change{{"stackctl/base-postgres:trixie", "not built yet, from the Debian mirror with mmdebstrap"}}
			obs.Images = []change{{"stackctl/redmine:debian", "not built yet"}, {"stackctl/nginx:debian", "not built yet"}}
			for i := range obs.Services {
				obs.Services[i].Exists, obs.Services[i].Runs = false, false
			}
			return obs
		}},
		{name: "nothing-changed", app: "redmine", front: "nginx", obs: func(t *testing.T) observation { return serving(t, 1, 0, 0) }},
		{name: "theme", changes: true, app: "redmine-b", front: "nginx", obs: func(t *testing.T) observation {
			obs := changed(serving(t, 1, 0, 0), "app", "image")
			obs.Images = []change{{"stackctl/redmine:debian", "what it is built from changed"}}
			return obs
		}},
		{name: "site-file", changes: true, app: "redmine-g2", front: "nginx-b", obs: func(t *testing.T) observation {
			obs := changed(serving(t, 2, 0, 0), "front", "settings")
			return obs
		}},
		{name: "settings", changes: true, app: "redmine-g2-b", front: "nginx", obs: func(t *testing.T) observation {
			return changed(serving(t, 2, 0, 0), "app", "settings")
		}},
		{name: "database-image", changes: true, closes: true, app: "redmine", front: "nginx", obs: func(t *testing.T) observation {
			return changed(serving(t, 1, 0, 0), "database", "image")
		}},
		// An update of the nginx and PostgreSQL bases: nginx handed over in
		// the edge, which keeps its image; the database behind the page.
		{name: "bases-updated", changes: true, closes: true, app: "redmine", front: "nginx-b", obs: func(t *testing.T) observation {
			obs := changed(changed(changed(serving(t, 1, 0, 0), "front", "image"), "edge", "image"), "database", "image")
			obs.Bases = []change{{"stackctl/base-nginx:trixie", "3 fixes (libc6, openssl, tzdata) from trixie-security"},
				{"stackctl/base-postgres:trixie", "2 fixes (libpq5, postgresql-17) from trixie-security"}}
			obs.Images = []change{{"stackctl/nginx:debian", "built on stackctl/base-nginx:trixie, which is built anew"}}
			return obs
		}},
		{name: "tls-on", changes: true, refuses: true, app: "redmine", front: "nginx", obs: func(t *testing.T) observation {
			obs := changed(changed(serving(t, 1, 0, 0), "front", "settings"), "edge", "settings")
			obs.HTTPS = "self-signed"
			return obs
		}},
		{name: "tls-off", changes: true, refuses: true, app: "redmine", front: "nginx", obs: func(t *testing.T) observation {
			obs := changed(changed(serving(t, 1, 0, 0), "front", "settings"), "edge", "settings")
			obs.ServedHTTPS = true
			return obs
		}},
		{name: "tls-kept", app: "redmine", front: "nginx", obs: func(t *testing.T) observation {
			obs := serving(t, 1, 0, 0)
			obs.HTTPS, obs.ServedHTTPS = "acme", true
			return obs
		}},
		{name: "stray-front-slot", changes: true, app: "redmine", front: "nginx", obs: func(t *testing.T) observation {
			obs := serving(t, 1, 0, 0)
			obs.Leftovers = []Step{{Action: "remove", Target: "nginx-b", Why: "left beside nginx by a stopped stackctl: stopped gracefully"}}
			return obs
		}},
		{name: "killed-restore", changes: true, app: "redmine", front: "nginx", obs: func(t *testing.T) observation {
			obs := serving(t, 1, 0, 0)
			obs.Leftovers = []Step{
				{Action: "remove", Target: "generation 2 (restore of redmine-20261207T101500Z.tar.zst)", Why: "a stopped stackctl never finished it"},
				{Action: "remove", Target: "redmine-g2", Why: "of generation 2, which does not serve (its volumes stay)"},
			}
			return obs
		}},
		{name: "not-serving", changes: true, app: "redmine", front: "nginx", obs: func(t *testing.T) observation {
			obs := changed(serving(t, 1, 0, 0), "app", "image")
			obs.Serving = false
			for i := range obs.Services {
				obs.Services[i].Runs = false
			}
			return obs
		}},
		{name: "no-wait", changes: true, app: "redmine", front: "nginx", obs: func(t *testing.T) observation {
			obs := changed(serving(t, 1, 0, 0), "app", "settings")
			obs.NoWait = true
			return obs
		}},
		{name: "nginx-stack-changed", changes: true, obs: func(t *testing.T) observation {
			return observation{Stack: nginx, Where: OnEngine, Choice: Choice{Profile: catalog.ProfileUpstream, Reason: "recorded for this stack"},
				HTTPS: "off", Services: []serviceState{{Name: "nginx", Exists: true, Runs: true, What: []string{"image"}}}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planUp(tc.obs(t))
			var got bytes.Buffer
			if err := p.WriteText(&got); err != nil {
				t.Fatal(err)
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
				t.Fatalf("%v: run go test ./internal/stack -run TestPlanUp -update", err)
			}
			if got.String() != string(want) {
				t.Errorf("plan differs from %s (-update rewrites it):\n%s", golden, got.String())
			}
			if p.Outage.Closes != tc.closes || p.Outage.Refuses != tc.refuses {
				t.Errorf("outage: closes %v refuses %v, want %v %v", p.Outage.Closes, p.Outage.Refuses, tc.closes, tc.refuses)
			}
			if p.Changes() != tc.changes {
				t.Errorf("Changes() = %v, want %v", p.Changes(), tc.changes)
			}
			if p.Serves.App != tc.app || p.Serves.Front != tc.front {
				t.Errorf("serves %s behind %s, want %s behind %s", p.Serves.App, p.Serves.Front, tc.app, tc.front)
			}
			if _, err := json.Marshal(p); err != nil {
				t.Errorf("--json: %v", err)
			}
		})
	}
}

// TestPlanDecidesTheHandOvers checks what up's execution acts on: a hand-over
// only where one serves and is ready, the database closed for only when it
// runs.
func TestPlanDecidesTheHandOvers(t *testing.T) {
	obs := changed(changed(serving(t, 1, 0, 0), "app", "image"), "front", "image")
	if p := planUp(obs); p.handApp != "redmine's image" || p.handFront != "nginx's image" || p.recreateFront != "" || p.closeForDB != "" {
		t.Errorf("serving, app and front changed: %+v", p)
	}
	obs.Ready = false // a first start cut short: nothing checked to keep serving
	if p := planUp(obs); p.handApp != "" || p.handFront != "" {
		t.Errorf("not ready: handed over %q %q", p.handApp, p.handFront)
	}
	obs = changed(changed(serving(t, 1, 0, 0), "front", "settings"), "edge", "settings")
	if p := planUp(obs); p.handFront != "" || p.recreateFront != "nginx's settings" {
		t.Errorf("edge changed: front handed over %q, recreated %q", p.handFront, p.recreateFront)
	}
	obs = changed(serving(t, 1, 0, 0), "database", "settings")
	if p := planUp(obs); p.closeForDB != "db's settings" {
		t.Errorf("database changed: closed for %q", p.closeForDB)
	}
}
