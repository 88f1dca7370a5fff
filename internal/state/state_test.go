package state

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
)

func TestStateRoundTrip(t *testing.T) {
	d := Dir(t.TempDir())
	s, err := d.Load("nginx")
	if err != nil || s.Profile != "" {
		t.Fatalf("Load of nothing = %+v, %v; want zero state", s, err)
	}
	want := State{Profile: catalog.ProfileDebian, Listen: "127.0.0.1:9000", FirstUpAt: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}
	if err := d.Save("nginx", want); err != nil {
		t.Fatal(err)
	}
	got, err := d.Load("nginx")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, want)
	}
	fi, err := os.Stat(d.statePath("nginx"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, want 0600", fi.Mode().Perm())
	}
	if err := d.Forget("nginx"); err != nil {
		t.Fatal(err)
	}
	if s, _ := d.Load("nginx"); s.Profile != "" {
		t.Errorf("after Forget, Load = %+v, want zero state", s)
	}
}

func TestStateRejectsDamage(t *testing.T) {
	for name, content := range map[string]string{
		"not json":     "{",
		"auto":         `{"profile":"auto"}`,
		"unknown base": `{"profile":"alpine"}`,
	} {
		t.Run(name, func(t *testing.T) {
			d := Dir(t.TempDir())
			if err := atomicfile.WriteFile(d.statePath("nginx"), []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Load("nginx"); err == nil {
				t.Fatal("Load accepted a damaged state file")
			}
		})
	}
}

// TestPrivateFiles: a state or secret file that is open to others, not a
// regular file, or (as root can arrange) another user's, is refused, not used.
func TestPrivateFiles(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, path string)
		want  string
	}{
		{name: "readable by the group", want: "open to others", plant: func(t *testing.T, path string) {
			writeOrFail(t, path, 0o640)
		}},
		{name: "a symlink", want: "regular file", plant: func(t *testing.T, path string) {
			other := filepath.Join(t.TempDir(), "elsewhere")
			writeOrFail(t, other, 0o600)
			if err := os.Symlink(other, path); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "another user's, mode 0600", want: "belongs to uid 4242", plant: func(t *testing.T, path string) {
			if os.Geteuid() != 0 {
				t.Skip("only root can give a file to another user")
			}
			writeOrFail(t, path, 0o600)
			if err := os.Chown(path, 4242, 4242); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Dir(t.TempDir())
			if err := os.MkdirAll(d.SecretsDir(st.Name), 0o700); err != nil {
				t.Fatal(err)
			}
			tc.plant(t, d.SecretPath(st.Name, catalog.AdminPassword))
			tc.plant(t, d.statePath(st.Name))
			for what, err := range map[string]error{
				"EnsureSecrets": d.EnsureSecrets(st),
				"ReadSecret":    second(d.ReadSecret(st.Name, catalog.AdminPassword)),
				"SecretValues":  second(d.SecretValues(st)),
				"Load":          second(d.Load(st.Name)),
			} {
				if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: %v, want errs.ErrInvalidInput saying %q", what, err, tc.want)
				}
			}
		})
	}
}

func writeOrFail(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("planted\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestNoStateDirWithoutHome(t *testing.T) {
	t.Setenv("STACKCTL_STATE_DIR", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "")
	d := Default()
	if err := d.Check(); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "STACKCTL_STATE_DIR") {
		t.Fatalf("Default() = %q, Check: %v; want no directory, and a message naming STACKCTL_STATE_DIR", d, err)
	}
}

