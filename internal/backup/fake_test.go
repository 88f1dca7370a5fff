package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/engine"
)

// fakeEngine is the running stack as a backup reads it (Engine): programs
// that print what the test says, volumes as tar streams, images' environments.
type fakeEngine struct {
	// run answers a program run in a container: what it prints, or its failure.
	run func(container string, cmd []string) (string, error)
	// tars are the tar streams CopyFrom returns, by "container:path".
	tars map[string][]byte
	// images are the images containers run, envs those images' environments.
	images map[string]string
	envs   map[string][]string

	mu   sync.Mutex
	cmds []string
}

func (f *fakeEngine) Exec(_ context.Context, container string, cmd []string, o engine.ExecOptions) error {
	f.mu.Lock()
	f.cmds = append(f.cmds, container+": "+strings.Join(cmd, " "))
	f.mu.Unlock()
	out, err := f.run(container, cmd)
	if err != nil {
		return err
	}
	if o.Stdout != nil {
		_, err = io.WriteString(o.Stdout, out)
	}
	return err
}

func (f *fakeEngine) CopyFrom(_ context.Context, container, path string) (io.ReadCloser, error) {
	b, ok := f.tars[container+":"+path]
	if !ok {
		return nil, fmt.Errorf("reading %s from %s: %w", path, container, cerrdefs.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *fakeEngine) ImageEnv(_ context.Context, ref string) ([]string, bool, error) {
	env, ok := f.envs[ref]
	return env, ok, nil
}

func (f *fakeEngine) ContainerImage(_ context.Context, container string) (string, error) {
	img, ok := f.images[container]
	if !ok {
		return "", fmt.Errorf("inspecting container %s: %w", container, cerrdefs.ErrNotFound)
	}
	return img, nil
}

// tarOf is a tar stream of files (name → content), each under dir as
// CopyFrom gives a directory: its base name first.
func tarOf(t *testing.T, dir string, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dir + "/" + files[i], Mode: 0o644, Size: int64(len(files[i+1]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// engineAPI is the engine API behind an *engine.Engine, for the code that
// takes the handle itself: images' environments, and programs run with Exec
// that print stdout and exit with code. The embedded interface is nil: a
// call no test expects panics, which fails it.
type engineAPI struct {
	client.APIClient
	envs map[string][]string
	// exec answers a program: its output and exit code.
	exec func(container string, cmd []string) (stdout string, code int)

	mu      sync.Mutex
	execs   map[string]int // exec ID → exit code
	outputs []string       // by exec ID
}

func (f *engineAPI) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	env, ok := f.envs[ref]
	if !ok {
		return client.ImageInspectResult{}, fmt.Errorf("no such image %s: %w", ref, cerrdefs.ErrNotFound)
	}
	// Through JSON, as the engine answers: the config's type lives in a
	// module this one does not require directly.
	var res image.InspectResponse
	b, _ := json.Marshal(map[string]any{"Config": map[string]any{"Env": env}})
	err := json.Unmarshal(b, &res)
	return client.ImageInspectResult{InspectResponse: res}, err
}

func (f *engineAPI) ExecCreate(_ context.Context, container string, o client.ExecCreateOptions) (client.ExecCreateResult, error) {
	out, code := f.exec(container, o.Cmd)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.execs == nil {
		f.execs = map[string]int{}
	}
	id := fmt.Sprint(len(f.execs))
	f.execs[id] = code
	f.outputs = append(f.outputs, out)
	return client.ExecCreateResult{ID: id}, nil
}

func (f *engineAPI) ExecAttach(_ context.Context, id string, _ client.ExecAttachOptions) (client.ExecAttachResult, error) {
	f.mu.Lock()
	var n int
	fmt.Sscan(id, &n)
	out := f.outputs[n]
	f.mu.Unlock()
	ours, theirs := net.Pipe()
	go func() {
		b := []byte{byte(stdcopy.Stdout), 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[4:], uint32(len(out)))
		if out != "" {
			_, _ = theirs.Write(append(b, out...))
		}
		theirs.Close()
	}()
	return client.ExecAttachResult{HijackedResponse: client.HijackedResponse{Conn: ours, Reader: bufio.NewReader(ours)}}, nil
}

func (f *engineAPI) ExecInspect(_ context.Context, id string, _ client.ExecInspectOptions) (client.ExecInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return client.ExecInspectResult{ID: id, ExitCode: f.execs[id]}, nil
}
