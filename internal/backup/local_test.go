package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/retention"
)

func TestLocalTarget(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups", "redmine")
	target, err := LocalTarget(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory %v, %v: want it made, 0700: it will hold whole trackers", fi, err)
	}
	if _, err := LocalTarget("sftp://backup@host/srv"); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "is a URL: name a directory") {
		t.Errorf("err %v, want InvalidInput: a backup directory is no URL", err)
	}
}

// One backup writes into a directory at a time; the one that holds the lock
// clears what killed runs left half written, and nothing else.
func TestLockDir(t *testing.T) {
	dir := t.TempDir()
	archive := day(20)
	partial := "." + archive + ".partial-12345"
	for _, name := range []string{archive, partial, "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(dir)
	var names []string
	for _, de := range left {
		names = append(names, de.Name())
	}
	if want := []string{".stackctl-backup.lock", "notes.txt", archive}; !slices.Equal(names, want) {
		t.Errorf("left %q, want %q: the partial upload cleared", names, want)
	}
	if _, err := lockDir(dir); err == nil || err.Error() != "another backup is writing to "+dir+": wait for it to finish" {
		t.Errorf("a second lock: %v, want a refusal that says to wait", err)
	}
	unlock()
	again, err := lockDir(dir)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
	if _, err := lockDir(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "locking") {
		t.Errorf("err %v, want the directory named", err)
	}
}

func TestArchives(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{day(21), day(20), day(20) + ".json", "nginx-20261120T060000Z.tar.zst", "redmine.tar.zst", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, day(22)), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := Archives(dir, "redmine")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{day(20), day(21)}; !slices.Equal(got, want) {
		t.Errorf("Archives = %q, want %q: the stack's files, oldest first", got, want)
	}
	if _, err := Archives(filepath.Join(dir, "missing"), "redmine"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err %v, want the directory's absence", err)
	}

	for _, tc := range []struct {
		name, stack string
		ok          bool
	}{
		{day(20), "redmine", true},
		{day(20) + ".age", "redmine", true},
		{day(20), "nginx", false},
		{"redmine-latest.tar.zst", "redmine", false},
	} {
		taken, ok := ArchiveTime(tc.name, tc.stack)
		if ok != tc.ok || ok && !taken.Equal(time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)) {
			t.Errorf("ArchiveTime(%q, %q) = %v, %v; want ok %v", tc.name, tc.stack, taken, ok, tc.ok)
		}
	}
}

// A restore test cut short by Ctrl-C proved nothing: nothing is recorded
// and no older backup goes, but the archive stays and the error says where.
func TestFinishInterrupted(t *testing.T) {
	target, _ := localTarget(t)
	put(t, target, day(20), "older")
	c := put(t, target, day(21), "new")
	ctx, cancel := context.WithCancel(context.Background())
	o := Options{Target: target, Keep: retention.Policy{Last: 1}, TestRestore: func(context.Context, offsite.Target, string) RestoreTest {
		cancel()
		return RestoreTest{Passed: false, FailedStep: "start"}
	}}
	res, err := finish(ctx, "redmine", o, newSidecar(manifestAt(c.Taken), c, false))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "the backup is written to "+target.String()) ||
		!strings.Contains(err.Error(), "but its restore test was interrupted") {
		t.Fatalf("err %v, want the archive's place and the interruption", err)
	}
	if res.RestoreTest != nil || len(res.Pruned) != 0 || res.Name != day(21) {
		t.Errorf("result %+v: want the archive named, no test recorded, nothing pruned", res)
	}
	s, err := ReadSidecar(context.Background(), target, day(21))
	if err != nil || s.RestoreTest != nil {
		t.Errorf("sidecar %+v, %v: want it written, with no restore test", s, err)
	}
	if listed, _ := List(context.Background(), target, "redmine"); len(listed) != 2 {
		t.Errorf("archives %v, want both kept", names(listed))
	}
}
