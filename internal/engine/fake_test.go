package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// fakeAPI answers the engine calls a test sets a function for. The embedded
// interface is nil: a call the test did not expect panics, which fails it.
type fakeAPI struct {
	client.APIClient

	ping              func(ctx context.Context) error
	imageInspect      func(ref string) (client.ImageInspectResult, error)
	distribution      func(ctx context.Context, ref string) error
	imageImport       func(src client.ImageImportSource, o client.ImageImportOptions) (client.ImageImportResult, error)
	imageTag          func(o client.ImageTagOptions) error
	imageRemove       func(id string, o client.ImageRemoveOptions) error
	imageList         func(o client.ImageListOptions) (client.ImageListResult, error)
	imagePull         func(ref string) (client.ImagePullResponse, error)
	imageBuild        func(ctx io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error)
	containerCreate   func(o client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	containerRemove   func(ctx context.Context, id string, o client.ContainerRemoveOptions) error
	containerAttach   func(id string, o client.ContainerAttachOptions) (client.ContainerAttachResult, error)
	containerStart    func(id string) error
	containerWait     func(id string, o client.ContainerWaitOptions) client.ContainerWaitResult
	containerInspect  func(id string) (client.ContainerInspectResult, error)
	containerList     func(o client.ContainerListOptions) (client.ContainerListResult, error)
	copyFromContainer func(id, path string) (client.CopyFromContainerResult, error)
	volumeInspect     func(name string) (client.VolumeInspectResult, error)
	volumeList        func(o client.VolumeListOptions) (client.VolumeListResult, error)
	volumeCreate      func(o client.VolumeCreateOptions) error
	volumeRemove      func(ctx context.Context, name string) error
	info              func() (client.SystemInfoResult, error)
	execCreate        func(id string, o client.ExecCreateOptions) (client.ExecCreateResult, error)
	execAttach        func(ctx context.Context, id string) (client.ExecAttachResult, error)
	execInspect       func(id string) (client.ExecInspectResult, error)
}

func (f *fakeAPI) DaemonHost() string { return "unix:///nonexistent.sock" }

func (f *fakeAPI) Ping(ctx context.Context, _ client.PingOptions) (client.PingResult, error) {
	return client.PingResult{}, f.ping(ctx)
}

func (f *fakeAPI) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return f.imageInspect(ref)
}

func (f *fakeAPI) DistributionInspect(ctx context.Context, ref string, _ client.DistributionInspectOptions) (client.DistributionInspectResult, error) {
	return client.DistributionInspectResult{}, f.distribution(ctx, ref)
}

func (f *fakeAPI) ImageImport(_ context.Context, src client.ImageImportSource, _ string, o client.ImageImportOptions) (client.ImageImportResult, error) {
	return f.imageImport(src, o)
}

func (f *fakeAPI) ImageTag(_ context.Context, o client.ImageTagOptions) (client.ImageTagResult, error) {
	return client.ImageTagResult{}, f.imageTag(o)
}

func (f *fakeAPI) ImageRemove(_ context.Context, id string, o client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
	return client.ImageRemoveResult{}, f.imageRemove(id, o)
}

func (f *fakeAPI) ImageList(_ context.Context, o client.ImageListOptions) (client.ImageListResult, error) {
	return f.imageList(o)
}

func (f *fakeAPI) ImagePull(_ context.Context, ref string, _ client.ImagePullOptions) (client.ImagePullResponse, error) {
	return f.imagePull(ref)
}

func (f *fakeAPI) ImageBuild(_ context.Context, buildContext io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
	return f.imageBuild(buildContext, o)
}

func (f *fakeAPI) ContainerCreate(_ context.Context, o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
	return f.containerCreate(o)
}

func (f *fakeAPI) ContainerRemove(ctx context.Context, id string, o client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
	return client.ContainerRemoveResult{}, f.containerRemove(ctx, id, o)
}

func (f *fakeAPI) ContainerAttach(_ context.Context, id string, o client.ContainerAttachOptions) (client.ContainerAttachResult, error) {
	return f.containerAttach(id, o)
}

func (f *fakeAPI) ContainerStart(_ context.Context, id string, _ client.ContainerStartOptions) (client.ContainerStartResult, error) {
	return client.ContainerStartResult{}, f.containerStart(id)
}

