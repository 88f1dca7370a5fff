package schedule

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestInstanceJob checks that an instance's schedule is its own: units and
// environment file named for the stack and the instance, and the run told
// which instance it backs up.
func TestInstanceJob(t *testing.T) {
	j := Job{Kind: Backup, Stack: "redmine", Instance: "team2", Schedule: Schedule{Every: 6 * time.Hour}, Binary: "/usr/local/bin/stackctl", Site: "/srv/tracker", StateDir: "/var/lib/stackctl"}
	c := j.Command(Systemd, "/")
	if !slices.Contains(c.Env, "STACKCTL_INSTANCE=team2") || !slices.Contains(c.Env, "STACKCTL_STATE_DIR=/var/lib/stackctl") {
		t.Errorf("the run's environment: %v", c.Env)
	}
	if got := j.Unit(); got != "stackctl-backup-redmine-team2" {
		t.Errorf("unit name: %s", got)
	}
	files, err := j.Files(Systemd)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.Contains(f.Path, "redmine-team2") {
			t.Errorf("%s is not named for the instance", f.Path)
		}
	}
	if InstanceName("redmine", "") != "redmine" {
		t.Error("the stack itself is named as before")
	}
}
