package backup

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/retention"
)

// Listed is one archive on a target, with its sidecar.
type Listed struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// Taken is when the backup was taken, from the name.
	Taken time.Time `json:"taken"`
	// Sidecar is nil when the archive has none (it was taken before stackctl
	// wrote them) or it cannot be read, which Problem says.
	Sidecar *Sidecar `json:"sidecar,omitempty"`
	Problem string   `json:"problem,omitempty"`
}

// RestoreTest is the archive's latest restore test; nil when none is recorded.
func (l Listed) RestoreTest() *RestoreTest {
	if l.Sidecar == nil {
		return nil
	}
	return l.Sidecar.RestoreTest
}

// List is stack's archives on t, oldest first, each with its sidecar. A
// sidecar that cannot be read is the archive's Problem, not List's failure:
// one damaged sidecar must not stop a listing or a prune.
func List(ctx context.Context, t offsite.Target, stack string) ([]Listed, error) {
	archives, err := t.List(ctx, stack)
	if err != nil {
		return nil, err
	}
	listed := make([]Listed, len(archives))
	for i, a := range archives {
		listed[i] = Listed{Name: a.Name, Size: a.Size, Taken: a.Taken}
		s, err := ReadSidecar(ctx, t, a.Name)
		switch {
		case errors.Is(err, errs.ErrNotFound):
		case err != nil && ctx.Err() != nil:
			return nil, err
		case err != nil:
			listed[i].Problem = err.Error()
		default:
			listed[i].Sidecar = &s
		}
	}
	return listed, nil
}

// PlanRetention applies p to listed, one stack's archives as List returns
// them: the plan is newest first. An archive whose latest restore test passed
// counts as restore-tested, so the newest such stays whatever p says.
func PlanRetention(listed []Listed, p retention.Policy) (retention.Plan, error) {
	items := make([]retention.Item, len(listed))
	for i, l := range listed {
		rt := l.RestoreTest()
		items[i] = retention.Item{Name: l.Name, Time: l.Taken, RestoreTested: rt != nil && rt.Passed}
	}
	return retention.Apply(p, items)
}

// Prune removes from t, oldest first, the archives plan does not keep, with
// their sidecars, but never the one called spare (the archive just written),
// and names those it removed. One already gone (another prune was first)
// counts as removed.
func Prune(ctx context.Context, t offsite.Target, plan retention.Plan, spare string) ([]string, error) {
	var removed []string
	for _, it := range slices.Backward(plan.Remove()) {
		if it.Name == spare {
			continue
		}
		if err := t.Remove(ctx, it.Name); err != nil && !errors.Is(err, errs.ErrNotFound) {
			return removed, err
		}
		removed = append(removed, it.Name)
	}
	return removed, nil
}
