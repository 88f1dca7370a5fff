package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// bin is the stackctl binary built for this test run.
var bin string

// projectRoot is the checkout the tests run from, as an absolute path: the
// process's working directory is not to be relied on once tests run side by
// side (versitygw's backend changes it).
var projectRoot = func() string {
	p, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return p
}()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stackctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "stackctl")
	build := exec.Command("go", "build", "-o", bin, filepath.Join(projectRoot, "cmd", "stackctl"))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building stackctl:", err)
		os.Exit(1)
	}
	// Each test names its stacks' instance (instanceEnv), or lets its site's
	// settings name it: none comes from the environment the tests run in.
	os.Unsetenv("STACKCTL_INSTANCE")
	flag.Parse()
	if f := flag.Lookup("test.parallel"); f != nil && f.Value.String() == strconv.Itoa(runtime.GOMAXPROCS(0)) {
		// Every test waits for its turn in shares, not for one of go test's slots.
		flag.Set("test.parallel", "64")
	}
	// The bases build while TestNginxStack, which builds its own, runs.
	go func() {
		defer close(basesReady)
		prebuildBases()
	}()
	code := m.Run()
	times.report(os.Stderr)
	os.RemoveAll(dir)
	os.Exit(code)
}

// times records when each test ran, for the table of docs/development.md:
// printed after the tests (go test -v shows it), and written to the file
// $STACKCTL_E2E_TIMES names, if any.
var times timeline

type timeline struct {
	mu   sync.Mutex
	runs []testRun
}

type testRun struct {
	name               string
	queued, start, end time.Time
}

// record notes t's turn, from queued, and its end.
func (l *timeline) record(t *testing.T, queued time.Time) {
	start := time.Now()
	t.Cleanup(func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.runs = append(l.runs, testRun{name: t.Name(), queued: queued, start: start, end: time.Now()})
	})
}

func (l *timeline) report(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.runs) == 0 {
		return
	}
	slices.SortFunc(l.runs, func(a, b testRun) int { return a.start.Compare(b.start) })
	first := l.runs[0].queued
	var b strings.Builder
	fmt.Fprintf(&b, "| test | waited | ran | from | to |\n| --- | --- | --- | --- | --- |\n")
	for _, r := range l.runs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.name, r.start.Sub(r.queued).Round(time.Second), r.end.Sub(r.start).Round(time.Second),
			r.start.Sub(first).Round(time.Second), r.end.Sub(first).Round(time.Second))
	}
	fmt.Fprint(w, "e2e: when each test ran\n"+b.String())
	if f := os.Getenv("STACKCTL_E2E_TIMES"); f != "" {
		os.WriteFile(f, []byte(b.String()), 0o644)
	}
}

// prebuildBases builds the debian bases every stack test starts from, once,
// before the tests that share them start side by side (each would otherwise
// run mmdebstrap for the same base at the same time). Without an engine it
// does nothing: the tests say why they skip or fail.
func prebuildBases() {
	c, err := client.New(client.FromEnv)
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Ping(ctx, client.PingOptions{}); err != nil {
		return
	}
	start := time.Now()
	// nginx's is TestNginxStack's to build, from nothing. The two build side
	// by side: mmdebstrap waits on the mirror as much as on the cores.
	var wg sync.WaitGroup
	for _, base := range []string{"redmine", "postgres"} {
		wg.Go(func() {
			build := exec.Command(bin, "base", "build", base)
			build.Dir = projectRoot
			build.Env = append(os.Environ(), "STACKCTL_STATE_DIR="+filepath.Dir(bin))
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintf(os.Stderr, "building the debian base %s before the tests: %v\n", base, err)
			}
		})
	}
	wg.Wait()
	fmt.Fprintf(os.Stderr, "e2e: debian bases ready in %s\n", time.Since(start).Round(time.Second))
}

// basesReady is closed once prebuildBases is done: every test that builds
// on the bases waits for it (in shares, and TestWarmBuildCache).
var basesReady = make(chan struct{})

// Every stack test runs its stacks as an instance of its own (see
// instanceOf): its containers, networks, volumes and image tags are its own,
// so the tests run side by side (t.Parallel). What they still share: the
// test swarm (its names are fixed), the debian bases (built once, above), and
// the two cores, which running shares out in a fixed order, longest first.
var (
	// swarmHarness: the test swarm's engines in containers.
	swarmHarness sync.Mutex
	sched        = newScheduler(4, []string{
		"TestBackupRestore", "TestSwarm", "TestRedmineStack", "TestOffsiteBackups", "TestUpgrade", "TestTLS",
		"TestKernelBuiltInContainer", "TestSite", "TestPush", "TestDBRoleMove", "TestVolumeWriterPaths", "TestSwarmNodes", "TestBusyPort",
	})
)

// shares runs t beside the other tests (t.Parallel), once it has its place
// among the tests running and holds locks.
func shares(t *testing.T, locks ...sync.Locker) {
	t.Helper()
	t.Parallel()
	<-basesReady
	sched.join()
	t.Cleanup(sched.leave)
	start := time.Now()
	// The place first: a test never waits for a place while holding a
	// lock a test of higher rank waits for.
	sched.acquire(t.Name())
	t.Cleanup(sched.release)
	for _, l := range locks {
		l.Lock()
		t.Cleanup(l.Unlock)
	}
	times.record(t, start)
	if waited := time.Since(start); waited > time.Second {
		t.Logf("waited %s for its turn on the engine", waited.Round(time.Second))
	}
}

// alone waits, giving up its place meanwhile, until t's test is the only
// one left: for a change every test would see (a shared base image retagged).
func alone(t *testing.T) {
	t.Helper()
	start := time.Now()
	sched.release()
	sched.waitAlone()
	sched.acquire(t.Name())
	t.Logf("waited %s to be the only test on the engine", time.Since(start).Round(time.Second))
}

