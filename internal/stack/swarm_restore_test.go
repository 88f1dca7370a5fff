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
