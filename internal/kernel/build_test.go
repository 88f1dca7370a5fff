package kernel

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
)

// fakeBuilder stands for the engine: it reads the build context as the
// engine would, records what it was asked, and hands back the image's
// /out as the tar stream it is given.
type fakeBuilder struct {
	buildErr error
	// unread: the build fails before it reads the context, as an engine
	// that refuses the request does.
	unread bool
	out    []byte // the tar stream ImageTar returns
	tarErr error

	files   []string // the build context's members
	opts    engine.BuildOptions
	tarFrom string // image and path ImageTar was asked for
	closed  bool
}

func (f *fakeBuilder) BuildImage(_ context.Context, buildContext io.Reader, o engine.BuildOptions) error {
	f.opts = o
	if f.unread {
		return f.buildErr
	}
	tr := tar.NewReader(buildContext)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		f.files = append(f.files, hdr.Name)
	}
	return f.buildErr
}

func (f *fakeBuilder) ImageTar(_ context.Context, image, path string) (io.ReadCloser, error) {
	f.tarFrom = image + ":" + path
	if f.tarErr != nil {
		return nil, f.tarErr
	}
	return closer{bytes.NewReader(f.out), &f.closed}, nil
}

type closer struct {
	io.Reader
	closed *bool
}

func (c closer) Close() error { *c.closed = true; return nil }

// member is one entry of a tar stream the fake engine hands back.
type member struct {
	name string
	kind byte
	body string
}

