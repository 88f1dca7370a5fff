package swarm

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/mount"

	"github.com/stackctl/stackctl/internal/catalog"
)

// checkout is this repository, where the generated files are.
const checkout = "../.."

// update reports -update: rewrite the generated Swarm stack files. Another
// package linked in may define the flag already; share it.
var update = func() func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files and generated stack files")
	}
	return func() bool { return flag.Lookup("update").Value.String() == "true" }
}()

// TestSwarmFilesUpToDate is the drift check: every committed Swarm stack
// file is exactly what Render makes of its stack's model.
func TestSwarmFilesUpToDate(t *testing.T) {
	for _, name := range catalog.StackNames() {
		st, _ := catalog.LookupStack(name)
		path := filepath.Join(checkout, "stacks", name, FileName)
		if !Supports(st) {
			if _, err := os.Stat(path); err == nil {
				t.Errorf("%s exists, but stack %s has no Swarm form", path, name)
			}
			continue
		}
		t.Run(name, func(t *testing.T) {
			want, err := Render(st, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if update() {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			have, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(have) != string(want) {
				t.Fatalf("%s differs from its model: run 'go run ./cmd/stackctl generate' (or go test ./internal/swarm -update)", path)
			}
		})
	}
}

// TestRenderOptions: shared files spread Redmine over the nodes, a number of
// replicas is written as it is, and a stack without a Swarm form is refused.
func TestRenderOptions(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	opts := map[string]string{"type": "nfs", "o": "addr=10.0.0.5,rw", "device": ":/export/files"}
	file, err := Render(st, Options{Replicas: 3, FilesVolume: opts})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(file), "STACKCTL_REDMINE_REPLICAS") {
		t.Error("Replicas 3 still leaves the number to a variable")
	}
	cfg, err := Load(file, testEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	rm := specs(t, cfg)["redmine"]
	if r := rm.Mode.Replicated.Replicas; *r != 3 {
		t.Errorf("replicas %d, want 3", *r)
	}
	p := rm.TaskTemplate.Placement
	if len(p.Constraints) != 0 || p.MaxReplicas != 1 || len(p.Preferences) != 1 || p.Preferences[0].Spread.SpreadDescriptor != "node.id" {
		t.Errorf("placement %+v, want no constraint, spread over nodes, one per node", p)
	}
	i := slices.IndexFunc(rm.TaskTemplate.ContainerSpec.Mounts, func(m mount.Mount) bool { return m.Target == "/usr/src/redmine/files" })
	if i < 0 {
		t.Fatal("no files mount")
	}
	m := rm.TaskTemplate.ContainerSpec.Mounts[i]
	if d := m.VolumeOptions.DriverConfig; d == nil || d.Name != "local" || d.Options["type"] != "nfs" || d.Options["device"] != ":/export/files" {
		t.Errorf("files volume %+v, want the local driver with the NFS options", m.VolumeOptions)
	}
	if db := specs(t, cfg)["db"].TaskTemplate.Placement; !slices.Equal(db.Constraints, []string{dataConstraint}) {
		t.Errorf("db placement %+v: shared files leave the database on the data node", db)
	}

	nginx, _ := catalog.LookupStack("nginx")
	if _, err := Render(nginx, Options{}); err == nil {
		t.Error("the nginx stack rendered a Swarm form")
	}
	if _, err := Render(st, Options{Replicas: -1}); err == nil {
		t.Error("-1 replicas rendered")
	}
}
