package catalog

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestReleases: each release's bases are built from its suite with its
// PostgreSQL major throughout, the default release keeps the tag a stack had
// before releases existed, and versions name their release on each profile.
func TestReleases(t *testing.T) {
	st, _ := LookupStack("redmine")
	for _, rel := range Releases() {
		for _, b := range st.BasesFor(rel) {
			if b.Name == "nginx" {
				continue
			}
			if b.Recipe.Suite != rel.Suite {
				t.Errorf("release %s: base %s from %s, want %s", rel.Name, b.Name, b.Recipe.Suite, rel.Suite)
			}
			if b.Name != "postgres" {
				continue
			}
			pkg, dir := fmt.Sprintf("postgresql-%d", rel.Postgres), fmt.Sprintf("postgresql/%d/", rel.Postgres)
			text := strings.Join(b.Recipe.Changes, "\n") + b.Recipe.Customize
			for _, m := range pgPath.FindAllString(text, -1) {
				if m != dir {
					t.Errorf("release %s: postgres base names %s, want only %s", rel.Name, m, dir)
				}
			}
			if !slices.Contains(b.Recipe.Packages, pkg) || !strings.Contains(text, dir) {
				t.Errorf("release %s: postgres base lacks %s or %s", rel.Name, pkg, dir)
			}
		}
	}
	forky, err := ReleaseOf(ProfileDebian, "6.1.5")
	if err != nil || forky.Name != "6.1" || forky.Postgres != 18 || len(forky.AptOpts) == 0 {
		t.Errorf("ReleaseOf(debian, 6.1.5) = %+v, %v", forky, err)
	}
	if _, err := ReleaseOf(ProfileUpstream, "6.1.5"); err == nil {
		t.Error("upstream accepted 6.1.5, a version only the debian profile carries")
	}
	if r, err := ReleaseOf(ProfileUpstream, "6.1"); err != nil || r.Name != "6.1" {
		t.Errorf("ReleaseOf(upstream, 6.1) = %+v, %v", r, err)
	}
	def, _ := LookupRelease("")
	if def.Tag(ProfileDebian) != "debian" || forky.Tag(ProfileDebian) != "debian-6.1" || !forky.Newer(def) || def.Newer(forky) {
		t.Errorf("tags %q %q, newer %v %v", def.Tag(ProfileDebian), forky.Tag(ProfileDebian), forky.Newer(def), def.Newer(forky))
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{{"6.1.5", "6.1", 1}, {"6.0.10", "6.0.9", 1}, {"5.1", "6.0", -1}, {"6.1", "6.1.0", 0}, {"6.1.0.devel", "6.1.0", 1}} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

var pgPath = regexp.MustCompile(`postgresql/[0-9]+/`)