func tarOf(t *testing.T, ms ...member) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range ms {
		hdr := &tar.Header{Name: m.name, Typeflag: m.kind, Mode: 0o644, Size: int64(len(m.body))}
		if m.kind == tar.TypeDir {
			hdr.Mode, hdr.Size = 0o755, 0
		}
		if m.kind == tar.TypeSymlink {
			hdr.Linkname, hdr.Size = "/etc/passwd", 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			if _, err := tw.Write([]byte(m.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// kernelDir is a stacks/kernel directory: a Dockerfile and a file beside it.
func kernelDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"Dockerfile": "FROM ${DEBIAN_BASE}\n", "config/extra.config": "CONFIG_X=y\n"} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestImage(t *testing.T) {
	for p, want := range map[catalog.Profile]string{catalog.ProfileDebian: "stackctl/kernel:debian", catalog.ProfileUpstream: "stackctl/kernel:upstream"} {
		if got := Image(p); got != want {
			t.Errorf("Image(%s) = %q, want %q", p, got, want)
		}
	}
}

// TestBuild: the directory goes to the engine whole as the build context, the
// base as DEBIAN_BASE, and the one regular file of the image's /out/bzImage
// lands in the output directory, made when missing.
func TestBuild(t *testing.T) {
	dir := kernelDir(t)
	out := filepath.Join(t.TempDir(), "new", "out")
	var progress bytes.Buffer
	f := &fakeBuilder{out: tarOf(t,
		member{name: "bzImage/", kind: tar.TypeDir},
		member{name: "bzImage", kind: tar.TypeReg, body: "kernel bytes"},
	)}
	res, err := Build(context.Background(), f, dir, "stackctl/kernel:debian", Options{Base: "debian:trixie", Out: out, Progress: &progress, HostMemory: 24 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if f.opts.ShmSize != treeInMemory {
		t.Errorf("the build step's /dev/shm on a 24 GiB host: %d bytes, want %d (the sources in memory)", f.opts.ShmSize, treeInMemory)
	}
	slices.Sort(f.files)
	if want := []string{"Dockerfile", "config/", "config/extra.config"}; !slices.Equal(f.files, want) {
		t.Errorf("build context = %q, want %q", f.files, want)
	}
	if f.opts.Tag != "stackctl/kernel:debian" {
		t.Errorf("tagged %q", f.opts.Tag)
	}
	if base := f.opts.Args["DEBIAN_BASE"]; base == nil || *base != "debian:trixie" {
		t.Errorf("DEBIAN_BASE = %v, want debian:trixie", base)
	}
	if f.opts.Progress != &progress {
		t.Error("the build's output does not go to Options.Progress")
	}
	if f.tarFrom != "stackctl/kernel:debian:/out/bzImage" {
		t.Errorf("copied %s, want /out/bzImage of the image built", f.tarFrom)
	}
	if !f.closed {
		t.Error("the image's tar stream was left open")
	}
	want := filepath.Join(out, "bzImage")
	if res.Path != want || res.Size != int64(len("kernel bytes")) || res.Image != "stackctl/kernel:debian" {
		t.Errorf("result = %+v, want %s of %d bytes", res, want, len("kernel bytes"))
	}
	if b, err := os.ReadFile(want); err != nil || string(b) != "kernel bytes" {
		t.Errorf("%s = %q, %v", want, b, err)
	}
}

// TestShmSize: the sources go to memory only on a host with four times the
// room they are given there.
func TestShmSize(t *testing.T) {
	for _, tc := range []struct {
		mem, want int64
	}{
		{0, 0}, // the engine did not say
		{2 << 30, 0},
		{12<<30 - 1, 0},
		{12 << 30, treeInMemory},
		{256 << 30, treeInMemory},
	} {
		if got := shmSize(tc.mem); got != tc.want {
			t.Errorf("shmSize(%d) = %d, want %d", tc.mem, got, tc.want)
		}
	}
}

// TestBuildFails: each failure says what failed, and none leaves a kernel
// image, whole or partial, in the output directory.
func TestBuildFails(t *testing.T) {
	kernel := tarOf(t, member{name: "bzImage", kind: tar.TypeReg, body: strings.Repeat("k", 4096)})
	for _, tc := range []struct {
		name     string
		noDocker bool
		f        *fakeBuilder
		is       error
		want     string
	}{
		{name: "no Dockerfile", noDocker: true, f: &fakeBuilder{}, is: errs.ErrNotFound, want: "is --root a stackctl project?"},
		{name: "build fails", f: &fakeBuilder{buildErr: errors.New("apt-get exited with 100")}, want: "apt-get exited with 100"},
		{name: "no /out/bzImage", f: &fakeBuilder{tarErr: errs.ErrNotFound}, is: errs.ErrNotFound, want: "reading /out/bzImage from stackctl/kernel:debian"},
		{name: "no regular file", f: &fakeBuilder{out: tarOf(t, member{name: "bzImage/", kind: tar.TypeDir}, member{name: "bzImage", kind: tar.TypeSymlink})},
			want: "the image holds no kernel image"},
		// Cut mid-file, as a connection that drops: the copy must not stand.
		{name: "truncated stream", f: &fakeBuilder{out: kernel[:1024]}, is: io.ErrUnexpectedEOF, want: "writing "},
		{name: "not a tar stream", f: &fakeBuilder{out: []byte(strings.Repeat("x", 1024))}, want: "writing "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := kernelDir(t)
			if tc.noDocker {
				if err := os.Remove(filepath.Join(dir, "Dockerfile")); err != nil {
					t.Fatal(err)
				}
			}
			out := t.TempDir()
			_, err := Build(context.Background(), tc.f, dir, "stackctl/kernel:debian", Options{Base: "debian:trixie", Out: out})
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
			if tc.noDocker && tc.f.opts.Tag != "" {
				t.Error("a directory without a Dockerfile was sent to the engine")
			}
			if left, _ := os.ReadDir(out); len(left) != 0 {
				t.Errorf("the output directory holds %v after a failure", left)
			}
		})
	}
}

// TestBuildFailsUnread: a build that fails before it reads the context
// leaves no goroutine behind writing it.
func TestBuildFailsUnread(t *testing.T) {
	before := runtime.NumGoroutine()
	f := &fakeBuilder{unread: true, buildErr: errors.New("the engine refused the build")}
	if _, err := Build(context.Background(), f, kernelDir(t), "stackctl/kernel:debian", Options{Out: t.TempDir()}); err == nil {
		t.Fatal("no error")
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the build, %d before: the context's writer is left blocked", runtime.NumGoroutine(), before)
		}
	}
}

// TestBuildReplacesSymlink: a symlink someone put where the kernel image goes
// is replaced, never followed: the file it points to keeps its content.
func TestBuildReplacesSymlink(t *testing.T) {
	out := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(out, "bzImage")); err != nil {
		t.Fatal(err)
	}
	f := &fakeBuilder{out: tarOf(t, member{name: "bzImage", kind: tar.TypeReg, body: "new kernel"})}
	res, err := Build(context.Background(), f, kernelDir(t), "stackctl/kernel:debian", Options{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me" {
		t.Errorf("the symlink's target was written: %q", b)
	}
	if fi, err := os.Lstat(res.Path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s is not a regular file now: %v, %v", res.Path, fi, err)
	}
}
