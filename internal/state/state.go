package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
)

// State is what stackctl remembers about one stack between runs. It lives in
// <state dir>/<stack>/state.json, beside the stack's generated secrets.
type State struct {
	Profile catalog.Profile `json:"profile"`
	// Listen is the host address:port the stack was last published on.
	Listen    string    `json:"listen,omitempty"`
	FirstUpAt time.Time `json:"first_up_at"`
	// Generations are the stack's generations of data, oldest first, and Active
	// the one that serves (0: none recorded; a stack started before generations
	// existed has generation 1 with the volume names it always had).
	Generations []Generation `json:"generations,omitempty"`
	Active      int          `json:"active,omitempty"`
	// Previous is the generation that served before the active one: where a
	// rollback returns by default.
	Previous int `json:"previous,omitempty"`
	// FrontSlot is the slot the front (nginx) runs in: a changed front starts
	// in the other one beside it and takes over its port.
	FrontSlot int `json:"front_slot,omitempty"`
	// Switch, when set, is a change of the active generation that was under
	// way when stackctl stopped.
	Switch *Switch `json:"switch,omitempty"`
	// Upgrade is an upgrade under way (see Upgrade).
	Upgrade *Upgrade `json:"upgrade,omitempty"`
	// Swarm, when set, says the stack runs on a Docker Swarm, not on the
	// engine stackctl builds with: the commands that look at or change it
	// go to that swarm's manager.
	Swarm *Swarm `json:"swarm,omitempty"`
}

// Swarm is where and how a stack was last deployed on a swarm.
type Swarm struct {
	// Manager is the manager engine's address (tcp://host:2376,
	// unix:///var/run/docker.sock); "" for DOCKER_HOST's.
	Manager string `json:"manager,omitempty"`
	// Registry is where the images were pushed and the nodes pull from.
	Registry string `json:"registry"`
	// DataNode is the hostname of the node keeping the node-local volumes,
	// and DataNodeHost its engine's API address, where backups read the
	// database and files ("" when unknown).
	DataNode     string `json:"data_node"`
	DataNodeHost string `json:"data_node_host,omitempty"`
	// Replicas and FilesVolume are the deploy's --replicas and
	// --files-volume, kept for the next up that gives neither.
	Replicas    int               `json:"replicas,omitempty"`
	FilesVolume map[string]string `json:"files_volume,omitempty"`
	// Images are the deployed images by service, as digest references.
	Images map[string]string `json:"images"`
	// Port is the port nginx publishes on every node, and URL the stack's
	// address through the manager's node, where stackctl's checks go.
	Port string `json:"port"`
	URL  string `json:"url"`
	// Release is the release the data was made with; a deploy keeps it.
	Release string `json:"release,omitempty"`
	// DeployedAt is when the last deploy converged.
	DeployedAt time.Time `json:"deployed_at"`
	// Down says 'stackctl down' took the stack off the swarm; its volumes
	// stay on the nodes, and up deploys it again there.
	Down bool `json:"down,omitempty"`
	// PumaWorkers is the Puma worker count the first deploy sized for the
	// host stackctl ran on: kept, so that a restore or a rollback run from
	// elsewhere does not change Redmine's service too.
	PumaWorkers int `json:"puma_workers,omitempty"`
	// Gens are the generations of data on the swarm, oldest first (none
	// recorded: generation 1 alone, with the volume names Swarm gives), Gen
	// the one deployed (0: 1) and Previous the one deployed before it,
	// where a rollback returns.
	Gens     []SwarmGen `json:"gens,omitempty"`
	Gen      int        `json:"gen,omitempty"`
	Previous int        `json:"previous,omitempty"`
	// Pending is a generation a restore was writing when stackctl stopped:
	// the next restore removes what it left on the data node.
	Pending int `json:"pending,omitempty"`
}

// SwarmGen is one generation of a swarm stack's data: its volumes on the
// data node carry its number (catalog.VolumeName), and FilesVolume is the
// shared storage its files are on, if they are shared.
type SwarmGen struct {
	N           int               `json:"n"`
	Made        string            `json:"made"`
	Source      string            `json:"source,omitempty"`
	At          time.Time         `json:"at"`
	FilesVolume map[string]string `json:"files_volume,omitempty"`
}

// Active is the generation deployed.
func (s Swarm) Active() int { return max(s.Gen, 1) }

