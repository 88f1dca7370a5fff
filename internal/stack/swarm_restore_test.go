package stack

import (
	"errors"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/swarm"
)

// A restore on a swarm never writes into the storage a generation's files
// are on; node-local files stay node-local.
func TestRestoredFiles(t *testing.T) {
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	g1 := map[string]string{"type": "nfs", "device": ":/export/files"}
	g2 := map[string]string{"type": "nfs", "device": ":/export/files-2"}
	g3 := map[string]string{"type": "nfs", "device": ":/export/files-3"}
	shared := state.Swarm{FilesVolume: g2, Gen: 2, Gens: []state.SwarmGen{{N: 1, FilesVolume: g1}, {N: 2, FilesVolume: g2}}}
	for _, c := range []struct {
		name   string
		sw     state.Swarm
		flag   map[string]string
		want   map[string]string
		refuse bool
	}{
		{"node-local", state.Swarm{}, nil, nil, false},
		{"node-local given storage", state.Swarm{}, g3, nil, true},
		{"shared without new storage", shared, nil, nil, true},
		{"shared onto the serving storage", shared, g2, nil, true},
		{"shared onto an older generation's", shared, g1, nil, true},
		{"shared before generations were recorded", state.Swarm{FilesVolume: g1}, g1, nil, true},
		{"shared onto new storage", shared, g3, g3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := restoredFiles(st, c.sw, c.flag)
			if c.refuse {
				if !errors.Is(err, swarm.ErrRefused) {
					t.Fatalf("got %v, %v; want refused", got, err)
				}
				return
			}
			if err != nil || len(got) != len(c.want) || got["device"] != c.want["device"] {
				t.Fatalf("got %v, %v; want %v", got, err, c.want)
			}
		})
	}
}

// TestObserveSwarm: a restore on a swarm skips the numbers whose volumes
// the data node has without a record, but not the generation a stopped
// restore left, whose volumes the recovery removes first; a rollback sees
// which generations lack a volume there (the database's alone when the
// files are on shared storage).
func TestObserveSwarm(t *testing.T) {
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	data := newScripted()
	for _, v := range append(genVolumes(2)[:1], genVolumes(3)...) {
		data.volumes[v] = true
	}
	data.volumes[genVolumes(1)[0]] = true
	r := Runner{State: state.Dir(t.TempDir())}
	shared := map[string]string{"type": "nfs"}
	sw := &state.Swarm{DataNode: "node-1", Gen: 4, Previous: 1, Pending: 3,
		Gens: []state.SwarmGen{{N: 1, FilesVolume: shared}, {N: 4}}}
	if err := r.State.Save(st.Name, state.State{Profile: catalog.ProfileUpstream, Swarm: sw}); err != nil {
		t.Fatal(err)
	}
	obs, err := r.For(st).observeSwarmGeneration(t.Context(), data, state.MadeRestore, "a.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	// Generation 4 is deployed: the next is 5, whatever is on the node.
	if p := planRestore(obs); obs.Next != 5 || p.next.gen != 5 || !p.next.recover || p.next.from != 4 {
		t.Errorf("next %d, taken %v: plan from %d to %d, recover %v; want 4 to 5, recovering 3", obs.Next, obs.Swarm.Taken, p.next.from, p.next.gen, p.next.recover)
	}
	sw.Gen, sw.Gens = 1, sw.Gens[:1]
	if err := r.State.Save(st.Name, state.State{Profile: catalog.ProfileUpstream, Swarm: sw}); err != nil {
		t.Fatal(err)
	}
	if obs, err = r.For(st).observeSwarmGeneration(t.Context(), data, state.MadeRestore, "a.tar.zst"); err != nil {
		t.Fatal(err)
	}
	p := planRestore(obs)
	if p.next.gen != 3 || !p.next.recover || len(p.next.skipped) != 1 || obs.Swarm.Taken[2] != genVolumes(2)[0] {
		t.Errorf("taken %v: plan generation %d, recover %v, skipped %v; want 2 skipped, 3 (the pending one's number) made", obs.Swarm.Taken, p.next.gen, p.next.recover, p.next.skipped)
	}
	sw.Gen, sw.Pending, sw.Gens = 4, 0, []state.SwarmGen{{N: 1, FilesVolume: shared}, {N: 2}, {N: 4}}
	if err := r.State.Save(st.Name, state.State{Profile: catalog.ProfileUpstream, Swarm: sw}); err != nil {
		t.Fatal(err)
	}
	ro, err := r.For(st).observeSwarmRollback(t.Context(), data, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ro.Missing) != 1 || ro.Missing[2] != genVolumes(2)[1] {
		t.Errorf("missing %v: want generation 2's files volume alone (generation 1's files are shared)", ro.Missing)
	}
}
