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

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/offsite/offsitetest"
	"github.com/stackctl/stackctl/internal/retention"
)

// day is the name of the redmine archive taken at 06:00 UTC on that day of November 2026.
func day(d int) string {
	return archive.FileName("redmine", time.Date(2026, 11, d, 6, 0, 0, 0, time.UTC), false)
}

func names(listed []Listed) []string {
	var out []string
	for _, l := range listed {
		out = append(out, l.Name)
	}
	return out
}

// TestListAndPrune lists a stack's archives with their sidecars and prunes
// them by a policy, on each kind of target against its real server.
func TestListAndPrune(t *testing.T) {
	for _, kind := range []struct {
		name string
		open func(t *testing.T) (offsite.Target, string)
	}{
		{"local", localTarget},
		{"sftp", func(t *testing.T) (offsite.Target, string) { return remoteTarget(t, offsitetest.StartSFTP(t).URL("")) }},
		{"s3", func(t *testing.T) (offsite.Target, string) {
			return remoteTarget(t, offsitetest.StartS3(t).URL("backups"))
		}},
	} {
		t.Run(kind.name, func(t *testing.T) {
			target, dir := kind.open(t)
			listAndPrune(t, target, dir)
		})
	}
}

func remoteTarget(t *testing.T, url string) (offsite.Target, string) {
	t.Helper()
	target, err := offsite.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	return target, ""
}

