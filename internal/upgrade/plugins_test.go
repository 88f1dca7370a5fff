package upgrade

import "testing"

// TestPluginRequirements: requires_redmine in the forms plugins write it,
// read as Redmine reads it.
func TestPluginRequirements(t *testing.T) {
	for _, tc := range []struct {
		line  string
		allow map[string]bool
	}{
		{"", map[string]bool{"6.1.5": true}},
		{"requires_redmine version_or_higher: '5.0.0'", map[string]bool{"6.1.5": true, "4.2.11": false}},
		{"requires_redmine :version_or_higher => '6.1'", map[string]bool{"6.1.5": true, "6.0.5": false}},
		{"requires_redmine '6.1.0'", map[string]bool{"6.1.5": true, "6.0.5": false}},
		{"requires_redmine version: '6.0'", map[string]bool{"6.0.5": true, "6.1.5": false}},
		{"requires_redmine version: ['5.1', '6.0']", map[string]bool{"6.0.5": true, "5.1.2": true, "6.1.5": false}},
		{"requires_redmine version: '5.0'..'6.0'", map[string]bool{"6.0.5": true, "5.0.0": true, "6.1.5": false, "4.2": false}},
		{"requires_redmine version: '5.0'...'6.1'", map[string]bool{"6.0.5": true, "6.1.5": false}},
		{"  requires_redmine(version_or_higher: \"6.0.0\")", map[string]bool{"6.1.5": true, "5.1": false}},
	} {
		p, err := parsePlugin("x", "Redmine::Plugin.register :x do\n  name 'X'\n"+tc.line+"\nend\n")
		if err != nil {
			t.Errorf("%q: %v", tc.line, err)
			continue
		}
		for v, want := range tc.allow {
			if got := p.Allows(v); got != want {
				t.Errorf("%q allows %s = %v, want %v", tc.line, v, got, want)
			}
		}
	}
	if _, err := parsePlugin("x", "requires_redmine Redmine::VERSION::MAJOR\n"); err == nil {
		t.Error("a requirement stackctl cannot read was taken as none")
	}
	ps, err := parsePlugins("\n==> /p/a/init.rb <==\nrequires_redmine version: '6.0'\n\n==> /p/b/init.rb <==\nputs 1\n")
	if err != nil || len(ps) != 2 || ps[0].Name != "a" || ps[1].Name != "b" || ps[0].Allows("6.1.5") || !ps[1].Allows("6.1.5") {
		t.Errorf("parsePlugins: %+v, %v", ps, err)
	}
}
