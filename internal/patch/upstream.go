package patch

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/stackctl/stackctl/internal/stack"
)

// runUpstream updates a stack on the official images, which Docker Hub
// rebuilds with Debian's fixes under the same tags: it pulls the release's
// tags again and, when one moved, has up hand the new images over (the
// application built on its new image, the database recreated behind the
// maintenance page), a backup taken first. Unverified here: no registry
// answers on the machines stackctl is tested on.
func runUpstream(ctx context.Context, sk *stack.Stack, t target, o Options) (Result, error) {
	st := sk.Def
	var moved []string
	for _, b := range st.BasesFor(t.rel) {
		o.Report.Printf("update %s: pulling %s again", st.Name, b.Upstream)
		changed, err := t.e.Pull(ctx, b.Upstream)
		if err != nil {
			return Result{}, err
		}
		if changed {
			moved = append(moved, b.Upstream)
		}
	}
	res := Result{Moved: moved}
	if len(moved) > 0 {
		o.Report.Printf("update %s: moved since the last pull: %s", st.Name, strings.Join(moved, ", "))
	}
	// What runs against the tags as they are now: a tag pulled by an
	// earlier, killed update or by hand counts as much as one moved now.
	plan, err := sk.Plan(ctx, stack.UpOptions{Timeout: o.Timeout})
	if err != nil {
		return Result{}, err
	}
	if !plan.Changes() {
		o.Report.Printf("update %s: it runs its release's images as the registry has them now: nothing to do", st.Name)
		return res, nil
	}
	if res.Backup, err = takeBackup(ctx, sk, o); err != nil {
		return Result{}, err
	}
	up, err := sk.Up(ctx, stack.UpOptions{Timeout: o.Timeout})
	if err != nil {
		return Result{}, err
	}
	res.URL = up.URL
	return res, nil
}

// planUpstream is what runUpstream would do, as far as it can be known
// without pulling: each tag pulled again, then what up does with what moved.
func planUpstream(sk *stack.Stack, t target, o Options) stack.Plan {
	p := stack.Plan{Stack: sk.Def.Name, Where: stack.OnEngine, Profile: t.rec.Profile}
	for _, b := range sk.Def.BasesFor(t.rel) {
		p.Steps = append(p.Steps, stack.Step{Action: "pull", Target: b.Upstream, Why: "Docker Hub rebuilds the official images with Debian's fixes under the same tag"})
	}
	p.Steps = append(p.Steps,
		stack.Step{Action: "backup", Target: filepath.Join(o.BackupDir, BackupSubdir), Why: "when a tag moved, before anything changes"},
		stack.Step{Action: "hand-over", Target: "what moved", Why: fmt.Sprintf("as 'stackctl up %s' does: Redmine and nginx with no outage, PostgreSQL behind the maintenance page", sk.Def.Name)})
	return p
}
