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
	g2, err := st.ForGeneration(p, 2, SlotA, SlotA)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(g2.Services)); !slices.Equal(got, []string{"db-g2", "edge", "nginx", "redmine-g2"}) {
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
		"nginx-tls": "stackctl-redmine_nginx-tls",
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
	alone, _ := st.ForGeneration(p, 3, SlotA, NoFront)
	if _, ok := alone.Services["nginx"]; ok || alone.Volumes["nginx-upstream"].Name != "" || alone.Services["edge"].Name != "" {
		t.Errorf("generation 3 without the front has it: %v", alone.Services)
	}
	if got := PersistenceOf(st, p).ForGeneration(p.Name, 3).Mounts; len(got) != 3 || got[0].Name != "stackctl-redmine_db-data-g3" || got[0].Volume != "db-data" {
		t.Errorf("persistence of generation 3: %+v", got)
	}
}

// TestSlots: a generation's application in its second slot has its own
// service name, the front depends on it, and both slots carry the same
// configuration hash until the configuration changes; names and upstream files
// say which generation and slot they belong to.
func TestSlots(t *testing.T) {
	st, _ := LookupStack("redmine")
	g := st.Generations
	p := st.Model()
	a, err := st.ForGeneration(p, 2, SlotA, SlotA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.ForGeneration(p, 2, SlotB, SlotA)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(b.Services)); !slices.Equal(got, []string{"db-g2", "edge", "nginx", "redmine-g2-b"}) {
		t.Errorf("services in slot B: %q", got)
	}
	if _, ok := b.Services["nginx"].DependsOn["redmine-g2-b"]; !ok {
		t.Errorf("the front depends on %v, want redmine-g2-b", b.Services["nginx"].DependsOn)
	}
	ha, hb := a.Services["redmine-g2"].CustomLabels[ConfigLabel], b.Services["redmine-g2-b"].CustomLabels[ConfigLabel]
	if ha == "" || ha != hb {
		t.Errorf("configuration hashes of the two slots: %q, %q", ha, hb)
	}
	if a.Services["nginx"].CustomLabels[ConfigLabel] != b.Services["nginx"].CustomLabels[ConfigLabel] {
		t.Errorf("the front's configuration hash depends on the slot it serves")
	}
	// The front in its second slot: its own name, the same hash, the edge's network.
	fb, err := st.ForGeneration(p, 2, SlotB, SlotB)
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(fb.Services)); !slices.Equal(got, []string{"db-g2", "edge", "nginx-b", "redmine-g2-b"}) {
		t.Errorf("services with the front in slot B: %q", got)
	}
	if f := fb.Services["nginx-b"]; f.CustomLabels[ConfigLabel] != b.Services["nginx"].CustomLabels[ConfigLabel] ||
		f.NetworkMode != "service:edge" || len(f.Ports) != 0 {
		t.Errorf("nginx-b: hash %q (slot A's %q), network %q, ports %v; want slot A's hash, the edge's network, no ports",
			f.CustomLabels[ConfigLabel], b.Services["nginx"].CustomLabels[ConfigLabel], f.NetworkMode, f.Ports)
	}
	if e := fb.Services["edge"]; len(e.Ports) != 1 || e.Sysctls["net.ipv4.tcp_migrate_req"] != "1" {
		t.Errorf("the edge publishes %v with sysctls %v; want the one port, and queued connections migrated", e.Ports, e.Sysctls)
	}
	if g.FrontService(SlotA) != "nginx" || g.FrontService(SlotB) != "nginx-b" {
		t.Errorf("front services %q, %q", g.FrontService(SlotA), g.FrontService(SlotB))
	}
	changed := st.Model()
	svc := changed.Services["redmine"]
	svc.Environment = maps.Clone(svc.Environment)
	svc.Environment["RAILS_MAX_THREADS"] = ptr("8")
	changed.Services["redmine"] = svc
	c, _ := st.ForGeneration(changed, 2, SlotB, SlotA)
	if c.Services["redmine-g2-b"].CustomLabels[ConfigLabel] == hb {
		t.Errorf("a changed setting keeps the configuration hash")
	}
	for _, tc := range []struct {
		service   string
		gen, slot int
		ok        bool
	}{
		{"redmine", 1, SlotA, true}, {"redmine-b", 1, SlotB, true}, {"redmine-g12-b", 12, SlotB, true},
		{"db-g3", 3, SlotA, true}, {"db-b", 0, 0, false}, {"nginx", 0, 0, false}, {"redmine-g1", 0, 0, false},
	} {
		gen, slot, ok := g.Owner(tc.service)
		if gen != tc.gen || slot != tc.slot || ok != tc.ok {
			t.Errorf("Owner(%q) = %d, %d, %v; want %d, %d, %v", tc.service, gen, slot, ok, tc.gen, tc.slot, tc.ok)
		}
	}
	for _, gen := range []int{1, 2, 10} {
		for _, slot := range []int{SlotA, SlotB} {
			if g2, s2, err := g.ParseUpstream(g.Upstream(gen, slot)); err != nil || g2 != gen || s2 != slot {
				t.Errorf("ParseUpstream(Upstream(%d, %d)) = %d, %d, %v", gen, slot, g2, s2, err)
			}
		}
	}
	if _, _, err := g.ParseUpstream("set $redmine http://db-g2:3000;\n"); err == nil {
		t.Error("an upstream naming the database was accepted")
	}
}