func (f *fakeAPI) ContainerWait(_ context.Context, id string, o client.ContainerWaitOptions) client.ContainerWaitResult {
	return f.containerWait(id, o)
}

func (f *fakeAPI) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	return f.containerInspect(id)
}

func (f *fakeAPI) ContainerList(_ context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	return f.containerList(o)
}

func (f *fakeAPI) CopyFromContainer(_ context.Context, id string, o client.CopyFromContainerOptions) (client.CopyFromContainerResult, error) {
	return f.copyFromContainer(id, o.SourcePath)
}

func (f *fakeAPI) VolumeInspect(_ context.Context, name string, _ client.VolumeInspectOptions) (client.VolumeInspectResult, error) {
	return f.volumeInspect(name)
}

func (f *fakeAPI) VolumeList(_ context.Context, o client.VolumeListOptions) (client.VolumeListResult, error) {
	return f.volumeList(o)
}

func (f *fakeAPI) VolumeCreate(_ context.Context, o client.VolumeCreateOptions) (client.VolumeCreateResult, error) {
	return client.VolumeCreateResult{}, f.volumeCreate(o)
}

func (f *fakeAPI) VolumeRemove(ctx context.Context, name string, _ client.VolumeRemoveOptions) (client.VolumeRemoveResult, error) {
	return client.VolumeRemoveResult{}, f.volumeRemove(ctx, name)
}

func (f *fakeAPI) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return f.info()
}

func (f *fakeAPI) ExecCreate(_ context.Context, id string, o client.ExecCreateOptions) (client.ExecCreateResult, error) {
	return f.execCreate(id, o)
}

func (f *fakeAPI) ExecAttach(ctx context.Context, id string, _ client.ExecAttachOptions) (client.ExecAttachResult, error) {
	return f.execAttach(ctx, id)
}

func (f *fakeAPI) ExecInspect(_ context.Context, id string, _ client.ExecInspectOptions) (client.ExecInspectResult, error) {
	return f.execInspect(id)
}

// fakeConn is the engine's side of a hijacked connection: reads give what the
// test wrote as the program's output, writes (the program's input) are kept.
// Closing it ends a blocked read, as closing a real socket does.
type fakeConn struct {
	out *io.PipeReader

	mu          sync.Mutex
	in          bytes.Buffer
	closed      bool
	writeClosed bool
	writeErr    error
}

func (c *fakeConn) Read(p []byte) (int, error) { return c.out.Read(p) }

func (c *fakeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writeErr != nil {
		return 0, c.writeErr
	}
	return c.in.Write(p)
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.out.CloseWithError(net.ErrClosed)
}

func (c *fakeConn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writeClosed = true
	return nil
}

func (c *fakeConn) input() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in.String()
}

func (c *fakeConn) state() (closed, writeClosed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed, c.writeClosed
}

func (c *fakeConn) LocalAddr() net.Addr              { return nil }
func (c *fakeConn) RemoteAddr() net.Addr             { return nil }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

var _ client.CloseWriter = (*fakeConn)(nil)

// hijacked returns a connection whose output is stdout and stderr multiplexed
// as the engine sends a program's streams without a TTY. With hold set the
// output never ends: only closing the connection ends a read.
func hijacked(t *testing.T, stdout, stderr string, hold bool) (client.HijackedResponse, *fakeConn) {
	t.Helper()
	r, w := io.Pipe()
	conn := &fakeConn{out: r}
	go func() {
		_, _ = w.Write(frame(stdcopy.Stdout, stdout))
		_, _ = w.Write(frame(stdcopy.Stderr, stderr))
		if !hold {
			w.Close()
		}
	}()
	t.Cleanup(func() { w.Close() })
	return client.HijackedResponse{Conn: conn, Reader: bufio.NewReader(conn)}, conn
}

// frame is s as one frame of the engine's multiplexed stream: a header
// naming the stream and the length, then the bytes. Empty s is no frame.
func frame(stream stdcopy.StdType, s string) []byte {
	if s == "" {
		return nil
	}
	b := []byte{byte(stream), 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], uint32(len(s)))
	return append(b, s...)
}

// readCloser records whether it was closed.
type readCloser struct {
	io.Reader
	closed bool
}

func (r *readCloser) Close() error { r.closed = true; return nil }
