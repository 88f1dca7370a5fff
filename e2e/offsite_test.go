package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/offsite/offsitetest"
)

// offsiteBackups is issue 18's demonstration, on TestBackupRestore's
// populated stack, serving throughout, against real servers on loopback:
// Debian's sshd (key authentication, host key checked) and versitygw, an S3
// server, in this process. For each target: a backup with a restore test
// under a probe, listed, verified from there, restored from there into a new
// generation with every record and attachment byte back; retention's
// --dry-run and --prune; a backup killed mid-upload and one whose server
// stopped mid-upload leave nothing that lists as an archive and the stack
// untouched; wrong credentials, an unknown host key and a missing bucket are
// refused with their exit codes, naming the target. Then a schedule's
// service run as systemd would run it: it waits for the stack's lock, backs up,
// and reports a failure to its webhook. Last, a backup of data missing a
// table Redmine needs passes its checksums and fails its restore test,
// naming the step.
func offsiteBackups(t *testing.T, api client.APIClient, env []string, rm *redmine, checkAll func(*testing.T)) {
	sftp := offsitetest.StartSFTP(t)
	s3 := offsitetest.StartS3(t)
	if err := os.MkdirAll(filepath.Join(sftp.Dir, "tracker"), 0o700); err != nil {
		t.Fatal(err)
	}
	targets := []struct {
		name, url string
		// leftovers lists what an interrupted upload may leave on the server.
		leftovers func() []string
		stop      func()
		start     func()
	}{
		{"sftp", sftp.URL("tracker"), func() []string { return sftp.Files("tracker") }, sftp.Stop, sftp.Start},
		{"s3", s3.URL("tracker"), func() []string { return append(s3.Objects("tracker/"), s3.Uploads("tracker/")...) }, s3.Stop, s3.Start},
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			p := startProbe(rm.base + "login")
			start := time.Now()
			bk := mustRun(t, env, "backup-volumes", "--to", tg.url, "--test-restore", "--timeout", "15m")
			n, failures := p.stop()
			t.Logf("backup to %s with its restore test: %s, %d probe requests, %d failed", tg.name, time.Since(start).Round(time.Second), n, len(failures))
			if len(failures) > 0 {
				t.Errorf("%d of %d probe requests failed during the backup and its restore test: %v", len(failures), n, failures)
			}
			if !strings.Contains(bk.stderr, "the restore test passed") {
				t.Errorf("backup-volumes --test-restore does not say the test passed:\n%s", bk.stderr)
			}
			arch := strings.TrimSpace(bk.stdout)
			list := listBackups(t, env, tg.url)
			if len(list) != 1 || !strings.Contains(arch, list[0].Name) || list[0].Sidecar == nil || list[0].Sidecar.RestoreTest == nil || !list[0].Sidecar.RestoreTest.Passed {
				t.Fatalf("backups --to %s: %+v; want the one archive %s, its restore test passed", tg.name, list, arch)
			}
			t.Logf("restore test: %s", list[0].Sidecar.RestoreTest.Message)
			v := mustRun(t, env, "verify-backup", arch)
			if !strings.Contains(v.stdout, "redmine-files.tar") {
				t.Errorf("verify-backup from %s does not list the files volume:\n%s", tg.name, v.stdout)
			}
			// The plan reads the manifest from the target too, and names
			// the archive there.
			plan := dryRunOf(t, env, projectRoot, "restore-volumes", arch)
			wantStepsLike(t, plan, [2]string{"make", fmt.Sprintf("generation %d (restore of ", plan.Serves.Generation)},
				[2]string{"fill", "volume " + redmineProject(t) + "_redmine-files"})
			mustRun(t, env, "restore-volumes", "--yes", arch, "--timeout", "15m")
			checkAll(t)
			servesAsPlanned(t, api, plan)

			// Retention: two more archives, then keep the newest one only.
			time.Sleep(time.Second) // archive names carry the second
			mustRun(t, env, "backup-volumes", "--to", tg.url)
			time.Sleep(time.Second)
			newest := strings.TrimSpace(mustRun(t, env, "backup-volumes", "--to", tg.url).stdout)
			dry := mustRun(t, env, "backups", "--to", tg.url, "--keep-last", "1", "--dry-run")
			var removed []string
			for _, line := range strings.Split(dry.stdout, "\n") {
				if f := strings.Fields(line); len(f) > 1 && f[0] == "remove" {
					removed = append(removed, f[1])
				}
			}
			// The newest is kept by the rule, the first by its passed restore test.
			if len(removed) != 1 {
				t.Fatalf("--dry-run lists %v to remove, want the middle one of 3:\n%s", removed, dry.stdout)
			}
			mustRun(t, env, "backups", "--to", tg.url, "--keep-last", "1", "--prune")
			var left []string
			for _, a := range listBackups(t, env, tg.url) {
				left = append(left, a.Name)
				if a.Name == removed[0] {
					t.Errorf("--prune left %s, which --dry-run listed to remove", a.Name)
				}
			}
			if len(left) != 2 || !strings.Contains(newest, left[1]) || left[0] != list[0].Name {
				t.Errorf("after --prune: %v, want the restore-tested %s and the newest %s", left, list[0].Name, newest)
			}

			// Interrupted uploads leave no archive, and the stack as it was.
			before, count := containerIDs(t, api, redmineProject(t)), len(left)
			interrupted := func(why string, cut func(*exec.Cmd), after func()) {
				t.Helper()
				// What an earlier interrupted upload left (swept only once idle an hour).
				already := len(tg.leftovers())
				cmd := startStackctl(t, env, "backup-volumes", "--to", tg.url)
				// An upload under way: a new temporary file, or multipart upload
				// (begun with its first 16 MiB part). Cut at once: the whole
				// backup takes about a second here.
				waitFor(t, "an upload under way on "+tg.name, func() bool { return len(tg.leftovers()) > already })
				cut(cmd)
				err := cmd.Wait()
				after()
				if err == nil {
					t.Fatalf("%s: the backup succeeded", why)
				}
				if got := listBackups(t, env, tg.url); len(got) != count {
					t.Errorf("%s: %d archives listed, want %d: %+v", why, len(got), count, got)
				}
				if after := containerIDs(t, api, redmineProject(t)); after != before {
					t.Errorf("%s: the stack's containers changed", why)
				}
			}
			interrupted("stackctl killed mid-upload", func(cmd *exec.Cmd) { cmd.Process.Signal(syscall.SIGKILL) }, func() {})
			// Down until the backup gives up (a client retries), then back.
			interrupted("the server stopped mid-upload", func(*exec.Cmd) { tg.stop() }, tg.start)
			rm.do("GET", "/projects.json", "", http.StatusOK)
		})
	}

	t.Run("refused targets", func(t *testing.T) {
		before := containerIDs(t, api, redmineProject(t))
		empty := filepath.Join(t.TempDir(), "known_hosts")
		writeFile(t, empty, "")
		other := filepath.Join(t.TempDir(), "id_other")
		offsitetest.WritePrivateKey(t, other)
		q := func(u, k, v string) string {
			p, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			qs := p.Query()
			qs.Set(k, v)
			p.RawQuery = qs.Encode()
			return p.String()
		}
		for _, tc := range []struct {
			name, to string
			env      []string
			code     int
			says     string
		}{
			{"sftp wrong key", q(sftp.URL("tracker"), "identity", other), nil, 26, "sftp://"},
			{"sftp unknown host key", q(sftp.URL("tracker"), "known-hosts", empty), nil, 27, "ssh-keyscan"},
			{"s3 wrong secret", s3.URL("tracker"), []string{"AWS_SECRET_ACCESS_KEY=wrong"}, 26, "s3://" + s3.Bucket},
			{"s3 missing bucket", strings.Replace(s3.URL("tracker"), s3.Bucket, "no-such-bucket", 1), nil, 3, "s3://no-such-bucket"},
		} {
			r := stackctl(t, append(append([]string{}, env...), tc.env...), "backup-volumes", "--to", tc.to)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.says) {
				t.Errorf("%s: exit %d, want %d naming %q:\n%s", tc.name, r.code, tc.code, tc.says, r.stderr)
			}
		}
		if after := containerIDs(t, api, redmineProject(t)); after != before {
			t.Errorf("a refused target changed the stack's containers")
		}
	})

	t.Run("schedule", func(t *testing.T) { scheduledBackup(t, env, sftp, rm) })

	t.Run("a backup that does not restore", func(t *testing.T) {
		// Redmine starts without journals (every migration is recorded), but
		// cannot show an issue: the archive is whole, its restore is not.
		execIn(t, api, activeDB(t, api), "psql", "-U", "redmine", "-d", "redmine", "-c", "DROP TABLE journals CASCADE")
		r := stackctl(t, env, "backup-volumes", "--to", sftp.URL("tracker"), "--test-restore", "--timeout", "15m")
		if r.code != 28 || !strings.Contains(r.stderr, `restore test failed at "read the newest issue"`) {
			t.Fatalf("backup-volumes --test-restore of data without journals: exit %d, want 28 naming the step that failed:\n%s", r.code, r.stderr)
		}
		arch := strings.TrimSpace(r.stdout)
		mustRun(t, env, "verify-backup", arch)
		list := listBackups(t, env, sftp.URL("tracker"))
		last := list[len(list)-1]
		if !strings.Contains(arch, last.Name) || last.Sidecar == nil || last.Sidecar.RestoreTest == nil || last.Sidecar.RestoreTest.Passed ||
			last.Sidecar.RestoreTest.FailedStep != "read the newest issue" {
			t.Errorf("backups: the newest is %+v, want %s with a failed restore test at \"read the newest issue\"", last, arch)
		}
	})
}

