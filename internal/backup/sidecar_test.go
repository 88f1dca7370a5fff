package backup

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
)

// localTarget is a target over a fresh directory, and the directory.
func localTarget(t *testing.T) (offsite.Target, string) {
	t.Helper()
	dir := t.TempDir()
	target, err := offsite.Parse(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	return target, dir
}

// put uploads data as the archive called name, as a backup does.
func put(t *testing.T, target offsite.Target, name, data string) offsite.Committed {
	t.Helper()
	ctx := context.Background()
	up, err := target.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	c, err := up.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func manifestAt(taken time.Time) archive.Manifest {
	return archive.Manifest{
		Format: archive.FormatVersion, Stack: "redmine", Profile: "debian", RedmineVersion: "6.0.5", PostgresVersion: "17.11", Created: taken,
		Entries: []archive.Entry{
			{Name: "db-data.pgdump", Kind: archive.KindPostgres, Volume: "db-data", Size: 1234, SHA256: strings.Repeat("a", 64)},
			{Name: "redmine-files.tar", Kind: archive.KindVolume, Volume: "redmine-files", Size: 5678, SHA256: strings.Repeat("b", 64)},
		},
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestSidecarRoundTrip writes the sidecar a backup writes, reads it back, and
// records restore tests in it, each replacing the last.
func TestSidecarRoundTrip(t *testing.T) {
	ctx := context.Background()
	target, dir := localTarget(t)
	taken := time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)
	name := archive.FileName("redmine", taken, true)
	c := put(t, target, name, "the archive's bytes")
	s := newSidecar(manifestAt(taken), c, true)
	if err := writeSidecar(ctx, target, s); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSidecar(ctx, target, name)
	if err != nil {
		t.Fatal(err)
	}
	if asJSON(t, got) != asJSON(t, s) || got.Size != int64(len("the archive's bytes")) || got.SHA256 != c.SHA256 || !got.Encrypted {
		t.Fatalf("read back %s\nwrote %s", asJSON(t, got), asJSON(t, s))
	}

	// The file's layout is what docs/backup.md documents, for other tools.
	data, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"format", "archive", "size", "sha256", "encrypted", "manifest"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("the sidecar lacks %q:\n%s", key, data)
		}
	}
	if _, ok := raw["restore_test"]; ok {
		t.Errorf("an untested archive's sidecar has a restore_test:\n%s", data)
	}

	for _, rt := range []RestoreTest{
		{Passed: false, At: taken.Add(5 * time.Minute), FailedStep: "smoke check", Message: "no issue could be read", DurationSeconds: 93.5},
		{Passed: true, At: taken.Add(time.Hour), Message: "logged in, read issue 12 and its attachment", DurationSeconds: 81},
	} {
		if err := RecordRestoreTest(ctx, target, name, rt); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSidecar(ctx, target, name)
		if err != nil {
			t.Fatal(err)
		}
		want := s
		want.RestoreTest = &rt
		if asJSON(t, got) != asJSON(t, want) {
			t.Fatalf("after recording %+v:\nread %s\nwant %s", rt, asJSON(t, got), asJSON(t, want))
		}
	}
	data, _ = os.ReadFile(filepath.Join(dir, name+".json"))
	for _, key := range []string{`"restore_test": {`, `"passed": true`, `"at": "2026-11-23T07:00:00Z"`, `"duration_seconds": 81`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("the sidecar lacks %s:\n%s", key, data)
		}
	}
}

// TestRecordRestoreTestWithoutSidecar: an archive from before sidecars gets
// one holding the result; no archive, no sidecar.
func TestRecordRestoreTestWithoutSidecar(t *testing.T) {
	ctx := context.Background()
	target, dir := localTarget(t)
	old := "redmine-20251101T060000Z.tar.zst"
	put(t, target, old, "old bytes")
	rt := RestoreTest{Passed: true, At: time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC), DurationSeconds: 60}
	if err := RecordRestoreTest(ctx, target, old, rt); err != nil {
		t.Fatal(err)
	}
	s, err := ReadSidecar(ctx, target, old)
	if err != nil || s.Archive != old || s.Size != int64(len("old bytes")) || s.RestoreTest == nil || !s.RestoreTest.Passed {
		t.Fatalf("sidecar %+v, %v", s, err)
	}

	missing := "redmine-20251102T060000Z.tar.zst"
	if err := RecordRestoreTest(ctx, target, missing, rt); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("recording a test of a missing archive: %v, want errs.ErrNotFound", err)
	}
	if _, err := os.Stat(filepath.Join(dir, missing+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a sidecar was written for a missing archive: %v", err)
	}
}

func TestReadSidecarRefuses(t *testing.T) {
	ctx := context.Background()
	target, _ := localTarget(t)
	name := "redmine-20261123T060000Z.tar.zst"
	put(t, target, name, "bytes")
	if _, err := ReadSidecar(ctx, target, name); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("no sidecar: %v, want errs.ErrNotFound", err)
	}
	for _, tc := range []struct{ name, data, says string }{
		{"not JSON", "<html>", "is not stackctl's"},
		{"newer format", `{"format": 2, "archive": "` + name + `"}`, "upgrade stackctl"},
		{"another archive's", `{"format": 1, "archive": "redmine-20261122T060000Z.tar.zst"}`, "describes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := target.WriteSidecar(ctx, name, []byte(tc.data)); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadSidecar(ctx, target, name); err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("ReadSidecar: %v, want an error saying %q", err, tc.says)
			}
		})
	}
}
