package patch

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/report"
	"github.com/stackctl/stackctl/internal/signing"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/updates"
)

// Options are the operator's choices for an update and its check.
type Options struct {
	// Mirror is the Debian mirror, with its debian-security beside it (or
	// at $STACKCTL_DEBIAN_SECURITY_MIRROR); "": the default.
	Mirror string
	// SecurityOnly looks for fixes in the security suite alone: a base is
	// rebuilt for a security fix, not for a stable update.
	SecurityOnly bool
	// Keyring is the archive keyring the mirror's indexes are signed with;
	// "": Debian's (updates.DefaultKeyring).
	Keyring string
	// Fetcher reads the indexes; nil: one with Keyring.
	Fetcher *updates.Fetcher
	// BackupDir is where backups go; the backup taken first goes to its pre-update/.
	BackupDir string
	// Key signs that backup.
	Key *signing.Key
	// Timeout bounds each wait for the stack to become healthy.
	Timeout time.Duration
	Report  *report.Reporter
	// Progress reports the backup's bytes; nil for none.
	Progress backup.Progress
}

// BackupSubdir is the backup directory's subdirectory an update's backup goes to.
const BackupSubdir = "pre-update"

// Rebuild is which bases an update rebuilds, and why: those with fixes
// pending, and those of a running image with fixes pending (another stack's
// update rebuilt the base since: rebuilding it again costs minutes, and up
// then builds the stack's images on it, which a base left alone would not make it do).
func Rebuild(p Pending) stack.Rebuild {
	rb := stack.Rebuild{Bases: map[string]string{}}
	for _, im := range p.Bases {
		if len(im.Updates) > 0 {
			rb.Bases[im.Base] = fmt.Sprintf("%s from %s", packages(im.Updates), suitesOf(im.Updates))
		}
	}
	for _, im := range p.Running {
		if _, ok := rb.Bases[im.Base]; !ok && len(im.Updates) > 0 && im.Base != "" && im.Held == "" {
			rb.Bases[im.Base] = fmt.Sprintf("%s from %s in the image %s runs", packages(im.Updates), suitesOf(im.Updates), strings.Join(im.Services, ", "))
		}
	}
	return rb
}

// packages says how many packages, naming the first few.
func packages(us []updates.Update) string {
	var names []string
	for _, u := range us {
		names = append(names, u.Package)
	}
	names = slices.Compact(names)
	const shown = 4
	list := strings.Join(names[:min(len(names), shown)], ", ")
	if len(names) > shown {
		list += ", …"
	}
	noun := "fixes"
	if len(us) == 1 {
		noun = "fix"
	}
	return fmt.Sprintf("%d %s (%s)", len(us), noun, list)
}

func suitesOf(us []updates.Update) string {
	set := map[string]bool{}
	for _, u := range us {
		set[u.Suite] = true
	}
	return strings.Join(slices.Sorted(maps.Keys(set)), " and ")
}

// upOptions are the options up runs with for rb.
func upOptions(o Options, rb stack.Rebuild) stack.UpOptions {
	return stack.UpOptions{Mirror: o.Mirror, RebuildBases: rb, Timeout: o.Timeout}
}

// Plan is what Run would do after p's check, changing nothing: the backup,
// then up's plan with the bases rebuilt. Nothing to do is a plan with no steps.
func Plan(ctx context.Context, sk *stack.Stack, o Options, p Pending) (stack.Plan, error) {
	t, err := open(ctx, sk)
	if err != nil {
		return stack.Plan{}, err
	}
	if t.rec.Profile != catalog.ProfileDebian {
		return planUpstream(sk, t, o), nil
	}
	rb := Rebuild(p)
	if len(rb.Bases) == 0 {
		return stack.Plan{Stack: sk.Def.Name, Steps: []stack.Step{}}, nil
	}
	plan, err := sk.Plan(ctx, upOptions(o, rb))
	if err != nil {
		return stack.Plan{}, err
	}
	plan.Steps = append([]stack.Step{{Action: "backup", Target: filepath.Join(o.BackupDir, BackupSubdir), Why: "before anything changes"}}, plan.Steps...)
	return plan, nil
}

// Result is what Run did.
type Result struct {
	Before, After Pending
	// Rebuilt are the bases built again, with why.
	Rebuilt map[string]string
	// Moved are the official images' tags that had moved (upstream profile).
	Moved []string
	// Backup is the backup taken first; "" when nothing was pending.
	Backup string
	URL    string
}

// Run applies what Check finds pending on sk: a backup first, then up with
// those bases rebuilt, which builds the stack's images on them and hands
// each changed one over as up does (the application and nginx without an
// outage, PostgreSQL behind the maintenance page). What the new images fail
// (a build, a health check) leaves the old ones serving. It checks again
// after, and reports what is still pending.
func Run(ctx context.Context, sk *stack.Stack, o Options) (Result, error) {
	st := sk.Def
	t, err := open(ctx, sk)
	if err != nil {
		return Result{}, err
	}
	if t.rec.Profile != catalog.ProfileDebian {
		return runUpstream(ctx, sk, t, o)
	}
	before, err := check(ctx, sk, t, o)
	if err != nil {
		return Result{}, err
	}
	if len(before.Running) == 0 {
		return Result{}, fmt.Errorf("%w: stack %s does not run: 'stackctl up %s' starts it (on bases with Debian's latest fixes when they are rebuilt first: --rebuild-bases)",
			errs.ErrNotRunning, st.Name, st.Name)
	}
	res := Result{Before: before, After: before}
	rb := Rebuild(before)
	res.Rebuilt = rb.Bases
	if len(rb.Bases) == 0 {
		o.Report.Printf("update %s: nothing pending in %s", st.Name, before.SuiteNames())
		return res, nil
	}
	for _, name := range slices.Sorted(maps.Keys(rb.Bases)) {
		o.Report.Printf("update %s: base %s: %s", st.Name, name, rb.Bases[name])
	}
	if res.Backup, err = takeBackup(ctx, sk, o); err != nil {
		return Result{}, err
	}
	up, err := sk.Up(ctx, upOptions(o, rb))
	if err != nil {
		return Result{}, err
	}
	res.URL = up.URL
	// The fixes are applied: a mirror that fails the check after costs the
	// report, not the update's success.
	if res.After, err = check(ctx, sk, t, o); err != nil {
		o.Report.Warnf("update %s: done, but checking again what is pending failed: %v: 'stackctl status %s' tells", st.Name, err, st.Name)
		res.After = Pending{Suites: before.Suites, Running: []Image{}, Bases: []Image{}}
	} else if n := res.After.Count(); n > 0 {
		o.Report.Warnf("update %s: %d fixes still pending in what runs: the mirror may have moved on during the update; 'stackctl update %s' again", st.Name, n, st.Name)
	}
	return res, nil
}

// takeBackup backs sk up into the backup directory's pre-update/.
func takeBackup(ctx context.Context, sk *stack.Stack, o Options) (string, error) {
	dir := filepath.Join(o.BackupDir, BackupSubdir)
	target, err := backup.LocalTarget(dir)
	if err != nil {
		return "", err
	}
	defer target.Close()
	b, err := backup.Backup(ctx, sk, backup.Options{Target: target, Key: o.Key, Progress: o.Progress})
	if err != nil {
		return "", fmt.Errorf("the backup taken before an update: %w: nothing was changed", err)
	}
	path := filepath.Join(dir, b.Name)
	o.Report.Printf("update %s: backup: %s", sk.Def.Name, path)
	return path, nil
}