// AllGens are the generations recorded, oldest first, or, for a stack
// deployed before generations were recorded, generation 1 made up from the
// deploy's (see GenOf).
func (s Swarm) AllGens() []SwarmGen {
	if len(s.Gens) == 0 {
		g1, _ := s.GenOf(1)
		return []SwarmGen{g1}
	}
	return s.Gens
}

// GenOf is generation n's record; generation 1 of a stack deployed before
// generations were recorded is made up from the deploy's.
func (s Swarm) GenOf(n int) (SwarmGen, bool) {
	for _, g := range s.Gens {
		if g.N == n {
			return g, true
		}
	}
	if n == 1 && len(s.Gens) == 0 {
		return SwarmGen{N: 1, Made: MadeFirstStart, FilesVolume: s.FilesVolume}, true
	}
	return SwarmGen{}, false
}

// NextGen is the number a new generation gets: never one used before.
func (s Swarm) NextGen() int {
	n := max(s.Gen, s.Pending, 1)
	for _, g := range s.Gens {
		n = max(n, g.N)
	}
	return n + 1
}

// Dir holds stackctl's per-stack state. Its zero value is not usable; use
// Default or a path of the operator's choosing.
type Dir string

// Default is $STACKCTL_STATE_DIR, else $XDG_STATE_HOME/stackctl, else
// ~/.local/state/stackctl.
func Default() Dir {
	if d := os.Getenv("STACKCTL_STATE_DIR"); d != "" {
		return Dir(d)
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return Dir(filepath.Join(d, "stackctl"))
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		// Never a shared temporary directory: the stacks' secrets live here.
		return ""
	}
	return Dir(filepath.Join(home, ".local", "state", "stackctl"))
}

// Check fails when d names no directory, as Default does without a home, or a
// directory others may write to (such as /tmp): the stacks' secrets live here.
func (d Dir) Check() error {
	if d == "" {
		return fmt.Errorf("%w: no state directory: neither $STACKCTL_STATE_DIR nor $HOME is set: "+
			"set STACKCTL_STATE_DIR to a private directory (never /tmp: the stacks' secrets live there) or pass --state-dir", errs.ErrInvalidInput)
	}
	fi, err := os.Stat(string(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // made, private, when first written
	}
	if err != nil {
		return err
	}
	return privateDir(string(d), fi)
}

// ensureDir makes dir (mode 0700) when missing and checks it is private.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	return privateDir(dir, fi)
}

// privateDir refuses a directory of stackctl's state that others may write
// to, or that another user owns: files could be planted or swapped in it.
func privateDir(path string, fi fs.FileInfo) error {
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", errs.ErrInvalidInput, path)
	}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: state directory %s belongs to uid %d, not to you (uid %d): use a directory of your own", errs.ErrInvalidInput, path, sys.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: state directory %s may be written by others (mode %v): use a private one, or chmod go-w %s", errs.ErrInvalidInput, path, fi.Mode().Perm(), path)
	}
	return nil
}

// StackDir is the directory that holds one stack's state and secrets.
func (d Dir) StackDir(stack string) string { return filepath.Join(string(d), stack) }

func (d Dir) statePath(stack string) string {
	return filepath.Join(d.StackDir(stack), "state.json")
}

// Load returns the recorded state of stack, or the zero State when none is recorded.
func (d Dir) Load(stack string) (State, error) {
	var s State
	b, err := readPrivate(d.statePath(stack))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading state of %s: %w", stack, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("reading state of %s: %s is damaged (%v): fix or remove it", stack, d.statePath(stack), err)
	}
	if _, err := catalog.ParseProfile(string(s.Profile)); err != nil || s.Profile == catalog.ProfileAuto {
		return s, fmt.Errorf("reading state of %s: %s records profile %q: fix or remove it", stack, d.statePath(stack), s.Profile)
	}
	return s, nil
}

// Update changes stack name's recorded state with fn and saves it.
func (d Dir) Update(name string, fn func(*State) error) error {
	rec, err := d.Load(name)
	if err != nil {
		return err
	}
	if err := fn(&rec); err != nil {
		return err
	}
	if err := d.Save(name, rec); err != nil {
		return fmt.Errorf("recording the state of %s: %w", name, err)
	}
	return nil
}

// Save records s atomically: a crash leaves the old record or the new one, never half.
func (d Dir) Save(stack string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(d.statePath(stack), append(b, '\n'), 0o600)
}

// Forget removes the recorded state of stack (not its secrets).
func (d Dir) Forget(stack string) error {
	err := os.Remove(d.statePath(stack))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
