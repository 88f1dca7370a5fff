package upgrade

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
)

// observation is what an upgrade's plan is computed from: the checks' view
// of the stack, and the plan of the new generation its copy makes as the
// stack would make it now. planUpgrade reads it, never changes it.
type observation struct {
	// From is the active generation, FromVersion and ToVersion the Redmine
	// versions (and PostgreSQL majors) the upgrade goes between.
	From                   int
	FromVersion, ToVersion string
	// Backup is the directory the pre-upgrade backup goes to.
	Backup string
	// Copy is the plan of the new generation: the active one copied onto
	// the new release.
	Copy stack.Plan
}

// planUpgrade decides what an upgrade does from obs, a pure function of it:
// the leftovers of a stopped stackctl, the checks, the new release's images
// built while the stack serves, a sample read through nginx, the backup,
// then behind the maintenance page the copy into a new generation on the new
// release (Redmine's migrations as it starts, the switch), the check through
// nginx, and the tracker open again; on a failure, the old generation serves
// again.
func planUpgrade(obs observation) stack.Plan {
	c := obs.Copy
	p := stack.Plan{Stack: c.Stack, Where: c.Where, Profile: c.Profile, ProfileReason: c.ProfileReason, Serves: c.Serves}
	// The copy's own leftovers and builds come before the maintenance
	// window: what comes from its making on is inside it.
	first := slices.IndexFunc(c.Steps, func(s stack.Step) bool { return s.Action == "make" })
	if first < 0 {
		first = len(c.Steps)
	}
	var builds []stack.Step
	for _, s := range c.Steps[:first] {
		if s.Action == "build" || s.Action == "build-base" {
			builds = append(builds, s)
			continue
		}
		p.Steps = append(p.Steps, s)
	}
	p.Steps = append(p.Steps, stack.Step{Action: "check", Target: obs.FromVersion + " -> " + obs.ToVersion,
		Why: "refused, with nothing changed, for a downgrade, a plugin whose requires_redmine excludes the target, too little room for the copy and the backup, or a stack that does not serve"})
	for _, s := range builds {
		s.Why += fmt.Sprintf(" (while generation %d serves)", obs.From)
		p.Steps = append(p.Steps, s)
	}
	p.Steps = append(p.Steps,
		stack.Step{Action: "check", Target: "through nginx", Why: "a sample read: the newest issue, an attachment, the theme the pages use"},
		stack.Step{Action: "backup", Target: filepath.Join(obs.Backup, "pre-upgrade"), Why: "of generation " + fmt.Sprint(obs.From) + ", which no rotation removes"},
		stack.Step{Action: "close", Target: "the tracker", Why: "maintenance page (HTTP 503, Retry-After) once the requests under way finish; mail waits"})
	p.Steps = append(p.Steps, c.Steps[first:]...)
	p.Steps = append(p.Steps,
		stack.Step{Action: "check", Target: "through nginx, past the maintenance page",
			Why: fmt.Sprintf("a login through the form, and the same newest issue, attachment and theme as before; on a failure generation %d serves %s again (a rollback)", obs.From, obs.FromVersion)},
		stack.Step{Action: "open", Target: "the tracker", Why: "maintenance off, whatever happened"})
	p.Outage = stack.Outage{Closes: true, Why: "the data is copied and migrated, and no write may reach the old generation meanwhile",
		For: "from the end of the backup until the new version passes its check through nginx (the copy, Redmine's migrations and a boot: minutes, with the data's size)"}
	return p
}

// source says what makes the upgrade's generation, for its record.
func (u *upgrade) source(p plan) string {
	return fmt.Sprintf("of generation %d, %s to %s", p.from, u.res.FromVersion, u.res.ToVersion)
}

// Plan says what Run would do, and changes nothing: the same checks refuse
// the same upgrades, with the same errors; nothing is built, recorded or
// read through nginx.
func Plan(ctx context.Context, s *stack.Stack, o Options) (stack.Plan, error) {
	r, err := s.OnEngine(ctx, stack.VerbUpgrade)
	if err != nil {
		return stack.Plan{}, err
	}
	e, _ := r.Engine.(*engine.Engine)
	u := &upgrade{s: s, r: r, e: e, st: s.Def, o: o}
	p, err := u.check(ctx)
	if err != nil {
		return stack.Plan{}, err
	}
	up := o.Up
	up.Release = p.target.Name
	c, err := backup.PlanCopy(ctx, s, state.MadeUpgrade, u.source(p), backup.RestoreOptions{Up: up})
	if err != nil {
		return stack.Plan{}, err
	}
	return planUpgrade(observation{From: p.from, FromVersion: u.res.FromVersion, ToVersion: u.res.ToVersion, Backup: o.BackupDir, Copy: c}), nil
}
