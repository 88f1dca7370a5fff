package schedule

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
)

// fakeHost is a host under a temporary root; with systemd, its systemctl
// records the calls instead of running.
func fakeHost(t *testing.T, systemd bool) (Host, *[]string) {
	t.Helper()
	root := t.TempDir()
	calls := &[]string{}
	if systemd {
		if err := os.MkdirAll(filepath.Join(root, "run/systemd/system"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Host{Root: root, Systemctl: func(_ context.Context, args ...string) error {
		*calls = append(*calls, strings.Join(args, " "))
		return nil
	}}, calls
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestInstallListRemoveSystemd(t *testing.T) {
	ctx := context.Background()
	h, calls := fakeHost(t, true)
	if h.Mode() != Systemd {
		t.Fatalf("a host with /run/systemd/system: mode %s", h.Mode())
	}
	written, err := h.Install(ctx, jobs["daily"], Systemd)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(h.Root, "etc/systemd/system/stackctl-backup-redmine.service"),
		filepath.Join(h.Root, "etc/systemd/system/stackctl-backup-redmine.timer"),
		filepath.Join(h.Root, "etc/stackctl/backup-redmine.env"),
	}
	if !slices.Equal(written, want) {
		t.Fatalf("written %v, want %v", written, want)
	}
	if m := mode(t, want[2]); m != 0o600 {
		t.Errorf("the environment file has mode %o, want 0600: it holds the webhook URL", m)
	}
	if m := mode(t, want[0]); m != 0o644 {
		t.Errorf("the service has mode %o, want 0644", m)
	}
	if want := []string{"daemon-reload", "enable --now stackctl-backup-redmine.timer"}; !slices.Equal(*calls, want) {
		t.Errorf("systemctl calls %q, want %q", *calls, want)
	}
	env, err := ReadEnvFile(want[2])
	if err != nil {
		t.Fatal(err)
	}
	if n := NotifyFromEnv(env); n != jobs["daily"].Notify {
		t.Errorf("the environment file carries %+v, want %+v", n, jobs["daily"].Notify)
	}

	list, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Stack != "redmine" || list[0].Job != Backup || list[0].Mode != Systemd || list[0].Schedule != "daily 02:30" ||
		!strings.HasPrefix(list[0].Command, "/usr/local/bin/stackctl --dir /srv/tracker schedule run redmine") || len(list[0].Files) != 3 {
		t.Fatalf("list: %+v", list)
	}

	*calls = nil
	removed, err := h.Remove(ctx, Backup, "redmine")
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Errorf("removed %v", removed)
	}
	if want := []string{"disable --now stackctl-backup-redmine.timer", "daemon-reload"}; !slices.Equal(*calls, want) {
		t.Errorf("systemctl calls %q, want %q", *calls, want)
	}
	for _, p := range want {
		if fileExists(p) {
			t.Errorf("%s is still there", p)
		}
	}
	if list, _ := h.List(); len(list) != 0 {
		t.Errorf("list after remove: %+v", list)
	}
	if _, err := h.Remove(ctx, Backup, "redmine"); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("removing again: %v, want not found", err)
	}
}

// TestInstallCron: without systemd the schedule is a cron entry and nothing
// is enabled; installing again in the other mode, or without notify
// settings, leaves nothing of the old schedule behind.
func TestInstallCron(t *testing.T) {
	ctx := context.Background()
	h, calls := fakeHost(t, false)
	if h.Mode() != Cron {
		t.Fatalf("a host without /run/systemd/system: mode %s", h.Mode())
	}
	if _, err := h.Install(ctx, jobs["daily"], Cron); err != nil {
		t.Fatal(err)
	}
	entry := filepath.Join(h.Root, "etc/cron.d/stackctl-backup-redmine")
	if m := mode(t, entry); m != 0o644 {
		t.Errorf("the cron entry has mode %o, want 0644", m)
	}
	if len(*calls) != 0 {
		t.Errorf("systemctl ran without systemd: %q", *calls)
	}
	list, err := h.List()
	if err != nil || len(list) != 1 || list[0].Mode != Cron || list[0].Schedule != "daily 02:30" || !strings.HasPrefix(list[0].Command, "30 2 * * * root ") {
		t.Fatalf("list: %+v, %v", list, err)
	}

	// The same stack, now every 6 hours with no notify settings, as units
	// written for an image (systemd does not run here: nothing is enabled).
	if _, err := h.Install(ctx, jobs["every"], Systemd); err != nil {
		t.Fatal(err)
	}
	if fileExists(entry) || fileExists(filepath.Join(h.Root, "etc/stackctl/backup-redmine.env")) {
		t.Error("the cron entry or the environment file of the old schedule is left")
	}
	list, err = h.List()
	if err != nil || len(list) != 1 || list[0].Mode != Systemd || list[0].Schedule != "every 6h" {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if len(*calls) != 0 {
		t.Errorf("systemctl ran without systemd: %q", *calls)
	}
}

// TestListRefusesForeignFiles: a file under our name that we did not write is
// named, not misread.
func TestListRefusesForeignFiles(t *testing.T) {
	h, _ := fakeHost(t, false)
	p := filepath.Join(h.Root, "etc/cron.d/stackctl-backup-mine")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("0 3 * * * root /usr/local/bin/my-backup\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := h.List(); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("list: %v, want it to name %s", err, p)
	}
	// A backup's entry under an update's name, or one whose header names
	// another stack, is not taken for the update of a stack.
	for header, name := range map[string]string{
		"# stackctl schedule backup redmine --daily 02:30\n": "stackctl-update-redmine",
		"# stackctl schedule update nginx --daily 02:30\n":   "stackctl-update-redmine",
	} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(h.Root, "etc/cron.d", name)
		if err := os.WriteFile(p, []byte(header+"30 2 * * * root /bin/true\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := h.List(); err == nil || !strings.Contains(err.Error(), p+" was not written by 'stackctl schedule update'") {
			t.Errorf("%q in %s: list: %v", header, name, err)
		}
	}
}

// TestBackupAndUpdate: a stack's backup and update schedules live side by
// side: installing, replacing or removing one leaves the other as it was.
func TestBackupAndUpdate(t *testing.T) {
	ctx := context.Background()
	h, calls := fakeHost(t, true)
	if _, err := h.Install(ctx, jobs["daily"], Systemd); err != nil {
		t.Fatal(err)
	}
	backupFiles := h.installed(Backup, "redmine")
	if len(backupFiles) != 3 {
		t.Fatalf("the backup's files: %v", backupFiles)
	}
	*calls = nil
	written, err := h.Install(ctx, jobs["update-daily"], Systemd)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(h.Root, "etc/systemd/system/stackctl-update-redmine.service"),
		filepath.Join(h.Root, "etc/systemd/system/stackctl-update-redmine.timer"),
		filepath.Join(h.Root, "etc/stackctl/update-redmine.env"),
	}
	if !slices.Equal(written, want) {
		t.Fatalf("written %v, want %v", written, want)
	}
	if m := mode(t, want[2]); m != 0o600 {
		t.Errorf("the update's environment file has mode %o, want 0600", m)
	}
	if want := []string{"daemon-reload", "enable --now stackctl-update-redmine.timer"}; !slices.Equal(*calls, want) {
		t.Errorf("systemctl calls %q, want %q", *calls, want)
	}
	if got := h.installed(Backup, "redmine"); !slices.Equal(got, backupFiles) {
		t.Errorf("installing the update left the backup with %v, want %v", got, backupFiles)
	}

	// The update replaced by a cron entry with no notify settings: its
	// units and environment file go, the backup's stay.
	*calls = nil
	if _, err := h.Install(ctx, jobs["update-every"], Cron); err != nil {
		t.Fatal(err)
	}
	if want := []string{"disable --now stackctl-update-redmine.timer", "daemon-reload"}; !slices.Equal(*calls, want) {
		t.Errorf("systemctl calls %q, want %q", *calls, want)
	}
	if got := h.installed(Update, "redmine"); !slices.Equal(got, []string{filepath.Join(h.Root, "etc/cron.d/stackctl-update-redmine")}) {
		t.Errorf("the update's files: %v", got)
	}
	if got := h.installed(Backup, "redmine"); !slices.Equal(got, backupFiles) {
		t.Errorf("replacing the update left the backup with %v, want %v", got, backupFiles)
	}

	list, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Job != Backup || list[0].Mode != Systemd || list[0].Schedule != "daily 02:30" ||
		list[1].Job != Update || list[1].Mode != Cron || list[1].Schedule != "every 6h" || list[1].Stack != "redmine" ||
		!strings.HasSuffix(list[1].Command, "-- update redmine 2>&1 | logger -t stackctl-update-redmine") {
		t.Fatalf("list: %+v", list)
	}

	removed, err := h.Remove(ctx, Update, "redmine")
	if err != nil || len(removed) != 1 {
		t.Fatalf("removing the update: %v, %v", removed, err)
	}
	if got := h.installed(Backup, "redmine"); !slices.Equal(got, backupFiles) {
		t.Errorf("removing the update left the backup with %v, want %v", got, backupFiles)
	}
	_, err = h.Remove(ctx, Update, "redmine")
	if !errors.Is(err, errs.ErrNotFound) || !strings.Contains(err.Error(), "stack redmine has no update schedule") ||
		!strings.Contains(err.Error(), "its backup schedule is removed with --job backup") {
		t.Errorf("removing the update again: %v", err)
	}
	if _, err := h.Remove(ctx, Backup, "redmine"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Remove(ctx, Backup, "redmine"); err == nil || strings.Contains(err.Error(), "--job") {
		t.Errorf("removing with no schedule left: %v, want not found and no other job named", err)
	}
}

// TestListInstances: an instance's schedules are listed with the files named
// for it (their header names the stack alone), beside the stack's own.
func TestListInstances(t *testing.T) {
	ctx := context.Background()
	h, _ := fakeHost(t, true)
	team2 := jobs["update-every"]
	team2.Instance = "team2"
	for _, j := range []Job{jobs["every"], team2} {
		if _, err := h.Install(ctx, j, Systemd); err != nil {
			t.Fatal(err)
		}
	}
	list, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Instance != "" || list[0].Job != Backup ||
		list[1].Stack != "redmine" || list[1].Instance != "team2" || list[1].Job != Update ||
		!slices.Contains(list[1].Files, filepath.Join(h.Root, "etc/systemd/system/stackctl-update-redmine-team2.service")) {
		t.Fatalf("list: %+v", list)
	}
}
