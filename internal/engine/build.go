package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
)

// BuildOptions say what BuildImage builds and where its output goes.
type BuildOptions struct {
	Tag  string
	Args map[string]*string
	// Progress receives the build's output, as a live display when TTY is set
	// (FD is then the terminal's descriptor).
	Progress io.Writer
	TTY      bool
	FD       uintptr
	// ShmSize is the size of /dev/shm in the containers of the build's steps
	// (the engine's 64 MiB when 0): a memory file system a step can work in
	// away from the storage driver.
	ShmSize int64
}

// BuildImage builds the Dockerfile at the root of buildContext (a tar stream)
// with the engine's classic builder and tags the result o.Tag. For images built
// outside a compose project; the Compose SDK builds the stacks' own.
func (e *Engine) BuildImage(ctx context.Context, buildContext io.Reader, o BuildOptions) error {
	res, err := e.API.ImageBuild(ctx, buildContext, client.ImageBuildOptions{
		Tags:        []string{o.Tag},
		BuildArgs:   o.Args,
		Remove:      true,
		ForceRemove: true,
		ShmSize:     o.ShmSize,
		// No BuildKit is needed, none may be installed.
		Version: build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("building %s: %w", o.Tag, err)
	}
	defer res.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(res.Body, o.Progress, o.FD, o.TTY, func(jsonstream.Message) {}); err != nil {
		return fmt.Errorf("building %s: %w", o.Tag, err)
	}
	return nil
}
