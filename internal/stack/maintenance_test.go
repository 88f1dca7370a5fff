package stack

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/report"
	"github.com/stackctl/stackctl/internal/state"
)

// sqlWith says whether a psql command containing part ran.
func sqlWith(e *scriptedEngine, part string) bool {
	return slices.ContainsFunc(e.sql, func(s string) bool { return strings.Contains(s, part) })
}

// TestMaintenance: closing the front needs a pass for stackctl's own
// checks and stops the mail polling into the data first; opening it points
// the mail at the application that serves, when the site polls mail.
func TestMaintenance(t *testing.T) {
	st := mustRedmine()
	e := newScripted()
	r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir()),
		Overrides: catalog.Overrides{Mail: catalog.Mail{IMAP: &catalog.IMAP{Host: "imap.test"}}}}
	if err := r.State.Save(st.Name, state.State{Profile: catalog.ProfileUpstream, Active: 1}); err != nil {
		t.Fatal(err)
	}
	if err := r.Maintenance(t.Context(), true, ""); err == nil || !strings.Contains(err.Error(), "no pass") {
		t.Errorf("closing without a pass: %v", err)
	}
	if len(e.maintenance) > 0 {
		t.Fatal("closed without a pass")
	}
	for _, tc := range []struct {
		name   string
		on     bool
		paused bool
		// pointed: the mail is pointed at redmine's container.
		pointed bool
	}{
		{name: "close", on: true, paused: true},
		{name: "open", pointed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.sql = nil
			if err := r.Maintenance(t.Context(), tc.on, "pass"); err != nil {
				t.Fatal(err)
			}
			if got := e.maintenance[len(e.maintenance)-1]; got != tc.on {
				t.Errorf("maintenance file closes: %v, want %v", got, tc.on)
			}
			closed, err := r.InMaintenance(t.Context())
			if err != nil || closed != tc.on {
				t.Errorf("InMaintenance = %v, %v; want %v", closed, err, tc.on)
			}
			if paused := sqlWith(e, "DELETE FROM stackctl_mail_in; END IF"); paused != tc.paused {
				t.Errorf("mail paused: %v, want %v (%q)", paused, tc.paused, e.sql)
			}
			if pointed := sqlWith(e, "INSERT INTO stackctl_mail_in VALUES ('c-redmine')"); pointed != tc.pointed {
				t.Errorf("mail pointed at c-redmine: %v, want %v (%q)", pointed, tc.pointed, e.sql)
			}
		})
	}
	nginx, _ := catalog.LookupStack("nginx")
	if err := r.For(nginx).Maintenance(t.Context(), true, "pass"); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("closing nginx: %v", err)
	}
	if closed, err := r.For(nginx).InMaintenance(t.Context()); closed || err != nil {
		t.Errorf("nginx in maintenance: %v, %v", closed, err)
	}
	// A front that does not run is neither closed nor opened.
	r.Compose = &fakeCompose{ps: []api.ContainerSummary{}}
	if err := r.Maintenance(t.Context(), false, ""); !errors.Is(err, errs.ErrNotRunning) {
		t.Errorf("opening a stopped stack: %v", err)
	}
	if _, err := r.InMaintenance(t.Context()); !errors.Is(err, errs.ErrNotRunning) {
		t.Errorf("asking a stopped stack: %v", err)
	}
}

