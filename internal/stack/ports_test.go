package stack

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/state"
)

// holdPort listens on a free loopback port for the test: another process's
// listener, as up finds it. It returns the address.
func holdPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// stateFiles lists what the state directory dir holds.
func stateFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return err
	})
	return out
}

// TestBusyPortRefused: up and up --dry-run on an address another process or
// container holds refuse with ErrPortInUse, naming the address, the holder
// and where else to publish, before anything is built, created or recorded
// (on the debian profile, before its bases too).
func TestBusyPortRefused(t *testing.T) {
	free := func(t *testing.T) string {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	for _, tc := range []struct {
		name, stack string
		// https publishes HTTPS on a free port, plain HTTP on the one held.
		https bool
		// container is the one the engine says publishes the port held.
		container string
		want      []string
	}{
		{name: "nginx", stack: "nginx", want: []string{"another process holds it", "pid " + strconv.Itoa(os.Getpid()), "--listen, or listen: in stackctl.yaml"}},
		{name: "redmine", stack: "redmine", want: []string{"another process holds it", "--listen, or listen: in stackctl.yaml"}},
		{name: "a container publishes it", stack: "nginx", container: "stackctl-nginx-other-nginx-1",
			want: []string{"container stackctl-nginx-other-nginx-1 publishes it"}},
		{name: "plain HTTP beside HTTPS", stack: "redmine", https: true, want: []string{"another process holds it", "with http_listen: in stackctl.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := catalog.LookupStack(tc.stack)
			if err != nil {
				t.Fatal(err)
			}
			held := holdPort(t)
			_, port, _ := net.SplitHostPort(held)
			n, _ := strconv.Atoi(port)
			c := &fakeCompose{ps: []api.ContainerSummary{}}
			e := &fakeEngine{local: true, volumes: map[string]bool{}, publishedBy: map[int][]string{}}
			if tc.container != "" {
				e.publishedBy[n] = []string{tc.container}
			}
			dir := t.TempDir()
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(dir)}
			o := UpOptions{Profile: catalog.ProfileDebian, Listen: held}
			if tc.https {
				r.Overrides = catalog.Overrides{HTTPS: true, HTTPListen: held}
				o.Listen = free(t)
			}
			for _, verb := range []string{"up", "up --dry-run"} {
				if verb == "up" {
					_, err = r.Up(context.Background(), o)
				} else {
					_, err = r.PlanUp(context.Background(), o)
				}
				if !errors.Is(err, ErrPortInUse) {
					t.Fatalf("%s on %s: %v, want ErrPortInUse", verb, held, err)

				}
				for _, w := range append([]string{"stack " + tc.stack + " cannot publish on " + held}, tc.want...) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %q lacks %q", verb, err, w)
					}
				}
			}
			if len(c.calls) > 0 {
				t.Errorf("the Compose SDK was asked %q: nothing is built or created on a busy port", c.calls)
			}
			if files := stateFiles(t, dir); len(files) > 0 {
				t.Errorf("up wrote %q: nothing is recorded on a busy port", files)
			}
		})
	}
}

// TestOwnPortNotBusy: the address the stack's own running container
// publishes is no busy port: up goes ahead (here, a listener stands for
// that container's, and answers as its nginx would).
func TestOwnPortNotBusy(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer site.Close()
	listen := strings.TrimPrefix(site.URL, "http://")
	_, port, _ := net.SplitHostPort(listen)
	n, _ := strconv.Atoi(port)
	published := api.PortPublishers{{URL: "127.0.0.1", TargetPort: 8080, PublishedPort: n, Protocol: "tcp"}}
	for _, tc := range []struct {
		stack, holder string
		want          []string
	}{
		{stack: "nginx", holder: "nginx", want: []string{"build", "create", "start nginx"}},
		{stack: "redmine", holder: "edge", want: []string{"build", "create", "start db,edge,nginx,redmine"}},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			st, _ := catalog.LookupStack(tc.stack)
			c := &fakeCompose{}
			e := &fakeEngine{local: true, volumes: map[string]bool{}, comment: configuredMark}
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			rec := state.State{Profile: catalog.ProfileUpstream, Listen: listen}
			if st.Generations != nil {
				e.volumes["stackctl-redmine_db-data"] = true
				e.upstream = st.Generations.Upstream(1, catalog.SlotA)
				rec.Active = 1
				rec.PutGen(state.Generation{N: 1, Ready: true})
			}
			if err := r.State.Save(st.Name, rec); err != nil {
				t.Fatal(err)
			}
			running(t, r, c, e, st, nil, nil)
			i := slices.IndexFunc(c.ps, func(s api.ContainerSummary) bool { return s.Service == tc.holder })
			c.ps[i].Publishers = published
			if _, err := r.PlanUp(context.Background(), UpOptions{}); err != nil {
				t.Fatalf("up --dry-run on the stack's own port: %v", err)
			}
			if _, err := r.Up(context.Background(), UpOptions{}); err != nil {
				t.Fatalf("up on the stack's own port: %v", err)
			}
			if !slices.Equal(c.calls, tc.want) {
				t.Errorf("calls = %q\nwant    %q", c.calls, tc.want)
			}
		})
	}
}

// TestEnginePortError: a remote engine's ports are not tried here; its
// refusal to publish (after the containers were created) is told as the
// check tells it, naming the address and the container that has it.
func TestEnginePortError(t *testing.T) {
	st, _ := catalog.LookupStack("nginx")
	listen := "127.0.0.1:18080"
	c := &fakeCompose{fail: "start nginx", failWith: "Error response from daemon: driver failed programming external connectivity on endpoint " +
		"stackctl-nginx-nginx-1 (0123): Bind for " + listen + " failed: port is already allocated"}
	e := &fakeEngine{volumes: map[string]bool{}, publishedBy: map[int][]string{18080: {"elsewhere-1"}}}
	r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	_, err := r.Up(context.Background(), UpOptions{Profile: catalog.ProfileUpstream, Listen: listen})
	if !errors.Is(err, ErrPortInUse) {
		t.Fatalf("up: %v, want ErrPortInUse", err)
	}
	if want := "stack nginx cannot publish on " + listen + ": container elsewhere-1 publishes it"; !strings.Contains(err.Error(), want) {
		t.Errorf("%q lacks %q", err, want)
	}
	if want := []string{"build", "create", "start nginx"}; !slices.Equal(c.calls, want) {
		t.Errorf("calls = %q, want %q: a remote engine's port is its to refuse", c.calls, want)
	}
}
