package stack

import (
	"context"
	"fmt"
	"strings"
)

// Profile names the kind of base images a stack's Dockerfiles are built FROM.
// Both kinds honour the same image contract, so only the base references change.
type Profile string

const (
	// ProfileUpstream builds on the official images from Docker Hub.
	ProfileUpstream Profile = "upstream"
	// ProfileDebian builds on base images stackctl makes from a Debian mirror.
	ProfileDebian Profile = "debian"
	// ProfileAuto picks upstream when its images are present or pullable, debian otherwise.
	ProfileAuto Profile = "auto"
)

// Profiles lists the values ParseProfile accepts, for help text and messages.
var Profiles = []Profile{ProfileUpstream, ProfileDebian, ProfileAuto}

// ParseProfile turns a flag or environment value into a Profile; empty means auto.
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(strings.ToLower(strings.TrimSpace(s))); p {
	case "":
		return ProfileAuto, nil
	case ProfileUpstream, ProfileDebian, ProfileAuto:
		return p, nil
	default:
		return "", fmt.Errorf("%w: unknown base profile %q: use one of %s", ErrInvalidInput, s, joinProfiles())
	}
}

func joinProfiles() string {
	names := make([]string, len(Profiles))
	for i, p := range Profiles {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// Availability answers whether an upstream image can be used without building anything.
type Availability interface {
	// ImagePresent reports whether ref is in the engine's image store.
	ImagePresent(ctx context.Context, ref string) (bool, error)
	// CanPull reports whether ref can be pulled now; the error says why not.
	CanPull(ctx context.Context, ref string) error
}

// Choice is a resolved profile and the reason it was chosen, for the operator.
type Choice struct {
	Profile Profile
	Reason  string
}

// ChooseProfile resolves the profile for st. A recorded profile wins over auto, and
// an explicit request that contradicts the record is refused: a stack must never
// flip bases silently, because its volumes were written by one of them.
func ChooseProfile(ctx context.Context, st Stack, requested, recorded Profile, avail Availability) (Choice, error) {
	switch {
	case recorded != "" && requested != ProfileAuto && requested != recorded:
		return Choice{}, fmt.Errorf("%w: stack %s was first started on base %s, not %s: "+
			"run it with --base %s, or remove it and its data with 'stackctl down %s --volumes' to start over",
			ErrInvalidInput, st.Name, recorded, requested, recorded, st.Name)
	case recorded != "":
		return Choice{recorded, "recorded when the stack was first started"}, nil
	}
	return chooseBases(ctx, st.Bases(), requested, avail)
}

// ChooseBaseProfile chooses the profile for a build on the one base b, with no
// stack and nothing recorded: the requested one, or auto's choice.
func ChooseBaseProfile(ctx context.Context, b Base, requested Profile, avail Availability) (Choice, error) {
	return chooseBases(ctx, []Base{b}, requested, avail)
}

// chooseBases is the requested profile, or under auto, upstream when every base's
// upstream image is present or can be pulled, debian otherwise.
func chooseBases(ctx context.Context, bases []Base, requested Profile, avail Availability) (Choice, error) {
	if requested != ProfileAuto {
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
			return Choice{ProfileDebian, fmt.Sprintf("auto: %s is not present and cannot be pulled (%v)", b.Upstream, err)}, nil
		}
	}
	return Choice{ProfileUpstream, "auto: every upstream base image is present or can be pulled"}, nil
}
