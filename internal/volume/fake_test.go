package volume

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/engine"
)

// fakeEngine is an engine with one helper container, run in process: its
// mounts map the helper's paths to host directories, and the programs it is
// asked to exec (test -e, tar) act on those. The embedded interface is nil: a
// call the test did not expect panics, which fails it.
type fakeEngine struct {
	client.APIClient
	t *testing.T

	// volumes answers VolumeInspect by engine name; a name not there is an error.
	volumes map[string]client.VolumeInspectResult
	// seen maps a helper path (MountRoot/key) to the host directory the helper
	// sees there; a key not in it is a volume the helper sees elsewhere.
	seen map[string]string
	// tar is how tar in the helper behaves, given the host path of its pipe.
	tar func(ctx context.Context, pipe string) (stderr string, exit int)

	createErr []error // one per ContainerCreate, in order; nil: success
	attachErr error
	startErr  error
	removeErr error
	copyErr   error
	// removing is how many more times ContainerInspect finds the helper
	// after a removal: one removing itself takes a while to go.
	removing int

	mu       sync.Mutex
	created  []client.ContainerCreateOptions
	stdin    *pipeConn
	started  bool
	removed  []client.ContainerRemoveOptions
	inspects int
	execs    [][]string
	copied   []copied
	exits    map[string]int
}

type copied struct {
	id, dest string
	content  []byte
}

func newFakeEngine(t *testing.T) *fakeEngine {
	return &fakeEngine{t: t, seen: map[string]string{}, volumes: map[string]client.VolumeInspectResult{}, exits: map[string]int{}}
}

func (f *fakeEngine) engine() *engine.Engine { return &engine.Engine{API: f} }

func (f *fakeEngine) ContainerCreate(_ context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.created = append(f.created, o)
	if n := len(f.created); n <= len(f.createErr) && f.createErr[n-1] != nil {
		return client.ContainerCreateResult{}, f.createErr[n-1]
	}
	return client.ContainerCreateResult{ID: "helper1"}, nil
}

func (f *fakeEngine) ContainerAttach(_ context.Context, id string, o client.ContainerAttachOptions) (client.ContainerAttachResult, error) {
	if f.attachErr != nil {
		return client.ContainerAttachResult{}, f.attachErr
	}
	if !o.Stream || !o.Stdin {
		f.t.Errorf("attach options = %+v: the helper's life would not hang on stackctl's", o)
	}
	conn, _ := newPipeConn()
	f.stdin = conn
	return client.ContainerAttachResult{HijackedResponse: client.HijackedResponse{Conn: conn, Reader: bufio.NewReader(conn)}}, nil
}

func (f *fakeEngine) ContainerStart(_ context.Context, id string, _ client.ContainerStartOptions) (client.ContainerStartResult, error) {
	f.started = true
	return client.ContainerStartResult{}, f.startErr
}

func (f *fakeEngine) ContainerRemove(_ context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
	if id != "helper1" {
		f.t.Errorf("removed container %q", id)
	}
	f.removed = append(f.removed, o)
	return client.ContainerRemoveResult{}, f.removeErr
}

func (f *fakeEngine) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.removed) > 0 && f.removing == 0 {
		return client.ContainerInspectResult{}, cerrdefs.ErrNotFound.WithMessage("no such container")
	}
	f.removing--
	return client.ContainerInspectResult{}, nil
}

func (f *fakeEngine) VolumeInspect(_ context.Context, name string, _ client.VolumeInspectOptions) (client.VolumeInspectResult, error) {
	f.inspects++
	v, ok := f.volumes[name]
	if !ok {
		return client.VolumeInspectResult{}, errEngine
	}
	return v, nil
}

func (f *fakeEngine) CopyToContainer(_ context.Context, id string, o client.CopyToContainerOptions) (client.CopyToContainerResult, error) {
	b, err := io.ReadAll(o.Content)
	if err != nil {
		f.t.Error(err)
	}
	f.copied = append(f.copied, copied{id, o.DestinationPath, b})
	return client.CopyToContainerResult{}, f.copyErr
}

func (f *fakeEngine) ExecCreate(ctx context.Context, id string, o client.ExecCreateOptions) (client.ExecCreateResult, error) {
	if err := ctx.Err(); err != nil {
		return client.ExecCreateResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs = append(f.execs, o.Cmd)
	return client.ExecCreateResult{ID: strings.Join(o.Cmd, " ")}, nil
}

// ExecAttach runs the program: its standard error goes to the connection,
// which ends when the program does.
func (f *fakeEngine) ExecAttach(ctx context.Context, execID string, _ client.ExecAttachOptions) (client.ExecAttachResult, error) {
	conn, w := newPipeConn()
	go func() {
		stderr, exit := f.run(ctx, strings.Fields(execID))
		f.mu.Lock()
		f.exits[execID] = exit
		f.mu.Unlock()
		if stderr != "" {
			b := []byte{2, 0, 0, 0, 0, 0, 0, 0}
			binary.BigEndian.PutUint32(b[4:], uint32(len(stderr)))
			_, _ = w.Write(append(b, stderr...))
		}
		w.Close()
	}()
	return client.ExecAttachResult{HijackedResponse: client.HijackedResponse{Conn: conn, Reader: bufio.NewReader(conn)}}, nil
}

func (f *fakeEngine) ExecInspect(_ context.Context, execID string, _ client.ExecInspectOptions) (client.ExecInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return client.ExecInspectResult{ExitCode: f.exits[execID]}, nil
}

// run is the helper's shell: the two programs stackctl runs in it.
func (f *fakeEngine) run(ctx context.Context, cmd []string) (stderr string, exit int) {
	switch cmd[0] {
	case "test": // test -e MountRoot/key/marker
		dir, ok := f.seen[path.Dir(cmd[2])]
		if !ok {
			return "", 1
		}
		if _, err := os.Stat(filepath.Join(dir, path.Base(cmd[2]))); err != nil {
			return "", 1
		}
		return "", 0
	case "tar": // tar … -f fifoMount/in …
		pipe := ""
		for i, a := range cmd {
			if a == "-f" {
				pipe = f.hostPath(cmd[i+1])
			}
		}
		return f.tar(ctx, pipe)
	}
	f.t.Errorf("the helper was asked to run %q", cmd)
	return "no such program", 127
}

// hostPath is where the helper's path p is on the host, through the bind
// mounts of the last container created.
func (f *fakeEngine) hostPath(p string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := f.created[len(f.created)-1]
	for _, m := range last.HostConfig.Mounts {
		if m.Type == mount.TypeBind && strings.HasPrefix(p, m.Target+"/") {
			return filepath.Join(m.Source, strings.TrimPrefix(p, m.Target))
		}
	}
	f.t.Errorf("the helper has no bind mount holding %s", p)
	return ""
}

// pipeConn is a hijacked connection whose reads give what is written to its
// pipe; closing it ends a blocked read, as closing a socket does.
type pipeConn struct {
	net.Conn // nil: nothing else is called
	r        *io.PipeReader

	mu     sync.Mutex
	closed bool
}

func newPipeConn() (*pipeConn, *io.PipeWriter) {
	r, w := io.Pipe()
	return &pipeConn{r: r}, w
}

func (c *pipeConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *pipeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.r.CloseWithError(net.ErrClosed)
}

func (c *pipeConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