// TestSecretKeeper: the working secret stays in the file until the new one is
// accepted; a refused one leaves no trace.
func TestSecretKeeper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin_password")
	writeOrFail(t, path, 0o600) // "planted\n" is the working password here
	k := SecretKeeper{Path: path, Generate: func() (string, error) { return "fresh", nil }}
	for _, accept := range []bool{false, true} {
		pw, err := k.Propose()
		if err != nil || pw != "fresh" {
			t.Fatalf("Propose: %q, %v", pw, err)
		}
		if got, _ := ReadSecretFile(path); got != "planted" {
			t.Fatalf("while proposed, the file holds %q, want the working password", got)
		}
		if accept {
			if err := k.Accepted(pw); err != nil {
				t.Fatal(err)
			}
		} else {
			k.Refused()
		}
		_, err = os.Stat(path + ".new")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("after accepted=%v, %s.new is still there (%v)", accept, path, err)
		}
	}
	if got, _ := ReadSecretFile(path); got != "fresh" {
		t.Fatalf("after Accepted, the file holds %q, want the new password", got)
	}
	// A password kept aside by a run that never learnt its fate is not overwritten.
	writeOrFail(t, path+".new", 0o600)
	if _, err := k.Propose(); err == nil || !strings.Contains(err.Error(), "may have been taken") {
		t.Fatalf("Propose over an earlier run's new password: %v, want a refusal", err)
	}
	if got, _ := ReadSecretFile(path + ".new"); got != "planted" {
		t.Fatalf("the earlier new password became %q", got)
	}
}

// fakeInfo is a file's metadata as another user's file would have it.
type fakeInfo struct {
	fs.FileInfo
	mode fs.FileMode
	uid  uint32
}

func (f fakeInfo) Mode() fs.FileMode { return f.mode }
func (f fakeInfo) IsDir() bool       { return f.mode.IsDir() }
func (f fakeInfo) Sys() any          { return &syscall.Stat_t{Uid: f.uid} }

// TestPrivateOwner: a file or directory of another user is refused whatever its
// mode, without needing root to make one.
func TestPrivateOwner(t *testing.T) {
	other := uint32(os.Geteuid() + 1)
	if err := private("secret", fakeInfo{mode: 0o600, uid: other}); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "belongs to uid") {
		t.Errorf("another user's 0600 file: %v", err)
	}
	if err := private("secret", fakeInfo{mode: 0o600, uid: uint32(os.Geteuid())}); err != nil {
		t.Errorf("your own 0600 file: %v", err)
	}
	if err := privateDir("state", fakeInfo{mode: fs.ModeDir | 0o700, uid: other}); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("another user's directory: %v", err)
	}
}

// TestStateDirOpenToOthers: a state directory others may write to, such as
// /tmp, is refused; so is a stack directory that became one.
func TestStateDirOpenToOthers(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := Dir(dir).Check(); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "written by others") {
		t.Fatalf("Check of a 1777 directory: %v", err)
	}
	d := Dir(t.TempDir())
	if err := os.MkdirAll(d.StackDir("redmine"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(d.StackDir("redmine"), 0o777)
	if _, err := d.Lock(context.Background(), "redmine", LockOptions{}); !errors.Is(err, errs.ErrInvalidInput) {
		t.Fatalf("Lock in a 0777 stack directory: %v", err)
	}
	st, _ := catalog.LookupStack("redmine")
	if err := d.EnsureSecrets(st); !errors.Is(err, errs.ErrInvalidInput) {
		t.Fatalf("EnsureSecrets in a 0777 stack directory: %v", err)
	}
}

func TestSwarmGenerations(t *testing.T) {
	files := map[string]string{"device": ":/g1"}
	var sw Swarm
	sw.FilesVolume = files
	if sw.Active() != 1 || sw.NextGen() != 2 {
		t.Errorf("a deploy without generations: active %d, next %d, want 1 and 2", sw.Active(), sw.NextGen())
	}
	if g, ok := sw.GenOf(1); !ok || g.FilesVolume["device"] != ":/g1" {
		t.Errorf("generation 1 of a deploy without generations: %+v %v, want it made up with the deploy's files", g, ok)
	}
	if _, ok := sw.GenOf(2); ok {
		t.Error("generation 2 found where there is none")
	}
	// A pending number is never given again, nor one recorded.
	sw.Pending = 4
	if sw.NextGen() != 5 {
		t.Errorf("next with 4 pending: %d, want 5", sw.NextGen())
	}
	sw = Swarm{Gen: 2, Gens: []SwarmGen{{N: 1}, {N: 3}, {N: 2}}}
	if sw.Active() != 2 || sw.NextGen() != 4 {
		t.Errorf("active %d next %d, want 2 and 4", sw.Active(), sw.NextGen())
	}
	if _, ok := sw.GenOf(1); !ok {
		t.Error("generation 1 recorded but not found")
	}
}
