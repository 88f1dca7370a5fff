package upgrade

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/report"
	"github.com/stackctl/stackctl/internal/signing"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
)

// ErrRefused is an upgrade refused before anything changed: a downgrade, an
// unknown version, a plugin that does not declare support for the target,
// too little room.
var ErrRefused = errors.New("upgrade refused")

// ErrFailed is an upgrade that failed after it began: the old generation
// serves again.
var ErrFailed = errors.New("upgrade failed")

// Options are the operator's choices for an upgrade.
type Options struct {
	// To is the Redmine version (or line) to upgrade to; Postgres, when not 0,
	// the PostgreSQL major the operator expects with it.
	To       string
	Postgres int
	// BackupDir is where backups go; the pre-upgrade backup is written to its
	// pre-upgrade/ directory, which no --keep rotation touches.
	BackupDir string
	// Key signs the pre-upgrade backup.
	Key *signing.Key
	// Up carries the mirror and the timeout of each start.
	Up       stack.UpOptions
	Progress backup.Progress
	Report   *report.Reporter
}

// Result is what an upgrade did.
type Result struct {
	From, Gen              int
	FromVersion, ToVersion string
	Backup                 string
	// Window is how long the stack answered with the maintenance page.
	Window time.Duration
	URL    string
}

// Steps of an upgrade, as reported and recorded.
const (
	stepChecks      = "checks, and the new version's images"
	stepBackup      = "pre-upgrade backup"
	stepMaintenance = "maintenance on"
	stepCopy        = "copy into a new generation, migrations and switch"
	stepSmoke       = "check through nginx"
	stepOpen        = "maintenance off"
)

// upgrade is one run.
type upgrade struct {
	s   *stack.Stack
	r   stack.Runner
	e   *engine.Engine
	st  catalog.Stack
	o   Options
	res Result
	// step is the number of the step under way, current its name.
	step    int
	current string
}

func (u *upgrade) logf(format string, args ...any) { u.o.Report.Printf(format, args...) }

// begin reports and records step name.
func (u *upgrade) begin(name string) error {
	u.step++
	u.current = name
	u.logf("upgrade %s: step %d/6: %s", u.st.Name, u.step, name)
	return u.r.State.Update(u.st.Name, func(rec *state.State) error {
		if rec.Upgrade != nil {
			rec.Upgrade.Step, rec.Upgrade.Backup = name, u.res.Backup
		}
		return nil
	})
}

