package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// State is what stackctl remembers about one stack between runs. It lives in
// <state dir>/<stack>/state.json, beside the stack's generated secrets.
type State struct {
	Profile Profile `json:"profile"`
	// Listen is the host address:port the stack was last published on.
	Listen    string    `json:"listen,omitempty"`
	FirstUpAt time.Time `json:"first_up_at"`
	// Configured is set once the stack's first-start configuration has run.
	Configured bool `json:"configured,omitempty"`
}

// StateDir holds stackctl's per-stack state. Its zero value is not usable; use
// DefaultStateDir or a path of the operator's choosing.
type StateDir string

// DefaultStateDir is $STACKCTL_STATE_DIR, else $XDG_STATE_HOME/stackctl, else
// ~/.local/state/stackctl.
func DefaultStateDir() StateDir {
	if d := os.Getenv("STACKCTL_STATE_DIR"); d != "" {
		return StateDir(d)
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return StateDir(filepath.Join(d, "stackctl"))
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return StateDir(filepath.Join(os.TempDir(), "stackctl-state"))
	}
	return StateDir(filepath.Join(home, ".local", "state", "stackctl"))
}

// StackDir is the directory that holds one stack's state and secrets.
func (d StateDir) StackDir(stack string) string { return filepath.Join(string(d), stack) }

func (d StateDir) statePath(stack string) string {
	return filepath.Join(d.StackDir(stack), "state.json")
}

// Load returns the recorded state of stack, or the zero State when none is recorded.
func (d StateDir) Load(stack string) (State, error) {
	var s State
	b, err := os.ReadFile(d.statePath(stack))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading state of %s: %w", stack, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("reading state of %s: %s is damaged (%v): fix or remove it", stack, d.statePath(stack), err)
	}
	if _, err := ParseProfile(string(s.Profile)); err != nil || s.Profile == ProfileAuto {
		return s, fmt.Errorf("reading state of %s: %s records profile %q: fix or remove it", stack, d.statePath(stack), s.Profile)
	}
	return s, nil
}

// Save records s atomically: a crash leaves the old record or the new one, never half.
func (d StateDir) Save(stack string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(d.statePath(stack), append(b, '\n'), 0o600)
}

// Forget removes the recorded state of stack (not its secrets).
func (d StateDir) Forget(stack string) error {
	err := os.Remove(d.statePath(stack))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// writeFileAtomic writes data to path as WriteAtomic does, creating the
// directory (mode 0700) if needed.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return WriteAtomic(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic writes path through write: beside it under a temporary name
// (".<name>.partial-*") with mode, synced, renamed into place, and the directory
// synced so that the rename lasts. No reader ever sees a partial file under path;
// a failed write removes its temporary file, a killed one leaves only that.
func WriteAtomic(path string, mode fs.FileMode, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file beside %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	err = f.Chmod(mode)
	if err == nil {
		err = write(f)
	}
	if err == nil {
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("syncing %s: %w", tmp, err)
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
