package backup

import (
	"context"
	"fmt"

	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
)

// PlanRestore says what Restore of the archive at loc would do, and changes
// nothing: it reads the archive's header and the manifest at its end and
// refuses what Restore refuses before it changes anything (another stack's
// archive, a volume missing or unknown, data from a newer Redmine or
// PostgreSQL than the images, a volume of the new generation that exists),
// with the same errors. The content is checked as the restore writes it,
// and the room once the new volumes are there: 'verify-backup' reads it
// whole beforehand.
func PlanRestore(ctx context.Context, s *stack.Stack, loc offsite.Location, o RestoreOptions) (stack.Plan, error) {
	if len(o.Only) > 0 && s.Where() == stack.OnSwarm {
		return stack.Plan{}, fmt.Errorf("%w: --only on a swarm: a restore there takes every volume from the archive", ErrRefused)
	}
	r, e, err := s.Runner(ctx)
	if err != nil {
		return stack.Plan{}, err
	}
	rs, err := openSeed(ctx, r, e, s.Def, loc, o)
	if err != nil {
		return stack.Plan{}, err
	}
	defer rs.close()
	return s.PlanNewGeneration(ctx, rs, state.MadeRestore, loc.String(), stack.GenOptions{Up: o.Up, FilesVolume: o.FilesVolume})
}

// PlanCopy says what Copy would do, and changes nothing: the active
// generation must run, and the release o.Up.Release names must not be
// older than its data.
func PlanCopy(ctx context.Context, s *stack.Stack, made, source string, o RestoreOptions) (stack.Plan, error) {
	rs, err := openCopy(ctx, s, o)
	if err != nil {
		return stack.Plan{}, err
	}
	defer rs.End()
	return s.PlanNewGeneration(ctx, rs, made, source, stack.GenOptions{Up: o.Up})
}

var _ stack.Copying = (*restore)(nil)

// Copies are the volumes copied from the active generation: those --only
// leaves out, or all of them for a copy.
func (rs *restore) Copies() []string { return rs.copied }