// listAndPrune: ten daily archives, the oldest but one restore-tested, one
// whose test failed, one with a damaged sidecar, one with none; keep-last 3.
func listAndPrune(t *testing.T, target offsite.Target, dir string) {
	ctx := context.Background()
	for d := 14; d <= 23; d++ {
		c := put(t, target, day(d), strings.Repeat("x", d))
		s := newSidecar(manifestAt(c.Taken), c, false)
		switch d {
		case 15:
			s.RestoreTest = &RestoreTest{Passed: true, At: c.Taken.Add(time.Hour)}
		case 20:
			s.RestoreTest = &RestoreTest{Passed: false, At: c.Taken.Add(time.Hour), FailedStep: "smoke check"}
		case 22:
			continue // taken before sidecars
		}
		if err := writeSidecar(ctx, target, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := target.WriteSidecar(ctx, day(21), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	other := archive.FileName("nginx", time.Date(2026, 11, 1, 6, 0, 0, 0, time.UTC), false)
	put(t, target, other, "nginx")
	if dir != "" {
		for _, f := range []string{"notes.txt", "." + day(24) + ".partial-1234"} {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}

	listed, err := List(ctx, target, "redmine")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for d := 14; d <= 23; d++ {
		all = append(all, day(d))
	}
	if !slices.Equal(names(listed), all) {
		t.Fatalf("listed %v, want %v", names(listed), all)
	}
	for i, l := range listed {
		d := 14 + i
		switch {
		case l.Size != int64(d) || !l.Taken.Equal(time.Date(2026, 11, d, 6, 0, 0, 0, time.UTC)):
			t.Errorf("%s: size %d, taken %s", l.Name, l.Size, l.Taken)
		case d == 15 && (l.RestoreTest() == nil || !l.RestoreTest().Passed):
			t.Errorf("%s: restore test %+v, want passed", l.Name, l.RestoreTest())
		case d == 20 && (l.RestoreTest() == nil || l.RestoreTest().FailedStep != "smoke check"):
			t.Errorf("%s: restore test %+v, want failed", l.Name, l.RestoreTest())
		case d == 21 && (l.Sidecar != nil || !strings.Contains(l.Problem, "is not stackctl's")):
			t.Errorf("%s: damaged sidecar read as %+v, problem %q", l.Name, l.Sidecar, l.Problem)
		case d == 22 && (l.Sidecar != nil || l.Problem != ""):
			t.Errorf("%s: no sidecar, read as %+v, problem %q", l.Name, l.Sidecar, l.Problem)
		case d != 21 && d != 22 && (l.Sidecar == nil || l.Sidecar.Manifest == nil || l.Sidecar.Manifest.RedmineVersion != "6.0.5"):
			t.Errorf("%s: sidecar %+v, problem %q", l.Name, l.Sidecar, l.Problem)
		}
	}

	plan, err := PlanRetention(listed, retention.Policy{Last: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range plan {
		if d.Name == day(15) && (!d.Keep || !slices.Equal(d.Reasons, []retention.Reason{retention.NewestTested})) {
			t.Errorf("the newest restore-tested archive: %s", d)
		}
	}
	removed, err := Prune(ctx, target, plan, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{day(14), day(16), day(17), day(18), day(19), day(20)}; !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	left, err := List(ctx, target, "redmine")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{day(15), day(21), day(22), day(23)}; !slices.Equal(names(left), want) {
		t.Fatalf("left %v, want %v", names(left), want)
	}
	for _, name := range removed {
		if _, err := target.ReadSidecar(ctx, name); !errors.Is(err, errs.ErrNotFound) {
			t.Errorf("the sidecar of removed %s: %v, want errs.ErrNotFound", name, err)
		}
	}
	if nginx, err := target.List(ctx, "nginx"); err != nil || len(nginx) != 1 {
		t.Errorf("another stack's archives: %v, %v", nginx, err)
	}
	if dir != "" {
		for _, f := range []string{"notes.txt", "." + day(24) + ".partial-1234"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("prune touched %s: %v", f, err)
			}
		}
	}
}

// TestFinish: after the commit, the sidecar, the restore test hook and the
// policy, which a failed restore test holds back.
func TestFinish(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T, newest int) (offsite.Target, Sidecar) {
		target, _ := localTarget(t)
		for d := 20; d <= 22; d++ {
			put(t, target, day(d), "older")
		}
		c := put(t, target, day(newest), "new")
		return target, newSidecar(manifestAt(c.Taken), c, false)
	}
	test := func(passed bool) func(context.Context, offsite.Target, string) RestoreTest {
		return func(_ context.Context, _ offsite.Target, name string) RestoreTest {
			rt := RestoreTest{Passed: passed, At: time.Now().UTC(), DurationSeconds: 1}
			if !passed {
				rt.FailedStep, rt.Message = "smoke check", "issue 1 could not be read"
			}
			return rt
		}
	}
	left := func(t *testing.T, target offsite.Target) []string {
		listed, err := List(ctx, target, "redmine")
		if err != nil {
			t.Fatal(err)
		}
		return names(listed)
	}

	t.Run("restore test passed", func(t *testing.T) {
		target, s := setup(t, 23)
		res, err := finish(ctx, "redmine", Options{Target: target, Keep: retention.Policy{Last: 1}, TestRestore: test(true)}, s)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{day(20), day(21), day(22)}; !slices.Equal(res.Pruned, want) {
			t.Errorf("pruned %v, want %v", res.Pruned, want)
		}
		if got := left(t, target); !slices.Equal(got, []string{day(23)}) {
			t.Errorf("left %v", got)
		}
		sc, err := ReadSidecar(ctx, target, day(23))
		if err != nil || sc.RestoreTest == nil || !sc.RestoreTest.Passed || sc.SHA256 != s.SHA256 || res.RestoreTest == nil {
			t.Errorf("sidecar %+v, %v; result %+v", sc, err, res.RestoreTest)
		}
	})
	t.Run("restore test failed", func(t *testing.T) {
		target, s := setup(t, 23)
		res, err := finish(ctx, "redmine", Options{Target: target, Keep: retention.Policy{Last: 1}, TestRestore: test(false)}, s)
		if !errors.Is(err, ErrRestoreTest) || !strings.Contains(err.Error(), `restore test failed at "smoke check": issue 1 could not be read: no older backup was removed`) {
			t.Fatalf("finish: %v", err)
		}
		if len(res.Pruned) != 0 || len(left(t, target)) != 4 {
			t.Errorf("pruned %v, left %v", res.Pruned, left(t, target))
		}
		if sc, err := ReadSidecar(ctx, target, day(23)); err != nil || sc.RestoreTest == nil || sc.RestoreTest.FailedStep != "smoke check" {
			t.Errorf("sidecar %+v, %v", sc, err)
		}
	})
	t.Run("never the archive just written", func(t *testing.T) {
		// Another host, its clock ahead, wrote the 22nd's after ours of the 19th.
		target, s := setup(t, 19)
		res, err := finish(ctx, "redmine", Options{Target: target, Keep: retention.Policy{Last: 1}}, s)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{day(20), day(21)}; !slices.Equal(res.Pruned, want) {
			t.Errorf("pruned %v, want %v", res.Pruned, want)
		}
		if got := left(t, target); !slices.Equal(got, []string{day(19), day(22)}) {
			t.Errorf("left %v", got)
		}
	})
	t.Run("no policy", func(t *testing.T) {
		target, s := setup(t, 23)
		if res, err := finish(ctx, "redmine", Options{Target: target}, s); err != nil || len(res.Pruned) != 0 || len(left(t, target)) != 4 {
			t.Errorf("pruned %v (%v), left %v", res.Pruned, err, left(t, target))
		}
	})
}
