package stack

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
)

// update reports -update: rewrite golden files and generated compose files. A test
// helper linked in through the Compose SDK may define the flag already; share it.
var update = func() func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files and generated compose files")
	}
	return func() bool { return flag.Lookup("update").Value.String() == "true" }
}()

// repoRoot is the checkout these tests run in.
func repoRoot(t *testing.T) BuildDir {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return BuildDir(r)
}

// TestLoadGolden loads each stack under each profile as 'stackctl config' does
// and compares the normalized YAML with testdata/<stack>-<profile>.golden.yaml.
func TestLoadGolden(t *testing.T) {
	root := repoRoot(t)
	for _, name := range catalog.StackNames() {
		for _, p := range []catalog.Profile{catalog.ProfileUpstream, catalog.ProfileDebian} {
			t.Run(name+"/"+string(p), func(t *testing.T) {
				st, _ := catalog.LookupStack(name)
				proj, err := root.Load(context.Background(), st, catalog.Settings{Profile: p, Listen: "127.0.0.1:8080"})
				if err != nil {
					t.Fatal(err)
				}
				y, err := proj.MarshalYAML()
				if err != nil {
					t.Fatal(err)
				}
				got := strings.ReplaceAll(string(y), string(root), "$ROOT")
				golden := filepath.Join("testdata", name+"-"+string(p)+".golden.yaml")
				if update() {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (create it with go test ./internal/stack -update)", err)
				}
				if got != string(want) {
					t.Fatalf("normalized compose differs from %s (refresh with -update if intended):\n%s", golden, got)
				}
				for _, b := range st.Bases() {
					if !strings.Contains(got, b.Ref(p)) {
						t.Errorf("profile %s does not build on %s", p, b.Ref(p))
					}
				}
			})
		}
	}
}
