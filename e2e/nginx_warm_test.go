package e2e

import (
	"fmt"
	"testing"
	"time"
)

// TestWarmBuildCache builds the Redmine stack's images once, after
// TestNginxStack has built the nginx base anew and before the tests that run
// side by side start (it runs alone, as TestNginxStack does): each of them
// builds the same Dockerfiles for an instance of its own, and two builds of
// one step at the same time leave two intermediate images, of which a later
// rebuild may follow the other's and make a new image, which up would then
// hand over though nothing changed. Built here once, every later build finds
// each step in the cache.
func TestWarmBuildCache(t *testing.T) {
	<-basesReady
	times.record(t, time.Now())
	dockerAPI(t)
	env := []string{"STACKCTL_INSTANCE=e2e-warm", "STACKCTL_STATE_DIR=" + t.TempDir()}
	t.Cleanup(func() { stackctl(t, env, "down", "redmine", "--volumes") })
	mustRun(t, env, "up", "redmine", "--profile", "debian", "--no-wait", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	mustRun(t, env, "down", "redmine", "--volumes")
}
