package e2e

import (
	"context"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

// TestBusyPort is issue 30's busy port: 'up nginx' and 'up nginx --dry-run'
// on an address another process holds (this test's listener) exit 2 naming
// the address, before anything is built or created: no container, network
// or volume of the instance exists afterwards, and nothing is recorded.
func TestBusyPort(t *testing.T) {
	shares(t)
	api := dockerAPI(t)
	ctx := context.Background()
	state := t.TempDir()
	env := []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + state}
	t.Cleanup(func() { stackctl(t, env, "down", "nginx", "--volumes") })

	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	listen := l.Addr().String()
	for _, args := range [][]string{
		{"up", "nginx", "--profile", "debian", "--listen", listen, "--dry-run"},
		{"up", "nginx", "--profile", "debian", "--listen", listen},
	} {
		r := stackctl(t, env, args...)
		t.Logf("stderr:\n%s", r.stderr)
		if r.code != 2 || !strings.Contains(r.stderr, "cannot publish on "+listen) || !strings.Contains(r.stderr, "another process holds it") {
			t.Errorf("stackctl %s: exit %d, want 2 naming %s and another process", strings.Join(args, " "), r.code, listen)
		}
		if strings.Contains(r.stderr, "address already in use") {
			t.Errorf("stackctl %s: the engine's raw error reached the operator", strings.Join(args, " "))
		}
	}

	project := client.Filters{}.Add("label", "com.docker.compose.project="+nginxProject(t))
	cs, err := api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: project})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := api.NetworkList(ctx, client.NetworkListOptions{Filters: project})
	if err != nil {
		t.Fatal(err)
	}
	vs, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: project})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Items) > 0 || len(ns.Items) > 0 || len(vs.Items) > 0 {
		t.Errorf("a refused up left %d containers, %d networks and %d volumes of %s", len(cs.Items), len(ns.Items), len(vs.Items), nginxProject(t))
	}
	// The stack's lock is all its state directory may hold: no record, no secret.
	filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != "lock" {
			t.Errorf("a refused up wrote %s", path)
		}
		return err
	})
}
