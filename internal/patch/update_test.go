package patch

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/updates"
)

func fixes(suite string, names ...string) []updates.Update {
	var out []updates.Update
	for _, n := range names {
		out = append(out, updates.Update{Package: n, Architecture: "amd64", Installed: "1", Available: "2", Suite: suite})
	}
	return out
}

// TestRebuild: a base is rebuilt for the fixes its tag lacks, or those an
// image that runs on it lacks (its tag rebuilt since, by another stack's
// update); a base with nothing pending is left alone.
func TestRebuild(t *testing.T) {
	for _, tc := range []struct {
		name   string
		p      Pending
		want   []string
		whyHas map[string]string
	}{
		{name: "nothing pending", p: Pending{
			Running: []Image{{Base: "redmine", Services: []string{"redmine"}}},
			Bases:   []Image{{Base: "redmine"}, {Base: "postgres"}},
		}},
		{name: "a base's tag", p: Pending{
			Running: []Image{{Base: "postgres", Services: []string{"db"}, Updates: fixes("trixie-security", "libpq5", "postgresql-17")}},
			Bases:   []Image{{Base: "redmine"}, {Base: "postgres", Updates: fixes("trixie-security", "libpq5", "postgresql-17")}},
		}, want: []string{"postgres"}, whyHas: map[string]string{"postgres": "2 fixes (libpq5, postgresql-17) from trixie-security"}},
		{name: "only what runs", p: Pending{
			Running: []Image{{Base: "nginx", Services: []string{"edge", "nginx"}, Updates: fixes("trixie-updates", "tzdata")}},
			Bases:   []Image{{Base: "nginx"}},
		}, want: []string{"nginx"}, whyHas: map[string]string{"nginx": "1 fix (tzdata) from trixie-updates in the image edge, nginx runs"}},
		{name: "the edge, held", p: Pending{
			Running: []Image{{Base: "nginx", Services: []string{"edge"}, Updates: fixes("trixie-security", "libc6"), Held: "kept"}},
			Bases:   []Image{{Base: "nginx"}},
		}},
		{name: "many, both suites", p: Pending{
			Bases: []Image{{Base: "redmine", Updates: append(fixes("trixie-security", "ruby3.3", "libssl3t64", "openssl", "krb5"), fixes("trixie-updates", "tzdata")...)}},
		}, want: []string{"redmine"}, whyHas: map[string]string{"redmine": "5 fixes (ruby3.3, libssl3t64, openssl, krb5, …) from trixie-security and trixie-updates"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := Rebuild(tc.p)
			if rb.All {
				t.Error("an update rebuilds every base")
			}
			if got := slices.Sorted(maps.Keys(rb.Bases)); !slices.Equal(got, tc.want) {
				t.Errorf("rebuilt %v, want %v", got, tc.want)
			}
			for base, want := range tc.whyHas {
				if why, _ := rb.Of(base); !strings.Contains(why, want) {
					t.Errorf("why %s: %q, want %q", base, why, want)
				}
			}
		})
	}
}

// TestChecksValidUntil: a release whose suite apt is told to take past its
// Valid-Until is read the same way.
func TestChecksValidUntil(t *testing.T) {
	for _, rel := range catalog.Releases() {
		want := rel.Suite != "forky"
		if got := checksValidUntil(rel); got != want {
			t.Errorf("release %s (%s): checks Valid-Until %v, want %v", rel.Name, rel.Suite, got, want)
		}
	}
}

func TestNativeArch(t *testing.T) {
	in := []updates.Installed{{Package: "a", Architecture: "all"}, {Package: "b", Architecture: "arm64"}, {Package: "c", Architecture: "arm64"}, {Package: "d", Architecture: "all"}}
	if got := nativeArch(in); got != "arm64" {
		t.Errorf("nativeArch = %s, want arm64", got)
	}
	if got := nativeArch(nil); got != "amd64" {
		t.Errorf("nativeArch of nothing = %s, want amd64", got)
	}
}
