package catalog

import (
	"fmt"
	"strings"

	"github.com/stackctl/stackctl/internal/errs"
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
		return "", fmt.Errorf("%w: unknown base profile %q: use one of %s", errs.ErrInvalidInput, s, joinProfiles())
	}
}

func joinProfiles() string {
	names := make([]string, len(Profiles))
	for i, p := range Profiles {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}