// activeDB is the ID of the running database container of the stack's
// active generation (db, db-g2, ...): the only one outside a restore.
func activeDB(t *testing.T, api client.APIClient) string {
	t.Helper()
	return runningOne(t, api, "database", dbService.MatchString)
}

var dbService = regexp.MustCompile(`^db(-g[0-9]+)?$`)

// listBackups is 'stackctl backups --to target --json'.
func listBackups(t *testing.T, env []string, target string) []backup.Listed {
	t.Helper()
	var out []backup.Listed
	if err := json.Unmarshal([]byte(mustRun(t, env, "backups", "--to", target, "--json").stdout), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// startStackctl starts stackctl in the project root and kills it when the
// test ends, if it still runs.
func startStackctl(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = projectRoot
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd
}

// waitFor polls cond every 20 ms for up to two minutes, then kills nothing
// and fails.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 2 minutes", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scheduledBackup installs a schedule into a directory standing for the
// system's root, then runs its service as systemd would (its Environment,
// its EnvironmentFile, its ExecStart): it waits while another holds the
// stack's lock, then backs up, and reports a failure to the webhook it was
// given.
func scheduledBackup(t *testing.T, env []string, sftp *offsitetest.SFTP, rm *redmine) {
	var mu sync.Mutex
	var reports []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		reports = append(reports, m)
		mu.Unlock()
	}))
	defer hook.Close()
	root := t.TempDir()
	mustRun(t, env, "schedule", "backup", "redmine", "--every", "6h", "--init", "systemd", "--system-root", root,
		"--to", sftp.URL("tracker"), "--keep-last", "5", "--notify-webhook", hook.URL)
	service := filepath.Join(root, "etc/systemd/system/stackctl-backup-redmine-"+instanceOf(t)+".service")
	runEnv, argv := unitCommand(t, root, service)
	if strings.Contains(strings.Join(argv, " "), hook.URL) {
		t.Errorf("the webhook URL is on the service's command line: %v", argv)
	}
	run := func() *exec.Cmd {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Dir = "/"
		cmd.Env = append(os.Environ(), runEnv...)
		return cmd
	}
	before := len(listBackups(t, env, sftp.URL("tracker")))
	// The stack's lock held here, as another command would: the scheduled
	// run must wait for it, then back up.
	lock, err := os.OpenFile(filepath.Join(instanceState(t, envValue(env, "STACKCTL_STATE_DIR")), "redmine", "lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	cmd := run()
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the scheduled run waiting for the stack's lock", func() bool { return strings.Contains(out.String(), "waiting for it") })
	time.Sleep(time.Second)
	if got := len(listBackups(t, env, sftp.URL("tracker"))); got != before {
		t.Errorf("the scheduled run backed up while another held the stack's lock")
	}
	syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the scheduled run: %v\n%s", err, out.String())
	}
	if got := len(listBackups(t, env, sftp.URL("tracker"))); got != before+1 {
		t.Errorf("the scheduled run left %d archives, want %d", got, before+1)
	}
	// A failure: the target's server gone. The run fails with backup-volumes'
	// own code, and the webhook gets the report.
	sftp.Stop()
	defer sftp.Start()
	failed := run()
	err = failed.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 4 {
		t.Errorf("the scheduled run with the server down: %v, want exit 4 (unavailable)", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 || fmt.Sprint(reports[0]["exit_code"]) != "4" || reports[0]["stack"] != "redmine" {
		t.Errorf("webhook reports %v, want one for stack redmine with exit code 4", reports)
	}
	rm.do("GET", "/projects.json", "", http.StatusOK)
}

// envValue is the value of key in env (KEY=VALUE entries).
func envValue(env []string, key string) string {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// unitCommand reads a systemd service's Environment, EnvironmentFile (under
// root) and ExecStart, as systemd would run it.
func unitCommand(t *testing.T, root, unit string) (env, argv []string) {
	t.Helper()
	f, err := os.Open(unit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "Environment":
			env = append(env, unquoteSystemd(v)...)
		case "EnvironmentFile":
			b, err := os.ReadFile(filepath.Join(root, strings.TrimPrefix(v, "-")))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					env = append(env, line)
				}
			}
		case "ExecStart":
			argv = unquoteSystemd(v)
		}
	}
	if len(argv) == 0 {
		t.Fatalf("%s has no ExecStart", unit)
	}
	return env, argv
}

// unquoteSystemd splits a systemd command line or assignment list: words
// separated by spaces, double-quoted words with backslash escapes, %% and $$
// for % and $.
func unquoteSystemd(s string) []string {
	var out []string
	var w strings.Builder
	in, quoted := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
		case (c == '%' || c == '$') && i+1 < len(s) && s[i+1] == c:
			// %% and $$: a specifier's and a variable's sign, written as themselves.
			i++
			w.WriteByte(c)
			in = true
		case c == '"':
			quoted, in = !quoted, true
		case c == ' ' && !quoted:
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}
