package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// TestSwarm is issue 17's demonstration on a real swarm of three engines
// (startSwarm: a manager and two workers, each its own dockerd in a
// container, pulling from a registry the test serves):
//   - 'up redmine --on swarm' builds here, pushes by digest, and deploys the
//     Swarm form of the stack; the manager is the data node, Redmine's files
//     are on storage every node mounts (a directory the test shares), so its
//     two replicas run on two nodes;
//   - Redmine answers through nginx on every node; check-theme passes; data
//     is made through the REST API;
//   - ps and logs read the swarm;
//   - a worker running a Redmine replica is killed: the replica runs again
//     elsewhere, and a probe through nginx every 100 ms counts the failures;
//   - the database's service is updated (a new memory limit): the pinned
//     node's data is all there after it, every attachment byte;
//   - a backup on the swarm verifies, and restores there as a new generation
//     (killed half way first, and refused where it would write over the
//     files that serve), hiding what was written after it; a rollback
//     brings that back;
//   - down takes the stack off the swarm, and up brings it back on the same data;
//   - up --dry-run plans each of these deploys first: the first, one that
//     changes nothing, the database's change (an outage) and the one after down.
func TestSwarm(t *testing.T) {
	shares(t, &swarmHarness)
	api := dockerAPI(t)
	root := copyProject(t)
	state := t.TempDir()
	env := []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + state, "STACKCTL_DIR=" + root}
	c := startSwarm(t, api, swarmNodeImage(t, api))
	mgr := c.Nodes[0]
	managerHost := "tcp://" + net.JoinHostPort(mgr.Addr.String(), "2375")
	up := []string{"up", "redmine", "--on", "swarm", "--profile", "debian", "--swarm-host", managerHost,
		"--registry", c.Registry, "--data-node", mgr.Name, "--listen", "0.0.0.0:8080",
		"--files-volume", filesOpts(t, c, "redmine-files"), "--timeout", "20m"}

	first := dryRun(t, env, projectRoot, up[1:]...)
	if first.Where != "swarm" {
		t.Errorf("up --dry-run --on swarm plans on %s", first.Where)
	}
	wantSteps(t, first, false, [2]string{"create", "db"}, [2]string{"create", "nginx"}, [2]string{"create", "redmine"}, [2]string{"first-start", "redmine"})
	start := time.Now()
	r := mustRun(t, env, up...)
	t.Logf("FIGURE deploy on the three-node swarm: %s (build, push, pull on every node, first start)", time.Since(start).Round(time.Second))
	base := strings.TrimSpace(r.stdout)
	rm := &redmine{t: t, base: base, password: readSecrets(t, filepath.Join(instanceState(t, state), "redmine", "secrets"))["admin_password"]}
	logMemory(t, c, "after the deploy")
	if p := dryRun(t, env, projectRoot, "redmine"); p.Changes() {
		t.Errorf("right after the deploy, up would change %+v", p.Steps)
	}

	t.Run("nginx answers on every node", func(t *testing.T) {
		for _, n := range c.Nodes {
			u := fmt.Sprintf("http://%s/login", net.JoinHostPort(n.Addr.String(), "8080"))
			resp, err := http.Get(u)
			if err != nil {
				t.Fatalf("%s: %v", n.Name, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("%s: %s, want 200", u, resp.Status)
			}
		}
	})
	t.Run("check-theme", func(t *testing.T) {
		mustRun(t, env, "check-theme", "--apply")
	})
	want := populate(t, rm)
	want.check(t, rm)

	t.Run("ps and logs read the swarm", func(t *testing.T) {
		ps := mustRun(t, env, "ps", "redmine").stdout
		for _, s := range []string{"db", "redmine", "nginx", mgr.Name} {
			if !strings.Contains(ps, s) {
				t.Errorf("ps does not name %s:\n%s", s, ps)
			}
		}
		logs := mustRun(t, env, "logs", "redmine", "redmine", "--tail", "200").stdout
		if !strings.Contains(logs, "redmine | ") {
			t.Errorf("logs of redmine have no line prefixed by the service:\n%s", logs)
		}
	})

	t.Run("a worker lost", func(t *testing.T) {
		// The worker that runs a Redmine replica (two replicas, at most one a
		// node: at least one worker has one).
		victim := -1
		for i := 1; i < len(c.Nodes); i++ {
			if slices.Contains(taskNodes(t, c, redmineProject(t)+"_redmine"), c.Nodes[i].Name) {
				victim = i
				break
			}
		}
		if victim < 0 {
			t.Fatalf("no worker runs a Redmine replica: %v", taskNodes(t, c, redmineProject(t)+"_redmine"))
		}
		p := startProbe(fmt.Sprintf("%s/issues/%d", strings.TrimSuffix(base, "/"), firstIssue(want)))
		lost := time.Now()
		c.Kill(t, victim)
		waitReplicas(t, c.Manager(), redmineProject(t)+"_redmine", 2, nodeID(t, c.Manager(), c.Nodes[victim].Name), 15*time.Minute)
		moved := time.Since(lost)
		time.Sleep(5 * time.Second) // and answering from there
		n, failures := p.stop()
		t.Logf("FIGURE worker %s lost: its Redmine replica ran again elsewhere after %s; probe: %d requests, %d failed %v",
			c.Nodes[victim].Name, moved.Round(time.Second), n, len(failures), failures)
		c.Start(t, victim)
		c.waitReady(t, len(c.Nodes), 3*time.Minute)
		want.check(t, rm)
	})

	t.Run("a Redmine that never gets healthy is rolled back", func(t *testing.T) {
		// 64 MiB: Puma is killed as it boots, the new task never passes
		// its health check, and Swarm rolls the update back; start-first,
		// the old tasks served all along.
		settings := filepath.Join(root, "stackctl.yaml")
		if err := os.WriteFile(settings, []byte("version: 1\nresources:\n  redmine_memory: 64m\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(settings)
		p := startProbe(fmt.Sprintf("%s/issues/%d", strings.TrimSuffix(base, "/"), firstIssue(want)))
		start := time.Now()
		r := stackctl(t, env, "up", "redmine", "--timeout", "10m")
		took := time.Since(start)
		n, failures := p.stop()
		if r.code != 30 || !strings.Contains(r.stderr, "rollback") {
			t.Fatalf("up with a Redmine that cannot start: exit %d, want 30 saying Swarm rolled back:\n%s", r.code, r.stderr)
		}
		t.Logf("FIGURE failing Redmine update rolled back: up failed after %s; probe: %d requests, %d failed %v", took.Round(time.Second), n, len(failures), failures)
		if len(failures) > 0 {
			t.Errorf("%d of %d probe requests failed while the update failed", len(failures), n)
		}
		want.check(t, rm)
	})

	t.Run("the data node's data survives a service update", func(t *testing.T) {
		before := serviceVersion(t, c.Manager(), redmineProject(t)+"_db")
		if err := os.WriteFile(filepath.Join(root, "stackctl.yaml"), []byte("version: 1\nresources:\n  db_memory: 768m\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Redmine's update was rolled back just before: it is made again too.
		plan := dryRun(t, env, projectRoot, "redmine")
		wantSteps(t, plan, false, [2]string{"update", "db"})
		if !plan.Outage.Fails {
			t.Errorf("the database replaced stop-first, with no outage planned: %+v", plan.Outage)
		}
		mustRun(t, env, "up", "redmine", "--timeout", "20m")
		if after := serviceVersion(t, c.Manager(), redmineProject(t)+"_db"); after == before {
			t.Fatalf("the db service was not updated (version %d)", after)
		}
		want.check(t, rm)
	})

	t.Run("backup, verify, restore and rollback on the swarm", func(t *testing.T) {
		// One replica a node: one on the data node, where the backup reads
		// the files (shared here) beside the database.
		mustRun(t, env, "up", "redmine", "--replicas", "3", "--timeout", "20m")
		out := t.TempDir()
		start := time.Now()
		arch := strings.TrimSpace(mustRun(t, env, "backup-volumes", "--out", out).stdout)
		t.Logf("FIGURE backup on the swarm: %s", time.Since(start).Round(100*time.Millisecond))
		v := mustRun(t, env, "verify-backup", arch)
		for _, entry := range []string{"db-data", "redmine-files", "redmine-plugins"} {
			if !strings.Contains(v.stdout+v.stderr, entry) {
				t.Errorf("verify-backup does not list %s:\n%s%s", entry, v.stdout, v.stderr)
			}
		}
		if r := stackctl(t, env, "backup-volumes", "--out", out, "--test-restore"); r.code != 29 {
			t.Errorf("backup-volumes --test-restore on a swarm: exit %d, want 29 (not on a swarm yet):\n%s", r.code, r.stderr)
		}
		// One replica from here: a restore and a rollback replace every
		// Redmine task, one boot after the other.
		mustRun(t, env, "up", "redmine", "--replicas", "1", "--timeout", "20m")
		// Data the archive does not have: the restore hides it, the rollback brings it back.
		var later struct{ Issue struct{ ID int } }
		rm.json(rm.do("POST", "/issues.json", `{"issue":{"project_id":"harbour","subject":"Written after the backup"}}`, 201), &later)
		laterPath := fmt.Sprintf("/issues/%d.json", later.Issue.ID)
		serves := func(t *testing.T, why string, laterCode int) {
			t.Helper()
			want.check(t, rm)
			rm.do("GET", laterPath, "", laterCode)
			t.Logf("after %s: every record and attachment byte served, the issue written after the backup answers %d", why, laterCode)
		}

		// The files are shared: the restore must be given new storage, never the one that serves.
		if r := stackctl(t, env, "restore-volumes", "--yes", arch); r.code != 29 || !strings.Contains(r.stderr, "--files-volume") {
			t.Errorf("restore on a swarm with shared files and no --files-volume: exit %d, want 29 naming --files-volume:\n%s", r.code, r.stderr)
		}
		if r := stackctl(t, env, "restore-volumes", "--dry-run", arch); r.code != 29 || !strings.Contains(r.stderr, "--files-volume") {
			t.Errorf("restore --dry-run on a swarm with shared files and no --files-volume: exit %d, want 29 naming --files-volume:\n%s", r.code, r.stderr)
		}
		if r := stackctl(t, env, "restore-volumes", "--yes", "--files-volume", filesOpts(t, c, "redmine-files"), arch); r.code != 29 || !strings.Contains(r.stderr, "storage of generation 1") {
			t.Errorf("restore on a swarm into the files' own storage: exit %d, want 29 naming generation 1's storage:\n%s", r.code, r.stderr)
		}
		if r := stackctl(t, env, "restore-volumes", "--dry-run", "--files-volume", filesOpts(t, c, "redmine-files"), arch); r.code != 29 || !strings.Contains(r.stderr, "storage of generation 1") {
			t.Errorf("restore --dry-run on a swarm into the files' own storage: exit %d, want 29 naming generation 1's storage:\n%s", r.code, r.stderr)
		}
		served := treeSum(t, filepath.Join(c.SharedHost, "redmine-files"))
		// Killed while it writes the attachments into the new generation:
		// generation 1 serves, untouched; the next restore removes what was
		// left on the data node, and refuses storage that is not empty (files
		// the killed one wrote there: stackctl never deletes the operator's).
		killAt(t, env, "restore redmine: redmine-files.tar", "restore-volumes", "--yes", "--timeout", "20m", "--files-volume", filesOpts(t, c, "redmine-files-2a"), arch)
		serves(t, "a restore killed while writing", 200)
		if err := os.WriteFile(filepath.Join(c.SharedHost, "redmine-files-2a", "left-by-the-killed-restore"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		// What the killed restore left comes first in the next one's plan.
		left := dryRunOf(t, env, projectRoot, "restore-volumes", "--files-volume", filesOpts(t, c, "redmine-files-2a"), arch)
		wantStepsLike(t, left, [2]string{"recover", "generation 2 on the data node " + mgr.Name}, [2]string{"make", "generation 2 (restore of " + arch + ") on the data node " + mgr.Name})
		r := stackctl(t, env, "restore-volumes", "--yes", "--timeout", "20m", "--files-volume", filesOpts(t, c, "redmine-files-2a"), arch)
		if r.code != 29 || !strings.Contains(r.stderr, "not empty") {
			t.Errorf("restore into storage that is not empty: exit %d, want 29 saying so:\n%s", r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "removing generation 2 from the data node") {
			t.Errorf("the restore after a killed one does not say it removes what that left:\n%s", r.stderr)
		}
		serves(t, "a refused restore", 200)
		ctx := context.Background()
		for _, v := range []string{"db-data-g2", "redmine-files-g2", "redmine-plugins-g2"} {
			if _, err := c.Manager().VolumeInspect(ctx, redmineProject(t)+"_"+v, client.VolumeInspectOptions{}); err == nil {
				t.Errorf("volume %s of the refused restore is still on the data node", v)
			}
		}
		if _, err := c.Manager().ContainerInspect(ctx, redmineProject(t)+"_db-g2-restore", client.ContainerInspectOptions{}); err == nil {
			t.Errorf("the killed restore's PostgreSQL is still on the data node")
		}

		plan := dryRunOf(t, env, projectRoot, "restore-volumes", "--files-volume", filesOpts(t, c, "redmine-files-2"), arch)
		wantSteps(t, plan, false, [2]string{"stop", redmineProject(t) + "_redmine"}, [2]string{"deploy", "generation 2"}, [2]string{"keep", "generation 1"})
		wantStepsLike(t, plan, [2]string{"make", "generation 2 (restore of " + arch + ") on the data node " + mgr.Name})
		wantOutage(t, plan, "stops")
		p := startProbe(fmt.Sprintf("%s/issues/%d", strings.TrimSuffix(base, "/"), firstIssue(want)))
		start = time.Now()
		mustRun(t, env, "restore-volumes", "--yes", "--timeout", "20m", "--files-volume", filesOpts(t, c, "redmine-files-2"), arch)
		n, failures := p.stop()
		t.Logf("FIGURE restore on the swarm (write generation 2 on the data node, deploy it): %s; probe: %d requests, %d failed %v",
			time.Since(start).Round(time.Second), n, len(failures), firstFew(failures))
		serves(t, "the restore", 404)
		swarmServesAsPlanned(t, c.Manager(), plan)
		if got := treeSum(t, filepath.Join(c.SharedHost, "redmine-files")); got != served {
			t.Errorf("generation 1's files changed during the restore")
		}

		plan = dryRunOf(t, env, projectRoot, "rollback", "redmine")
		wantSteps(t, plan, true, [2]string{"stop", redmineProject(t) + "_redmine"}, [2]string{"deploy", "generation 1"}, [2]string{"keep", "generation 2"})
		wantOutage(t, plan, "stops")
		p = startProbe(fmt.Sprintf("%s/issues/%d", strings.TrimSuffix(base, "/"), firstIssue(want)))
		start = time.Now()
		mustRun(t, env, "rollback", "redmine", "--timeout", "20m")
		n, failures = p.stop()
		t.Logf("FIGURE rollback on the swarm: %s; probe: %d requests, %d failed %v", time.Since(start).Round(time.Second), n, len(failures), firstFew(failures))
		serves(t, "the rollback", 200)
		swarmServesAsPlanned(t, c.Manager(), plan)
	})

	t.Run("down and up again on the same data", func(t *testing.T) {
		mustRun(t, env, "down", "redmine")
		ctx := context.Background()
		svcs, err := c.Manager().ServiceList(ctx, client.ServiceListOptions{Filters: make(client.Filters).Add("label", "com.docker.stack.namespace="+redmineProject(t))})
		if err != nil || len(svcs.Items) != 0 {
			t.Fatalf("after down: services %v, %v; want none", svcs.Items, err)
		}
		// The data is set up: no first start this time.
		wantSteps(t, dryRun(t, env, projectRoot, "redmine"), true, [2]string{"create", "db"}, [2]string{"create", "nginx"}, [2]string{"create", "redmine"})
		mustRun(t, env, "up", "redmine", "--timeout", "20m")
		want.check(t, rm)
		// As the last deploy was given: one replica.
		if n := len(taskNodes(t, c, redmineProject(t)+"_redmine")); n != 1 {
			t.Errorf("after up without --replicas: %d Redmine tasks run, want the 1 the last deploy asked for", n)
		}
	})
	logMemory(t, c, "at the end")
}

// filesOpts are the options of a local volume on dir of the storage every
// node of c mounts, which it makes.
func filesOpts(t *testing.T, c *swarmCluster, dir string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(c.SharedHost, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	return "type=none,o=bind,device=" + c.Shared + "/" + dir
}

// treeSum is a digest of the names, sizes, modes and contents of the files
// under dir (read as root: the files are Redmine's).
func treeSum(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d %o\n", strings.TrimPrefix(p, dir), info.Size(), info.Mode())
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// firstFew is the first of a probe's failures, enough to say what they were.
func firstFew(failures []string) []string { return failures[:min(len(failures), 3)] }

func firstIssue(c content) int {
	ids := make([]int, 0, len(c.issues))
	for id := range c.issues {
		ids = append(ids, id)
	}
	return slices.Min(ids)
}

// waitReplicas waits until service runs want tasks, none of them on node avoid.
func waitReplicas(t *testing.T, mgr client.APIClient, service string, want int, avoid string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		tasks, err := mgr.TaskList(context.Background(), client.TaskListOptions{Filters: make(client.Filters).Add("service", service).Add("desired-state", "running")})
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, task := range tasks.Items {
			if task.Status.State == swarm.TaskStateRunning && task.NodeID != avoid {
				running++
			}
		}
		if running >= want {
			return
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("service %s: fewer than %d tasks running away from node %s after %s", service, want, avoid, timeout)
}

func serviceVersion(t *testing.T, mgr client.APIClient, service string) uint64 {
	t.Helper()
	res, err := mgr.ServiceInspect(context.Background(), service, client.ServiceInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Service.Version.Index
}

func nodeID(t *testing.T, mgr client.APIClient, hostname string) string {
	t.Helper()
	n, err := mgr.NodeInspect(context.Background(), hostname, client.NodeInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n.Node.ID
}
