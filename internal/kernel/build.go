package kernel

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
)

// imagePath is where stacks/kernel/Dockerfile leaves the kernel image.
const imagePath = "/out/bzImage"

// Options say where and on what the kernel is built.
type Options struct {
	// Base is the image the build starts FROM: debian:trixie or stackctl's twin.
	Base string
	// Out is the directory the kernel image is written to.
	Out string
	// Progress receives the build's output.
	Progress io.Writer
	TTY      bool
	FD       uintptr
	// HostMemory is the memory of the engine's host, in bytes: it decides
	// whether the sources are built in memory (see treeInMemory).
	HostMemory int64
}

// treeInMemory is the /dev/shm the build step is given to unpack and build
// the sources in (stacks/kernel/Dockerfile uses it when it has 2 GiB), when
// the engine's host has at least four times as much memory; else the step
// works in its own file system, through the storage driver. A size limit,
// not a reservation: the step holds about 1.5 GB there while it runs.
const treeInMemory = 3 << 30

// shmSize is the /dev/shm to ask for on a host with mem bytes of memory.
func shmSize(mem int64) int64 {
	if mem >= 4*treeInMemory {
		return treeInMemory
	}
	return 0
}

// Result is the kernel image on the host.
type Result struct {
	Path    string
	Size    int64
	Image   string
	Elapsed time.Duration
}

// Image is the tag the kernel build gets for a profile.
func Image(p catalog.Profile) string { return "stackctl/kernel:" + string(p) }

// Builder is what a kernel build needs from the engine.
type Builder interface {
	BuildImage(ctx context.Context, buildContext io.Reader, o engine.BuildOptions) error
	ImageTar(ctx context.Context, image, path string) (io.ReadCloser, error)
}

// Build builds the Dockerfile in dir (stacks/kernel of a checkout) through the
// engine's builder, tags it image, and copies the kernel image out to o.Out.
func Build(ctx context.Context, e Builder, dir, image string, o Options) (Result, error) {
	start := time.Now()
	buildCtx, err := contextTar(dir)
	if err != nil {
		return Result{}, err
	}
	// An engine that fails before it read the whole context leaves the
	// writer blocked on the pipe: closing it ends the writer.
	defer buildCtx.Close()
	err = e.BuildImage(ctx, buildCtx, engine.BuildOptions{
		Tag: image, Args: map[string]*string{"DEBIAN_BASE": &o.Base}, Progress: o.Progress, TTY: o.TTY, FD: o.FD,
		ShmSize: shmSize(o.HostMemory),
	})
	if err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return Result{}, err
	}
	rc, err := e.ImageTar(ctx, image, imagePath)
	if err != nil {
		return Result{}, fmt.Errorf("reading %s from %s: %w", imagePath, image, err)
	}
	defer rc.Close()
	path := filepath.Join(o.Out, filepath.Base(imagePath))
	size, err := extractOne(rc, path)
	if err != nil {
		return Result{}, fmt.Errorf("writing %s: %w", path, err)
	}
	return Result{Path: path, Size: size, Image: image, Elapsed: time.Since(start)}, nil
}

// contextTar is the build context: the files of dir, as a tar stream
// written as it is read, until it is closed.
func contextTar(dir string) (io.ReadCloser, error) {
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
		return nil, fmt.Errorf("%w: %v: is --root a stackctl project?", errs.ErrNotFound, err)
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.AddFS(os.DirFS(dir))
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// extractOne writes the one regular file of a tar stream to path, under a
// temporary name first so that a failed copy leaves no partial kernel.
func extractOne(r io.Reader, path string) (int64, error) {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return 0, errors.New("the image holds no kernel image")
		}
		if err != nil {
			return 0, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// A fresh temporary name of our own (never a file or symlink someone
		// else put in the output directory, nor another run's), renamed when whole.
		var n int64
		err = atomicfile.Write(path, 0o644, func(w io.Writer) error {
			var err error
			n, err = io.Copy(w, tr)
			return err
		})
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}
