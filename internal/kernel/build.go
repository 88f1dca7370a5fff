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

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"

	"github.com/stackctl/stackctl/internal/stack"
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
}

// Result is the kernel image on the host.
type Result struct {
	Path    string
	Size    int64
	Image   string
	Elapsed time.Duration
}

// Image is the tag the kernel build gets for a profile.
func Image(p stack.Profile) string { return "stackctl/kernel:" + string(p) }

// Build builds stacks/kernel under root through the engine's builder, tags it
// image, and copies the kernel image out to o.Out.
func Build(ctx context.Context, api client.APIClient, e stack.DockerEngine, root stack.Root, image string, o Options) (Result, error) {
	start := time.Now()
	dir := filepath.Join(string(root), "stacks", "kernel")
	buildCtx, err := contextTar(dir)
	if err != nil {
		return Result{}, err
	}
	res, err := api.ImageBuild(ctx, buildCtx, client.ImageBuildOptions{
		Tags:        []string{image},
		BuildArgs:   map[string]*string{"DEBIAN_BASE": &o.Base},
		Remove:      true,
		ForceRemove: true,
		// The engine's classic builder: no BuildKit is needed, none may be installed.
		Version: build.BuilderV1,
	})
	if err != nil {
		return Result{}, fmt.Errorf("building %s: %w", image, err)
	}
	defer res.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(res.Body, o.Progress, o.FD, o.TTY, func(jsonstream.Message) {}); err != nil {
		return Result{}, fmt.Errorf("building %s: %w", image, err)
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

// contextTar is the build context: the files of dir, as a tar stream.
func contextTar(dir string) (io.Reader, error) {
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
		return nil, fmt.Errorf("%w: %v: is --root a stackctl project?", stack.ErrNotFound, err)
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
		err = stack.WriteAtomic(path, 0o644, func(w io.Writer) error {
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
