package catalog

import "testing"

func TestRecipeHash(t *testing.T) {
	r := nginxBase.Recipe
	if r.Hash() != nginxBase.Recipe.Hash() {
		t.Fatal("hash of the same recipe differs")
	}
	for name, change := range map[string]func(*Recipe){
		"suite":     func(r *Recipe) { r.Suite = "forky" },
		"packages":  func(r *Recipe) { r.Packages = []string{"nginx"} },
		"customize": func(r *Recipe) { r.Customize += "\ntrue\n" },
		"changes":   func(r *Recipe) { r.Changes = nil },
		"dpkg opts": func(r *Recipe) { r.DpkgOpts = nil },
		"essential": func(r *Recipe) { r.Essential = "true" },
		"files":     func(r *Recipe) { r.Files = map[string]string{"/x": "y"} },
	} {
		t.Run(name, func(t *testing.T) {
			c := r
			c.Packages = append([]string{}, r.Packages...)
			change(&c)
			if c.Hash() == r.Hash() {
				t.Fatalf("changing %s left the hash unchanged", name)
			}
		})
	}
}
