package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	"github.com/moby/moby/client"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
)

// TestPush pushes the nginx image to a real CNCF distribution registry served
// by this test on loopback, pulls it back by digest and compares; then meets a
// registry that wants credentials: none, wrong ones, the right ones.
func TestPush(t *testing.T) {
	shares(t)
	api := dockerAPI(t)
	ctx := context.Background()
	state := t.TempDir()
	env := []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + state, "STACKCTL_DIR=" + copyProject(t), "DOCKER_CONFIG=" + t.TempDir()}

	// An image that is not built is named, with the command that builds it.
	if _, err := api.ImageRemove(ctx, "stackctl/redmine:upstream", client.ImageRemoveOptions{}); err == nil {
		t.Log("removed a stray stackctl/redmine:upstream")
	}
	r := stackctl(t, env, "push", "redmine", "--profile", "upstream", "--to", "127.0.0.1:1/x/redmine:1")
	if r.code != 3 || !strings.Contains(r.stderr, "stackctl up redmine") {
		t.Fatalf("push of an image not built: exit %d, want 3 naming 'stackctl up redmine':\n%s", r.code, r.stderr)
	}

	mustRun(t, env, "up", "nginx", "--profile", "debian", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--no-wait")
	mustRun(t, env, "down", "nginx")
	local := imageID(t, api, imageOf(t, "nginx"))

	t.Run("to an open registry, and back by digest", func(t *testing.T) {
		host := serveRegistry(t, nil)
		to := host + "/stackctl/nginx:e2e"
		r := mustRun(t, env, "push", "nginx", "--to", to)
		ref := strings.TrimSpace(r.stdout)
		if !strings.HasPrefix(ref, host+"/stackctl/nginx@sha256:") {
			t.Fatalf("push printed %q, want %s/stackctl/nginx@sha256:…", ref, host)
		}
		digest := strings.TrimPrefix(ref, host+"/stackctl/nginx@")
		// The registry itself says it holds that manifest under that digest.
		req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/stackctl/nginx/manifests/e2e", nil)
		req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Docker-Content-Digest"); got != digest {
			t.Fatalf("registry holds the tag as %q, push printed %q", got, digest)
		}
		// Pulled back by digest into the engine, it is the same image (same config digest).
		if _, err := api.ImageRemove(ctx, to, client.ImageRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
		pull, err := api.ImagePull(ctx, ref, client.ImagePullOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := pull.Wait(ctx); err != nil {
			t.Fatalf("pulling %s: %v", ref, err)
		}
		t.Cleanup(func() { api.ImageRemove(context.Background(), ref, client.ImageRemoveOptions{}) })
		if got := imageID(t, api, ref); got != local {
			t.Fatalf("pulled back %s as image %s, pushed %s", ref, got, local)
		}
	})

	t.Run("to a registry that wants credentials", func(t *testing.T) {
		host := serveRegistry(t, map[string]string{"ops": "correct horse"})
		to := host + "/ops/nginx:1"
		cfgDir := envValue(env, "DOCKER_CONFIG")
		r := stackctl(t, env, "push", "nginx", "--to", to)
		if r.code != 23 || !strings.Contains(r.stderr, "not logged in to "+host) || !strings.Contains(r.stderr, "docker login "+host) {
			t.Fatalf("push without credentials: exit %d, want 23 saying 'not logged in to %s' and how to log in:\n%s", r.code, host, r.stderr)
		}
		login := func(password string) {
			auth := base64.StdEncoding.EncodeToString([]byte("ops:" + password))
			writeFile(t, filepath.Join(cfgDir, "config.json"), fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth))
		}
		login("wrong")
		r = stackctl(t, env, "push", "nginx", "--to", to)
		if r.code != 23 || !strings.Contains(r.stderr, "are wrong") {
			t.Fatalf("push with a wrong password: exit %d, want 23 saying the credentials are wrong:\n%s", r.code, r.stderr)
		}
		login("correct horse")
		if r := mustRun(t, env, "push", "nginx", "--to", to); !strings.Contains(r.stdout, "@sha256:") {
			t.Fatalf("push with credentials printed %q", r.stdout)
		}
		api.ImageRemove(ctx, to, client.ImageRemoveOptions{})
	})

	t.Run("to a registry that does not answer", func(t *testing.T) {
		to := fmt.Sprintf("127.0.0.1:%d/ops/nginx:1", freePort(t))
		r := stackctl(t, env, "push", "nginx", "--to", to)
		if r.code != 4 || !strings.Contains(r.stderr, "cannot be reached") {
			t.Fatalf("push to nothing: exit %d, want 4 saying it cannot be reached:\n%s", r.code, r.stderr)
		}
		api.ImageRemove(ctx, to, client.ImageRemoveOptions{})
	})
}

// serveRegistry runs a CNCF distribution registry (on disk, in a temporary directory) on a loopback port
// for the test's life, which the engine accepts over plain HTTP; with users, it
// asks for basic authentication against them.
func serveRegistry(t *testing.T, users map[string]string) string {
	t.Helper()
	return serveRegistryAlso(t, users)
}

// serveRegistryAlso is serveRegistry also listening on the same port at each of
// the addresses also, for engines in containers that reach the host there
// (they forward their own loopback port to it, so the reference stays the same).
func serveRegistryAlso(t *testing.T, users map[string]string, also ...netip.Addr) string {
	t.Helper()
	cfg := &configuration.Configuration{}
	// On disk: the in-memory driver copies a blob on every write, which made
	// pushing Redmine's image take minutes.
	cfg.Storage = configuration.Storage{"filesystem": configuration.Parameters{"rootdirectory": t.TempDir()}, "delete": configuration.Parameters{"enabled": true}}
	cfg.Log.Level = "error"
	cfg.Log.AccessLog.Disabled = true
	if len(users) > 0 {
		var lines []string
		for u, p := range users {
			hash, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			lines = append(lines, u+":"+string(hash))
		}
		path := filepath.Join(t.TempDir(), "htpasswd")
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "stackctl-e2e", "path": path}}
	}
	// The registry logs every request through logrus's global logger; a failing
	// test's own messages say enough.
	logrus.SetOutput(io.Discard)
	app := handlers.NewApp(context.Background(), cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: app}
	go srv.Serve(l)
	port := l.Addr().(*net.TCPAddr).Port
	for _, a := range also {
		la, err := net.Listen("tcp", netip.AddrPortFrom(a, uint16(port)).String())
		if err != nil {
			srv.Close()
			t.Fatal(err)
		}
		go srv.Serve(la)
	}
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
