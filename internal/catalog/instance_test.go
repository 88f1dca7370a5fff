package catalog

import (
	"errors"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
)

// TestInstance checks that an instance names its stack apart on the engine:
// its compose project (and so its containers, networks and volumes) and the
// tags of the images it builds, and nothing of the stack itself.
func TestInstance(t *testing.T) {
	st, err := LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.ComposeProject(); got != "stackctl-redmine" {
		t.Errorf("project without an instance: %s", got)
	}
	if got := st.ImageRef(ProfileDebian, ""); got != "stackctl/redmine:debian" {
		t.Errorf("image without an instance: %s", got)
	}
	st.Instance = "team2"
	if got := st.ComposeProject(); got != "stackctl-redmine-team2" {
		t.Errorf("project of instance team2: %s", got)
	}
	if got := st.ImageRef(ProfileDebian, ""); got != "stackctl/redmine:debian-team2" {
		t.Errorf("image of instance team2: %s", got)
	}
	env, err := st.Env(Settings{Profile: ProfileDebian})
	if err != nil {
		t.Fatal(err)
	}
	if env[varRedmineTag] != "debian-team2" || env[varNginxTag] != "debian-team2" || env[varProfile] != "debian" {
		t.Errorf("interpolation of instance team2: redmine tag %q, nginx tag %q, profile %q", env[varRedmineTag], env[varNginxTag], env[varProfile])
	}
	if got := VolumeName(st.ComposeProject(), "db-data", 2); got != "stackctl-redmine-team2_db-data-g2" {
		t.Errorf("volume of generation 2 of instance team2: %s", got)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"", true}, {"team2", true}, {"a", true}, {"ops-tracker-1", true},
		{"Team2", false}, {"-team", false}, {"team_2", false}, {"team 2", false}, {"a234567890123456789012345678901x", false},
	} {
		err := CheckInstance(tc.name)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, errs.ErrInvalidInput)) {
			t.Errorf("CheckInstance(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
