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
		if _, err := target.ReadSidecar(ctx, name); !errors.Is(err, errs.NotFound) {
			t.Errorf("the sidecar of removed %s: %v, want errs.NotFound", name, err)
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
