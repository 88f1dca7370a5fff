package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/offsite/offsitetest"
	"github.com/stackctl/stackctl/internal/retention"
)

// backupsFixture is a directory target with five daily archives of redmine:
// the second restore-tested, the fourth tested and failed, the last without
// a sidecar, the others with one and no test.
func backupsFixture(t *testing.T) (dir string, names []string) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	target, err := offsite.Parse(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	for d := 19; d <= 23; d++ {
		taken := time.Date(2026, 11, d, 6, 0, 0, 0, time.UTC)
		name := archiveOn(t, target, taken)
		names = append(names, name)
		switch d {
		case 20:
			err = backup.RecordRestoreTest(ctx, target, name, backup.RestoreTest{Passed: true, At: taken.Add(time.Hour), DurationSeconds: 80})
		case 22:
			err = backup.RecordRestoreTest(ctx, target, name, backup.RestoreTest{At: taken.Add(time.Hour), FailedStep: "smoke check", Message: "no issue"})
		case 23:
			continue
		default:
			data, _ := json.Marshal(backup.Sidecar{Format: backup.SidecarFormat, Archive: name})
			err = target.WriteSidecar(ctx, name, data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir, names
}

func TestBackupsList(t *testing.T) {
	dir, names := backupsFixture(t)
	code, stdout, stderr := run(t, "backups", "redmine", "--to", dir, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var listed []backup.Listed
	if err := json.Unmarshal([]byte(stdout), &listed); err != nil {
		t.Fatalf("%v:\n%s", err, stdout)
	}
	var got []string
	for _, l := range listed {
		got = append(got, l.Name)
		if l.Size == 0 || l.Taken.IsZero() {
			t.Errorf("%s: size %d, taken %s", l.Name, l.Size, l.Taken)
		}
	}
	if !slices.Equal(got, names) {
		t.Fatalf("listed %v, want %v (oldest first)", got, names)
	}
	if rt := listed[1].RestoreTest(); rt == nil || !rt.Passed || !strings.Contains(stdout, `"restore_test": {`) {
		t.Errorf("the restore-tested archive: %+v\n%s", rt, stdout)
	}

	code, stdout, stderr = run(t, "backups", "--to", dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i, want := range []string{
		"NAME", names[0] + "  ", "not tested",
		"", names[1], "2026-11-20 06:00:00 UTC", "passed 2026-11-20 07:00:00 UTC",
		"", names[3], "FAILED 2026-11-22 07:00:00 UTC: smoke check: no issue",
		"", names[4], "no sidecar",
	} {
		if want != "" && !strings.Contains(stdout, want) {
			t.Errorf("the listing lacks %q (%d):\n%s", want, i, stdout)
		}
	}
	if len(lines) != 1+len(names) {
		t.Errorf("%d lines, want a header and %d archives:\n%s", len(lines), len(names), stdout)
	}

	if code, stdout, stderr := run(t, "backups", "nginx", "--to", dir); code != exitOK || stdout != "" || !strings.Contains(stderr, "no backups of stack nginx") {
		t.Errorf("another stack: exit %d, %q, %q", code, stdout, stderr)
	}
}

// TestBackupsDryRunThenPrune: --dry-run lists the decisions and removes
// nothing; --prune removes exactly what it listed.
func TestBackupsDryRunThenPrune(t *testing.T) {
	dir, names := backupsFixture(t)
	files := func() []string {
		entries, _ := os.ReadDir(dir)
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	before := files()
	rules := []string{"backups", "redmine", "--to", dir, "--keep-last", "2"}
	want := []string{
		"remove " + names[0],
		"keep   " + names[1] + "  (newest restore-tested)",
		"remove " + names[2],
		"keep   " + names[3] + "  (last)",
		"keep   " + names[4] + "  (last, newest)",
	}
	code, dry, stderr := run(t, append(rules, "--dry-run")...)
	if code != exitOK || dry != strings.Join(want, "\n")+"\n" || !strings.Contains(stderr, "keep the last 2: would remove 2 of 5 archives") {
		t.Fatalf("--dry-run: exit %d\n%s\nwant\n%s\n%s", code, dry, strings.Join(want, "\n"), stderr)
	}
	if !slices.Equal(files(), before) {
		t.Fatalf("--dry-run changed the target: %v, was %v", files(), before)
	}

	code, stdout, stderr := run(t, append(rules, "--dry-run", "--json")...)
	var decisions []struct {
		Name    string             `json:"name"`
		Keep    bool               `json:"keep"`
		Reasons []retention.Reason `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(stdout), &decisions); code != exitOK || err != nil || len(decisions) != len(names) {
		t.Fatalf("--dry-run --json: exit %d, %v:\n%s%s", code, err, stdout, stderr)
	}
	if d := decisions[1]; d.Name != names[1] || !d.Keep || !slices.Equal(d.Reasons, []retention.Reason{retention.NewestTested}) {
		t.Errorf("decision %+v", d)
	}
	if d := decisions[0]; d.Keep || len(d.Reasons) != 0 {
		t.Errorf("decision %+v", d)
	}

	code, pruned, stderr := run(t, append(rules, "--prune")...)
	if code != exitOK || pruned != dry || !strings.Contains(stderr, "removed 2 of 5 archives") {
		t.Fatalf("--prune: exit %d\n%s\nwant what --dry-run listed\n%s\n%s", code, pruned, dry, stderr)
	}
	var gone []string
	for _, f := range before {
		if !slices.Contains(files(), f) {
			gone = append(gone, f)
		}
	}
	if want := []string{names[0], names[0] + ".json", names[2], names[2] + ".json"}; !slices.Equal(gone, want) {
		t.Errorf("--prune removed %v, want %v: the archives and their sidecars", gone, want)
	}
}

// TestBackupsRemote: backups lists and prunes on SFTP and S3.
func TestBackupsRemote(t *testing.T) {
	for _, kind := range remoteKinds {
		t.Run(kind.name, func(t *testing.T) {
			raw, target := kind.open(t)
			var names []string
			for d := 21; d <= 23; d++ {
				names = append(names, archiveOn(t, target, time.Date(2026, 11, d, 6, 0, 0, 0, time.UTC)))
			}
			code, stdout, stderr := run(t, "backups", "--to", raw, "--json")
			if code != exitOK || strings.Count(stdout, `"name": "redmine-`) != 3 {
				t.Fatalf("backups --json: exit %d\n%s%s", code, stdout, stderr)
			}
			code, stdout, stderr = run(t, "backups", "--to", raw, "--keep-last", "1", "--prune")
			if code != exitOK || !strings.HasPrefix(stdout, "remove "+names[0]+"\nremove "+names[1]+"\nkeep   "+names[2]) {
				t.Fatalf("backups --prune: exit %d\n%s%s", code, stdout, stderr)
			}
			left, err := target.List(context.Background(), "redmine")
			if err != nil || len(left) != 1 || left[0].Name != names[2] {
				t.Fatalf("left %v, %v", left, err)
			}
		})
	}
}

// TestBackupsRefusals: what backups refuses, and why.
func TestBackupsRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		says string
	}{
		{"rules without --prune", []string{"backups", "--keep-daily", "7"}, exitInvalid, "need --dry-run"},
		{"--prune without rules", []string{"backups", "--prune"}, exitInvalid, "none is given"},
		{"--prune and --dry-run", []string{"backups", "--prune", "--dry-run", "--keep-last", "1"}, exitInvalid, "give one"},
		{"negative rule", []string{"backups", "--dry-run", "--keep-daily", "-1"}, exitInvalid, "keep-daily -1"},
		{"directory missing", []string{"backups", "--to", "/nonexistent/backups"}, exitNotFound, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.says) {
				t.Fatalf("stackctl %v: exit %d, %s; want %d saying %q", tc.args, code, stderr, tc.code, tc.says)
			}
		})
	}
}

// TestBackupsHostKey: a target whose host key is unknown is refused with exit 27.
func TestBackupsHostKey(t *testing.T) {
	srv := offsitetest.StartSFTP(t)
	noHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(noHosts, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := run(t, "backups", "--to", withOption(srv.URL(""), "known-hosts", noHosts))
	if code != exitOffsiteHostKey || !strings.Contains(stderr, "sftp://"+srv.User+"@"+srv.Addr) {
		t.Fatalf("exit %d, %s; want %d naming the target", code, stderr, exitOffsiteHostKey)
	}
}