// TestSwitchTo: the switch points the front over only after the target's
// smoke check; a front that refuses the new target is pointed back, the
// switch forgotten and mail polled where it was; what served before goes
// once the front serves the target: the generation's containers, or for a
// change of slot only the application's old container.
func TestSwitchTo(t *testing.T) {
	st := mustRedmine()
	g := st.Generations
	a, b := catalog.SlotA, catalog.SlotB
	for _, tc := range []struct {
		name      string
		sw        state.Switch
		failWget  bool
		failPoint bool
		pointed   bool
		says      string
		calls     []string
		active    int
		slot      int
		// upstream is where the front points afterwards, as gen and slot.
		upGen, upSlot int
		// paused: the mail polling into generation 1 stopped; mailTo: the
		// container it was then pointed at, if any.
		paused bool
		mailTo string
	}{
		{name: "to another generation", sw: state.Switch{From: 1, To: 2, Why: "restore"}, pointed: true, active: 2, upGen: 2,
			calls: []string{"remove db,redmine,redmine-b"}, paused: true, mailTo: "c-redmine-g2"},
		{name: "smoke check fails", sw: state.Switch{From: 1, To: 2}, failWget: true, active: 1, upGen: 1,
			says: "generation 2 of stack redmine failed its smoke check"},
		{name: "front refuses the target", sw: state.Switch{From: 1, To: 2}, failPoint: true, active: 1, upGen: 1,
			says: "pointing nginx of stack redmine at generation 2", paused: true, mailTo: "c-redmine"},
		{name: "to the other slot", sw: state.Switch{From: 1, To: 1, ToSlot: b, Why: "image changed"}, pointed: true, active: 1, slot: b,
			upGen: 1, upSlot: b, calls: []string{"remove redmine"}, mailTo: "c-redmine-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{}
			e := newScripted()
			e.upstream, e.failWget = g.Upstream(1, a), tc.failWget
			if tc.failPoint {
				e.failPoint = g.Upstream(tc.sw.To, tc.sw.ToSlot)
			}
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir()),
				Overrides: catalog.Overrides{Mail: catalog.Mail{IMAP: &catalog.IMAP{Host: "imap.test"}}}}
			rec := state.State{Profile: catalog.ProfileUpstream, Active: 1}
			rec.PutGen(state.Generation{N: 1, Ready: true})
			rec.PutGen(state.Generation{N: 2, Ready: true})
			if err := r.State.Save(st.Name, rec); err != nil {
				t.Fatal(err)
			}
			pointed, err := r.switchTo(t.Context(), tc.sw)
			if pointed != tc.pointed || (err == nil) != (tc.says == "") || (err != nil && !strings.Contains(err.Error(), tc.says)) {
				t.Fatalf("switchTo = %v, %v; want %v, %q", pointed, err, tc.pointed, tc.says)
			}
			if !slices.Equal(c.calls, tc.calls) {
				t.Errorf("calls %q, want %q", c.calls, tc.calls)
			}
			got, _ := r.State.Load(st.Name)
			if got.Active != tc.active || got.SlotOf(got.Active) != tc.slot || got.Switch != nil {
				t.Errorf("active %d slot %d switch %+v; want %d slot %d, no switch", got.Active, got.SlotOf(got.Active), got.Switch, tc.active, tc.slot)
			}
			if e.upstream != g.Upstream(tc.upGen, tc.upSlot) {
				t.Errorf("the front points at %q, want generation %d slot %d", e.upstream, tc.upGen, tc.upSlot)
			}
			if paused := sqlWith(e, "DELETE FROM stackctl_mail_in; END IF"); paused != tc.paused {
				t.Errorf("mail into generation 1 paused: %v, want %v", paused, tc.paused)
			}
			var mailTo []string
			for _, sql := range e.sql {
				if _, rest, ok := strings.Cut(sql, "INSERT INTO stackctl_mail_in VALUES ('"); ok {
					to, _, _ := strings.Cut(rest, "'")
					mailTo = append(mailTo, to)
				}
			}
			if want := slices.DeleteFunc([]string{tc.mailTo}, func(s string) bool { return s == "" }); !slices.Equal(mailTo, want) {
				t.Errorf("mail pointed at %q, want %q", mailTo, want)
			}
		})
	}
}

