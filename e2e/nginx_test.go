package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

const nginxBase = "stackctl/base-nginx:trixie"

// nginxProject is the compose project of t's nginx stack.
func nginxProject(t testing.TB) string { return "stackctl-nginx-" + instanceOf(t) }

// TestNginxStack is issue 2's demonstration: from an engine without stackctl's
// images, 'stackctl up nginx --profile debian' builds the base and the image, starts
// the stack, and the printed URL serves our page with the security headers and no
// nginx version; running again changes nothing; 'down' leaves no container.
//
// It runs first, alone (no t.Parallel): it removes the nginx base every
// stack's nginx is built from, to start cold.
func TestNginxStack(t *testing.T) {
	times.record(t, time.Now())
	api := dockerAPI(t)
	ctx := context.Background()
	state := t.TempDir()
	env := []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + state}

	stackctl(t, env, "down", "nginx", "--volumes")
	for _, ref := range []string{imageOf(t, "nginx"), nginxBase} {
		_, err := api.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		t.Logf("removing %s to start cold: %v", ref, err)
	}
	t.Cleanup(func() { stackctl(t, env, "down", "nginx", "--volumes") })

	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	up := mustRun(t, env, "up", "nginx", "--profile", "debian", "--listen", listen)
	url := strings.TrimSpace(up.stdout)
	if url != "http://"+listen+"/" {
		t.Fatalf("up printed %q on stdout, want only the URL http://%s/\nstderr:\n%s", up.stdout, listen, up.stderr)
	}
	if !strings.Contains(up.stderr, "base nginx: built "+nginxBase) {
		t.Errorf("up did not build the base from the mirror:\n%s", up.stderr)
	}

	t.Run("our page", func(t *testing.T) {
		resp, body := get(t, url)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", url, resp.Status)
		}
		if !strings.Contains(body, `<meta name="generator" content="stackctl">`) || strings.Contains(body, "Welcome to nginx") {
			t.Fatalf("GET %s did not return our page:\n%s", url, body)
		}
		checkHeaders(t, resp)
	})
	t.Run("error pages are ours and carry the headers", func(t *testing.T) {
		resp, body := get(t, url+"no-such-page")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Nothing lives at this address") {
			t.Fatalf("GET of a missing page: %s\n%s", resp.Status, body)
		}
		checkHeaders(t, resp)
	})
	t.Run("health endpoint", func(t *testing.T) {
		resp, body := get(t, url+"healthz")
		if resp.StatusCode != http.StatusOK || body != "ok\n" {
			t.Fatalf("GET /healthz: %s %q", resp.Status, body)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, url+"style.css", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("style.css not gzipped: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
		}
	})
	t.Run("workers are not root", func(t *testing.T) {
		top, err := api.ContainerTop(ctx, service(t, api, nginxProject(t), "nginx"), client.ContainerTopOptions{Arguments: []string{"-o", "pid,uid,args"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range top.Processes {
			if p[1] == "0" {
				t.Errorf("process runs as root: %v", p)
			}
		}
	})
	t.Run("base carries its recipe", func(t *testing.T) {
		info, err := api.ImageInspect(ctx, nginxBase)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Config.Labels["io.stackctl.recipe"]) != 64 {
			t.Fatalf("labels of %s = %v, want a recipe hash", nginxBase, info.Config.Labels)
		}
		t.Logf("%s: %d bytes", nginxBase, info.Size)
	})

	t.Run("again changes nothing", func(t *testing.T) {
		before := containerIDs(t, api, nginxProject(t))
		if r := mustRun(t, env, "base", "build", "nginx"); !strings.Contains(r.stdout, "up to date") {
			t.Errorf("base build of an unchanged recipe: %q, want up to date", r.stdout)
		}
		mustRun(t, env, "up", "nginx")
		if after := containerIDs(t, api, nginxProject(t)); after != before {
			t.Fatalf("second up recreated the container (%.12s -> %.12s)", before, after)
		}
	})
	t.Run("ps and logs", func(t *testing.T) {
		if r := mustRun(t, env, "ps", "nginx"); !strings.Contains(r.stdout, "healthy") || !strings.Contains(r.stdout, listen) {
			t.Errorf("ps nginx:\n%s", r.stdout)
		}
		if r := mustRun(t, env, "logs", "nginx"); !strings.Contains(r.stdout, `"GET / HTTP/1.1" 200`) {
			t.Errorf("logs nginx lack the request made above:\n%s", r.stdout)
		}
	})
	t.Run("one command at a time", func(t *testing.T) {
		// Another process holds the stack's lock, as a running stackctl would,
		// until the test closes its input.
		lock := filepath.Join(instanceState(t, state), "nginx", "lock")
		holder := exec.Command("flock", "-o", lock, "cat")
		release, err := holder.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		defer holder.Wait()
		defer release.Close()
		// flock -n fails once the holder has the lock.
		for deadline := time.Now().Add(10 * time.Second); exec.Command("flock", "-n", lock, "true").Run() == nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("flock(1) never took the stack's lock")
			}
		}
		if r := stackctl(t, env, "down", "nginx", "--no-wait-lock"); r.code != 5 || !strings.Contains(r.stderr, "being changed by another stackctl") {
			t.Fatalf("down --no-wait-lock while another holds the lock: exit %d, want 5\n%s", r.code, r.stderr)
		}
		mustRun(t, env, "ps", "nginx") // reading takes no lock
		up := exec.Command(bin, "up", "nginx")
		up.Dir, up.Env = projectRoot, append(os.Environ(), env...)
		stderr, err := up.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Start(); err != nil {
			t.Fatal(err)
		}
		waiting, exited := make(chan struct{}), make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for said := false; sc.Scan(); {
				if !said && strings.Contains(sc.Text(), "waiting for it") {
					said = true
					close(waiting)
				}
			}
			exited <- up.Wait() // only once its output is read
		}()
		select {
		case <-waiting:
		case err := <-exited:
			t.Fatalf("up while locked ended (%v) without saying it waits", err)
		case <-time.After(2 * time.Minute):
			t.Fatal("up while locked neither waited nor ended")
		}
		// It waits for as long as the lock is held.
		select {
		case err := <-exited:
			t.Fatalf("up ended (%v) while another held the lock", err)
		case <-time.After(time.Second):
		}
		release.Close()
		if err := <-exited; err != nil {
			t.Fatalf("up after the lock was released: %v", err)
		}
	})
	t.Run("a failed base build leaves the tag alone", func(t *testing.T) {
		before, beforeAll := imageID(t, api, nginxBase), baseImages(t, api)
		// A mirror that answers but serves no valid archive: mmdebstrap itself fails.
		bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "this is not a Debian archive\n")
		}))
		defer bad.Close()
		r := stackctl(t, env, "base", "build", "nginx", "--force", "--mirror", bad.URL+"/debian")
		if r.code != 1 || !strings.Contains(r.stderr, "mmdebstrap") {
			t.Fatalf("base build from a broken mirror: exit %d, want 1 naming mmdebstrap\n%s", r.code, r.stderr)
		}
		r = stackctl(t, env, "base", "build", "nginx", "--force", "--mirror", "http://127.0.0.1:1/debian")
		if r.code != 4 || !strings.Contains(r.stderr, "not reachable") {
			t.Fatalf("base build from an unreachable mirror: exit %d, want 4\n%s", r.code, r.stderr)
		}
		if after := imageID(t, api, nginxBase); after != before {
			t.Fatalf("%s moved from %s to %s after failed builds", nginxBase, before, after)
		}
		if afterAll := baseImages(t, api); afterAll != beforeAll {
			t.Fatalf("failed builds left images behind: base images before %v, after %v", beforeAll, afterAll)
		}
	})
	t.Run("engine unreachable", func(t *testing.T) {
		r := stackctl(t, append(env, "DOCKER_HOST=unix:///nonexistent/docker.sock"), "up", "nginx")
		if r.code != 4 || !strings.Contains(r.stderr, "cannot reach the Docker engine") || strings.Contains(r.stderr, "goroutine") {
			t.Fatalf("up with no engine: exit %d\n%s", r.code, r.stderr)
		}
	})

	mustRun(t, env, "down", "nginx")
	if c := containerIDs(t, api, nginxProject(t)); c != "" {
		t.Fatalf("down left containers: %s", c)
	}
	if r := stackctl(t, env, "ps", "nginx"); r.code != 3 {
		t.Fatalf("ps after down: exit %d, want 3\n%s", r.code, r.stderr)
	}
}

// checkHeaders asserts the security headers and a version-less Server header.
func checkHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if s := resp.Header.Get("Server"); s != "nginx" {
		t.Errorf("Server: %q, want exactly nginx (no version)", s)
	}
	for h, want := range map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "SAMEORIGIN",
		"Referrer-Policy":         "strict-origin-when-cross-origin",
		"Content-Security-Policy": "default-src 'none'",
		"Permissions-Policy":      "camera=()",
	} {
		if got := resp.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s on %s: %q, want %q", h, resp.Request.URL.Path, got, want)
		}
	}
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func imageID(t *testing.T, api client.APIClient, ref string) string {
	t.Helper()
	info, err := api.ImageInspect(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// baseImages lists the IDs of every nginx base image, tagged or not.
func baseImages(t *testing.T, api client.APIClient) string {
	t.Helper()
	res, err := api.ImageList(context.Background(), client.ImageListOptions{
		All: true, Filters: client.Filters{}.Add("label", "io.stackctl.base=nginx"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(res.Items))
	for i, im := range res.Items {
		ids[i] = im.ID
	}
	return sortedIDs(ids)
}
