package stack

import (
	"context"
	"fmt"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
)

// Availability answers whether an upstream image can be used without building anything.
type Availability interface {
	// ImagePresent reports whether ref is in the engine's image store.
	ImagePresent(ctx context.Context, ref string) (bool, error)
	// CanPull reports whether ref can be pulled now; the error says why not.
	CanPull(ctx context.Context, ref string) error
}

// Choice is a resolved profile and the reason it was chosen, for the operator.
type Choice struct {
	Profile catalog.Profile
	Reason  string
}

// ChooseProfile resolves the profile for st. A recorded profile wins over auto, and
// an explicit request that contradicts the record is refused: a stack must never
// flip bases silently, because its volumes were written by one of them.
func ChooseProfile(ctx context.Context, st catalog.Stack, requested, recorded catalog.Profile, avail Availability) (Choice, error) {
	switch {
	case recorded != "" && requested != catalog.ProfileAuto && requested != recorded:
		return Choice{}, fmt.Errorf("%w: stack %s was first started on profile %s, not %s: "+
			"run it with --profile %s, or remove it and its data with 'stackctl down %s --volumes' to start over",
			errs.ErrInvalidInput, st.Name, recorded, requested, recorded, st.Name)
	case recorded != "":
		return Choice{recorded, "recorded when the stack was first started"}, nil
	}
	return chooseBases(ctx, st.Bases(), requested, avail)
}

// ChooseBaseProfile chooses the profile for a build on the one base b, with no
// stack and nothing recorded: the requested one, or auto's choice.
func ChooseBaseProfile(ctx context.Context, b catalog.Base, requested catalog.Profile, avail Availability) (Choice, error) {
	return chooseBases(ctx, []catalog.Base{b}, requested, avail)
}

// chooseBases is the requested profile, or under auto, upstream when every base's
// upstream image is present or can be pulled, debian otherwise.
func chooseBases(ctx context.Context, bases []catalog.Base, requested catalog.Profile, avail Availability) (Choice, error) {
	if requested != catalog.ProfileAuto {
		return Choice{requested, "requested"}, nil
	}
	for _, b := range bases {
		present, err := avail.ImagePresent(ctx, b.Upstream)
		if err != nil {
			return Choice{}, err
		}
		if present {
			continue
		}
		if err := avail.CanPull(ctx, b.Upstream); err != nil {
			return Choice{catalog.ProfileDebian, fmt.Sprintf("auto: %s is not present and cannot be pulled (%v)", b.Upstream, err)}, nil
		}
	}
	return Choice{catalog.ProfileUpstream, "auto: every upstream base image is present or can be pulled"}, nil
}