// Run upgrades st to the release o.To names: checks that refuse before
// anything changes, a pre-upgrade backup, maintenance, a copy of the data
// into a new generation on the new release (PostgreSQL by dump and restore
// into the new major), Redmine's and its plugins' migrations at its first
// start, the switch, a check through nginx, maintenance off. Any failure
// after the checks leaves the old generation serving, opens the stack again,
// and names the step and the pre-upgrade backup.
func Run(ctx context.Context, s *stack.Stack, o Options) (Result, error) {
	r, err := s.OnEngine(ctx, stack.VerbUpgrade)
	if err != nil {
		return Result{}, err
	}
	e, _ := r.Engine.(*engine.Engine)
	st := s.Def
	u := &upgrade{s: s, r: r, e: e, st: st, o: o}
	if err := u.begin(stepChecks); err != nil {
		return Result{}, err
	}
	p, err := u.plan(ctx)
	if err != nil {
		return Result{}, err
	}
	err = r.State.Update(st.Name, func(rec *state.State) error {
		rec.Upgrade = &state.Upgrade{From: p.from, FromVersion: u.res.FromVersion, ToVersion: u.res.ToVersion, Step: stepChecks, At: time.Now().UTC()}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	res, err := u.run(ctx, p)
	if err != nil {
		where := "no pre-upgrade backup was written"
		if u.res.Backup != "" {
			where = "the pre-upgrade backup is " + u.res.Backup
		}
		err = fmt.Errorf("%w at step %d (%s): %w: generation %d serves %s as before; %s", ErrFailed, u.step, u.current, err, p.from, u.res.FromVersion, where)
	}
	if cerr := r.State.Update(st.Name, func(rec *state.State) error { rec.Upgrade = nil; return nil }); cerr != nil && err == nil {
		err = cerr
	}
	return res, err
}

// plan is what the checks found.
type plan struct {
	from    int
	profile catalog.Profile
	target  catalog.Release
	before  sample
	// front reaches the stack through nginx (over HTTPS when it serves it).
	front stack.Front
	admin string
}

// plan refuses, before anything changes, what cannot be upgraded (check),
// then builds the new version's images and reads a sample through nginx.
func (u *upgrade) plan(ctx context.Context) (plan, error) {
	st, r := u.st, u.r
	p, err := u.check(ctx)
	if err != nil {
		return plan{}, err
	}
	// Built now, while the stack serves: not inside the maintenance window.
	if err := r.BuildRelease(ctx, p.target.Name, u.o.Up); err != nil {
		return plan{}, fmt.Errorf("%w: building %s: %w", ErrRefused, u.res.ToVersion, err)
	}
	if p.front, err = r.Front(); err != nil {
		return plan{}, err
	}
	if p.admin, err = r.State.ReadSecret(st.Name, catalog.AdminPassword); err != nil {
		return plan{}, err
	}
	// What the check through nginx compares with once the new version serves.
	s, err := newSmoke(p.front, p.admin, "")
	if err != nil {
		return plan{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if p.before, err = s.read(ctx); err != nil {
		return plan{}, fmt.Errorf("%w: reading stack %s through nginx before the upgrade: %v", ErrRefused, st.Name, err)
	}
	u.logf("upgrade %s: from %s (generation %d) to %s; every check passed", st.Name, u.res.FromVersion, p.from, u.res.ToVersion)
	return p, nil
}

// check refuses, changing nothing, what cannot be upgraded: a stack that
// does not serve, a downgrade or unknown version, a plugin that does not
// declare support for the target, too little room. An upgrade's dry run
// stops here.
func (u *upgrade) check(ctx context.Context) (plan, error) {
	st, r := u.st, u.r
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return plan{}, err
	}
	if st.Generations == nil || !st.Releases {
		return plan{}, fmt.Errorf("%w: stack %s has no releases to upgrade between", ErrRefused, st.Name)
	}
	g, ok := rec.Gen(rec.Active)
	if !ok || !g.Ready {
		return plan{}, fmt.Errorf("%w: stack %s has no ready generation to upgrade: start it with 'stackctl up %s'", ErrRefused, st.Name, st.Name)
	}
	if _, err := r.Container(ctx, st.Generations.App); err != nil {
		return plan{}, fmt.Errorf("%w: stack %s must be serving to be upgraded: %v", ErrRefused, st.Name, err)
	}
	cur, err := catalog.LookupRelease(g.Release)
	if err != nil {
		return plan{}, err
	}
	target, err := catalog.ReleaseOf(rec.Profile, u.o.To)
	if err != nil {
		return plan{}, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	u.res.From = rec.Active
	u.res.FromVersion = describe(cur, rec.Profile)
	u.res.ToVersion = describe(target, rec.Profile)
	switch {
	case target.Name == cur.Name:
		return plan{}, fmt.Errorf("%w: stack %s runs %s already", ErrRefused, st.Name, u.res.FromVersion)
	case !target.Newer(cur):
		return plan{}, fmt.Errorf("%w: %s is older than the %s stack %s runs: Redmine cannot migrate a database down; "+
			"'stackctl rollback %s' returns to an earlier generation, with its data", ErrRefused, u.res.ToVersion, u.res.FromVersion, st.Name, st.Name)
	case u.o.Postgres != 0 && u.o.Postgres != target.Postgres:
		return plan{}, fmt.Errorf("%w: Redmine %s comes with PostgreSQL %d on stackctl's bases, not %d: leave --postgres out, or give %d",
			ErrRefused, target.Version(rec.Profile), target.Postgres, u.o.Postgres, target.Postgres)
	case target.Postgres < cur.Postgres:
		return plan{}, fmt.Errorf("%w: %s would move PostgreSQL down from %d", ErrRefused, u.res.ToVersion, cur.Postgres)
	}
	if err := u.checkPlugins(ctx, target.Version(rec.Profile)); err != nil {
		return plan{}, err
	}
	if err := u.checkRoom(ctx); err != nil {
		return plan{}, err
	}
	return plan{from: rec.Active, profile: rec.Profile, target: target}, nil
}

func describe(rel catalog.Release, p catalog.Profile) string {
	return fmt.Sprintf("Redmine %s with PostgreSQL %d", rel.Version(p), rel.Postgres)
}

// checkPlugins refuses plugins in the plugins volume that do not declare
// support for Redmine version v, by name.
func (u *upgrade) checkPlugins(ctx context.Context, v string) error {
	id, err := u.r.Container(ctx, u.st.Generations.App)
	if err != nil {
		return err
	}
	var out strings.Builder
	cmd := []string{"sh", "-c", pluginsScript, "plugins", catalog.RedminePluginsDir}
	if err := u.e.Exec(ctx, id, cmd, engine.ExecOptions{Stdout: &out}); err != nil {
		return fmt.Errorf("reading the plugins of stack %s: %w", u.st.Name, err)
	}
	ps, err := parsePlugins(out.String())
	if err != nil {
		return fmt.Errorf("%w: %w: check by hand that it supports Redmine %s, then remove the line or the plugin", ErrRefused, err, v)
	}
	var bad []string
	for _, p := range ps {
		if !p.Allows(v) {
			bad = append(bad, fmt.Sprintf("%s (%s)", p.Name, p.Requires))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: plugins that do not declare support for Redmine %s: %s: update them in the plugins volume first, or remove them",
			ErrRefused, v, strings.Join(bad, ", "))
	}
	return nil
}

// run runs the steps after the checks.
func (u *upgrade) run(ctx context.Context, p plan) (Result, error) {
	st, r := u.st, u.r
	if err := u.begin(stepBackup); err != nil {
		return Result{}, err
	}
	dir := filepath.Join(u.o.BackupDir, "pre-upgrade")
	target, err := backup.LocalTarget(dir)
	if err != nil {
		return Result{}, err
	}
	defer target.Close()
	b, err := backup.Backup(ctx, u.s, backup.Options{Target: target, Key: u.o.Key, Progress: u.o.Progress})
	if err != nil {
		return Result{}, err
	}
	u.res.Backup = filepath.Join(dir, b.Name)
	u.logf("upgrade %s: pre-upgrade backup: %s", st.Name, u.res.Backup)

	if err := u.begin(stepMaintenance); err != nil {
		return Result{}, err
	}
	pass, err := newPass()
	if err != nil {
		return Result{}, err
	}
	closed := time.Now()
	if err := r.Maintenance(ctx, true, pass); err != nil {
		return Result{}, err
	}
	open := func() error {
		err := r.Maintenance(context.WithoutCancel(ctx), false, "")
		u.res.Window = time.Since(closed)
		return err
	}

	if err := u.begin(stepCopy); err != nil {
		return Result{}, errors.Join(err, open())
	}
	up := u.o.Up
	up.Release = p.target.Name
	c, err := backup.Copy(ctx, u.s, state.MadeUpgrade, u.source(p), backup.RestoreOptions{Up: up, Progress: u.o.Progress})
	if err != nil {
		return Result{}, errors.Join(err, open())
	}
	u.res.Gen, u.res.URL = c.Gen, c.URL

	if err := u.begin(stepSmoke); err != nil {
		return Result{}, errors.Join(err, open())
	}
	if err := u.smoke(ctx, p, pass); err != nil {
		u.logf("upgrade %s: the new version failed its check through nginx: %v; rolling back to generation %d", st.Name, err, p.from)
		if _, rerr := r.Rollback(context.WithoutCancel(ctx), p.from, u.o.Up); rerr != nil {
			return Result{}, errors.Join(err, fmt.Errorf("rolling back to generation %d: %w: run 'stackctl rollback %s --to %d'", p.from, rerr, st.Name, p.from), open())
		}
		return Result{}, errors.Join(err, open())
	}

	if err := u.begin(stepOpen); err != nil {
		return Result{}, errors.Join(err, open())
	}
	if err := open(); err != nil {
		return Result{}, err
	}
	u.logf("upgrade %s: done: %s serves as generation %d; maintenance lasted %s; 'stackctl rollback %s' returns to %s",
		st.Name, u.res.ToVersion, u.res.Gen, u.res.Window.Round(100*time.Millisecond), st.Name, u.res.FromVersion)
	return u.res, nil
}

// smoke checks the new version through nginx, past the maintenance page with
// pass: a login through the form, and the same newest issue, attachment and
// theme as before the upgrade.
func (u *upgrade) smoke(ctx context.Context, p plan, pass string) error {
	s, err := newSmoke(p.front, p.admin, pass)
	if err != nil {
		return err
	}
	if err := s.login(ctx); err != nil {
		return err
	}
	after, err := s.read(ctx)
	if err != nil {
		return err
	}
	if after != p.before {
		return fmt.Errorf("the new version shows other data than the old: before %+v, after %+v", p.before, after)
	}
	return nil
}

// newPass is a one-time pass through maintenance.
func newPass() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