// scheduler hands out places to run to the tests waiting, in a fixed order
// of names (those not named come last), and counts the tests under way.
type scheduler struct {
	mu      sync.Mutex
	cond    *sync.Cond
	free    int
	order   []string
	waiting map[string]bool
	active  int
	// opened is when the first test asked for a place: none is given before
	// settle has passed, so that the tests released together are all waiting
	// and the order, not the first to ask, decides.
	opened time.Time
}

// settle is how long the first places wait for every test to ask.
const settle = 2 * time.Second

func newScheduler(places int, order []string) *scheduler {
	s := &scheduler{free: places, order: order, waiting: map[string]bool{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *scheduler) join()  { s.mu.Lock(); s.active++; s.mu.Unlock() }
func (s *scheduler) leave() { s.mu.Lock(); s.active--; s.cond.Broadcast(); s.mu.Unlock() }

// rank is name's place in the order.
func (s *scheduler) rank(name string) int {
	if i := slices.Index(s.order, strings.SplitN(name, "/", 2)[0]); i >= 0 {
		return i
	}
	return len(s.order)
}

func (s *scheduler) acquire(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting[name] = true
	if s.opened.IsZero() {
		s.opened = time.Now()
	}
	if wait := settle - time.Since(s.opened); wait > 0 {
		s.mu.Unlock()
		time.Sleep(wait)
		s.mu.Lock()
	}
	for s.free == 0 || s.ahead(name) {
		s.cond.Wait()
	}
	delete(s.waiting, name)
	s.free--
	s.cond.Broadcast()
}

// ahead says whether a test before name in the order waits too.
func (s *scheduler) ahead(name string) bool {
	for other := range s.waiting {
		if other != name && s.rank(other) < s.rank(name) {
			return true
		}
	}
	return false
}

func (s *scheduler) release() {
	s.mu.Lock()
	s.free++
	s.cond.Broadcast()
	s.mu.Unlock()
}

func (s *scheduler) waitAlone() {
	s.mu.Lock()
	for s.active > 1 {
		s.cond.Wait()
	}
	s.mu.Unlock()
}

// instanceOf is the instance t's stacks run as: its top-level test's name,
// after STACKCTL_E2E_PREFIX when it is set, so that two runs (of two
// checkouts, say) can share an engine without touching each other's stacks.
func instanceOf(t testing.TB) string {
	name := strings.ToLower(strings.TrimPrefix(strings.SplitN(t.Name(), "/", 2)[0], "Test"))
	if p := os.Getenv("STACKCTL_E2E_PREFIX"); p != "" {
		name = p + "-" + name
	}
	return name[:min(len(name), 28)] // room for TestSite's second instance, "-b"
}

// instanceEnv runs stackctl in t's instance.
func instanceEnv(t testing.TB) string { return "STACKCTL_INSTANCE=" + instanceOf(t) }

// instanceState is where the instance of t keeps its state in state.
func instanceState(t testing.TB, state string) string {
	return filepath.Join(state, "instances", instanceOf(t))
}

// redmineProject is the compose project of t's Redmine stack.
func redmineProject(t testing.TB) string { return "stackctl-redmine-" + instanceOf(t) }

// imageOf is the image t's instance of stack builds on the debian profile.
func imageOf(t testing.TB, stack string) string {
	return "stackctl/" + stack + ":debian-" + instanceOf(t)
}

// dockerAPI returns a client of the real engine, or skips (fails under STACKCTL_E2E=1)
// when none answers.
func dockerAPI(t testing.TB) client.APIClient {
	t.Helper()
	c, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = c.Ping(ctx, client.PingOptions{})
	}
	if err != nil {
		if os.Getenv("STACKCTL_E2E") == "1" {
			t.Fatalf("STACKCTL_E2E=1 but no Docker engine answers: %v", err)
		}
		t.Skipf("no Docker engine answers (%v); set STACKCTL_E2E=1 to make this a failure", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// result is one stackctl run.
type result struct {
	code           int
	stdout, stderr string
}

// stackctl runs the binary in the project root (the site it finds from its
// working directory) with extra environment and returns its result.
func stackctl(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return stackctlIn(t, projectRoot, env, args...)
}

// stackctlIn is stackctl run in the working directory dir.
func stackctlIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	var exit *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running stackctl %v: %v", args, err)
	}
	t.Logf("stackctl %s: exit %d (%s)", strings.Join(args, " "), code, time.Since(start).Round(100*time.Millisecond))
	return result{code, out.String(), errb.String()}
}

// mustRun runs stackctl and fails the test unless it exits 0.
func mustRun(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return mustRunIn(t, projectRoot, env, args...)
}

// mustRunIn runs stackctl in dir and fails the test unless it exits 0.
func mustRunIn(t *testing.T, dir string, env []string, args ...string) result {
	t.Helper()
	r := stackctlIn(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("stackctl %v: exit %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// freePort returns a loopback port nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// sortedIDs is a set of IDs as one comparable string.
func sortedIDs(ids []string) string {
	slices.Sort(ids)
	return strings.Join(ids, ",")
}

// freshStack removes what a run before left of the stack, and removes the stack
// again when the test ends, with its logs when the test failed.
func freshStack(t *testing.T, env []string, name string) {
	t.Helper()
	stackctl(t, env, "down", name, "--volumes")
	t.Cleanup(func() {
		if t.Failed() {
			r := stackctl(t, env, "logs", name, "--tail", "80")
			t.Logf("logs of the stack:\n%s", r.stdout)
		}
		stackctl(t, env, "down", name, "--volumes")
	})
}
