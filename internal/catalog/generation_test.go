package catalog

import (
	"maps"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// TestForGeneration: generation 2 of the Redmine stack has its own services on
// its own volumes, its Redmine talks to its own database, the front points at
// it, and the project it came from is left as it was.
func TestForGeneration(t *testing.T) {
	st, err := LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	p := st.Model()
	for name, v := range p.Volumes {
		v.Name = "stackctl-redmine_" + name // as compose-go's loader names them
		p.Volumes[name] = v
	}
	g2, err := st.ForGeneration(p, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(g2.Services)); !slices.Equal(got, []string{"db-g2", "nginx", "redmine-g2"}) {
		t.Errorf("services %q", got)
	}
	if h := g2.Services["redmine-g2"].Environment["REDMINE_DB_POSTGRES"]; h == nil || *h != "db-g2" {
		t.Errorf("redmine-g2 talks to database %v, want db-g2", h)
	}
	if _, ok := g2.Services["redmine-g2"].DependsOn["db-g2"]; !ok {
		t.Errorf("redmine-g2 depends on %v, want db-g2", g2.Services["redmine-g2"].DependsOn)
	}
	if _, ok := g2.Services["nginx"].DependsOn["redmine-g2"]; !ok {
		t.Errorf("the front depends on %v, want redmine-g2", g2.Services["nginx"].DependsOn)
	}
	want := map[string]string{
		"db-data-g2": "stackctl-redmine_db-data-g2", "redmine-files-g2": "stackctl-redmine_redmine-files-g2",
		"redmine-plugins-g2": "stackctl-redmine_redmine-plugins-g2", "nginx-upstream": "stackctl-redmine_nginx-upstream",
	}
	if len(g2.Volumes) != len(want) {
		t.Errorf("volumes %v, want %v", g2.Volumes, want)
	}
	for key, name := range want {
		if g2.Volumes[key].Name != name {
			t.Errorf("volume %s is named %q, want %q", key, g2.Volumes[key].Name, name)
		}
	}
	for _, v := range g2.Services["db-g2"].Volumes {
		if v.Type == types.VolumeTypeVolume && v.Source != "db-data-g2" {
			t.Errorf("db-g2 mounts %s", v.Source)
		}
	}
	// The source is untouched, and a generation without the front has none.
	if h := p.Services["redmine"].Environment["REDMINE_DB_POSTGRES"]; *h != "db" || p.Services["db"].Volumes[0].Source != "db-data" {
		t.Errorf("ForGeneration changed the project it was given")
	}
	alone, _ := st.ForGeneration(p, 3, false)
	if _, ok := alone.Services["nginx"]; ok || alone.Volumes["nginx-upstream"].Name != "" {
		t.Errorf("generation 3 without the front has it: %v", alone.Services)
	}
	if got := PersistenceOf(st, p).ForGeneration(p.Name, 3).Mounts; len(got) != 3 || got[0].Name != "stackctl-redmine_db-data-g3" || got[0].Volume != "db-data" {
		t.Errorf("persistence of generation 3: %+v", got)
	}
}