// TestRecoverLeftovers: recovery leaves a stack without generations alone,
// removes a restore test's generation whatever it got to, stops a front or
// an application left in the other slot, and opens the tracker after an
// upgrade stopped half way, saying where it stands.
func TestRecoverLeftovers(t *testing.T) {
	st := mustRedmine()
	running := func(services ...string) []api.ContainerSummary {
		var out []api.ContainerSummary
		for _, s := range services {
			out = append(out, api.ContainerSummary{ID: "c-" + s, Service: s, State: "running"})
		}
		return out
	}
	upgrade := func(active int) func(*state.State) {
		return func(rec *state.State) {
			rec.Active = active
			rec.Upgrade = &state.Upgrade{From: 1, FromVersion: "5.1", ToVersion: "6.0", Step: "switch", Backup: "pre.tar.zst"}
		}
	}
	for _, tc := range []struct {
		name  string
		ps    []api.ContainerSummary
		edit  func(*state.State)
		calls []string
		// removed: generation 2's volumes go.
		removed bool
		says    string
		// opened: the maintenance file was written open.
		opened bool
	}{
		{name: "nothing left", ps: running("db", "nginx", "redmine")},
		{name: "a restore test", ps: running("db", "nginx", "redmine", "db-g2"), removed: true,
			edit:  func(rec *state.State) { rec.PutGen(state.Generation{N: 2, Made: state.MadeTrial, Ready: true}) },
			calls: []string{"remove db-g2"}, says: "removing generation 2 (restore test"},
		{name: "a front in the other slot", ps: running("db", "edge", "nginx", "nginx-b", "redmine"),
			calls: []string{"stop nginx-b", "remove nginx-b"}},
		{name: "an application in the other slot", ps: running("db", "nginx", "redmine", "redmine-b"),
			calls: []string{"remove redmine-b"}},
		{name: "another generation's containers", ps: running("db", "nginx", "redmine", "db-g2", "redmine-g2"),
			edit:  func(rec *state.State) { rec.PutGen(state.Generation{N: 2, Made: state.MadeRestore, Ready: true}) },
			calls: []string{"remove db-g2,redmine-g2"}},
		{name: "an upgrade stopped before the switch", ps: running("db", "nginx", "redmine"), edit: upgrade(1), opened: true,
			says: "generation 1 serves 5.1 again, as before; the pre-upgrade backup is pre.tar.zst"},
		{name: "an upgrade stopped after the switch", ps: running("db-g2", "nginx", "redmine-g2"), opened: true,
			edit: func(rec *state.State) {
				rec.PutGen(state.Generation{N: 2, Made: state.MadeUpgrade, Ready: true})
				upgrade(2)(rec)
			},
			says: "'stackctl rollback redmine --to 1' returns to 5.1"},
		{name: "an upgrade on a stopped stack", ps: []api.ContainerSummary{}, edit: upgrade(1), says: "as before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{ps: tc.ps}
			e := newScripted()
			var log bytes.Buffer
			r := Runner{Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir()), Report: report.New(&log, report.Options{})}
			rec := state.State{Profile: catalog.ProfileUpstream, Active: 1}
			rec.PutGen(state.Generation{N: 1, Ready: true})
			if tc.edit != nil {
				tc.edit(&rec)
			}
			if err := r.State.Save(st.Name, rec); err != nil {
				t.Fatal(err)
			}
			if err := r.For(st).Recover(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.calls, tc.calls) {
				t.Errorf("calls %q, want %q", c.calls, tc.calls)
			}
			var gone []string
			if tc.removed {
				gone = genVolumes(2)
			}
			if !slices.Equal(e.removed, gone) {
				t.Errorf("volumes removed %q, want %q", e.removed, gone)
			}
			if !strings.Contains(log.String(), tc.says) {
				t.Errorf("log %q does not say %q", log.String(), tc.says)
			}
			if opened := slices.Equal(e.maintenance, []bool{false}); opened != tc.opened {
				t.Errorf("maintenance written %v: opened %v, want %v", e.maintenance, opened, tc.opened)
			}
			if got, _ := r.State.Load(st.Name); got.Upgrade != nil {
				t.Errorf("the upgrade is still recorded: %+v", got.Upgrade)
			}
		})
	}
	nginx, _ := catalog.LookupStack("nginx")
	c := &fakeCompose{}
	r := Runner{Stack: nginx, Compose: c, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
	if err := r.Recover(t.Context()); err != nil || len(c.calls) > 0 {
		t.Errorf("recovering nginx: %v, calls %q", err, c.calls)
	}
}
