package backup

import (
	"context"

	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/stack"
)

// TrialRestore proves the archive at loc restores into a working tracker:
// restored, as restore-volumes would, into a throwaway generation beside the
// running stack, which serves throughout and is never switched, then started
// privately and checked as its administrator would use it (stack.Trial:
// log in, read the newest issue, download the newest attachment against its
// recorded digest), then removed. A failure is a *stack.TrialError naming
// the step; the archive's own checks (every checksum) come first, as it is
// read.
func TrialRestore(ctx context.Context, s *stack.Stack, loc offsite.Location, o RestoreOptions) (stack.TrialResult, error) {
	r, e, err := s.Runner(ctx)
	if err != nil {
		return stack.TrialResult{}, &stack.TrialError{Step: stack.StepRestore, Err: err}
	}
	rs, err := openSeed(ctx, r, e, s.Def, loc, o)
	if err != nil {
		return stack.TrialResult{}, &stack.TrialError{Step: stack.StepRestore, Err: err}
	}
	defer rs.close()
	return s.Trial(ctx, rs, loc.String(), o.Up)
}
