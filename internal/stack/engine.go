package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// ImageInfo is what the domain reads back about an image.
type ImageInfo struct {
	ID     string
	Labels map[string]string
	Size   int64
}

// Engine is the handful of image operations the domain needs from the Docker
// engine; unit tests use a fake, the end-to-end tests the real thing.
type Engine interface {
	Availability
	// Image returns the image ref names; found is false when there is none.
	Image(ctx context.Context, ref string) (info ImageInfo, found bool, err error)
	// Import creates an untagged image from a root file system tar and returns its ID.
	Import(ctx context.Context, rootfs io.Reader, changes []string) (string, error)
	Tag(ctx context.Context, id, ref string) error
	Remove(ctx context.Context, id string) error
	// Untagged lists the IDs of untagged images carrying the label key=value.
	Untagged(ctx context.Context, key, value string) ([]string, error)
	// Exec runs cmd in a running container with stdin attached, and returns its
	// combined output; a non-zero exit is an error that includes that output.
	Exec(ctx context.Context, container string, cmd []string, stdin io.Reader) (string, error)
	// ImageTar returns path in image as a tar stream.
	ImageTar(ctx context.Context, image, path string) (io.ReadCloser, error)
}

// DockerEngine is Engine over the Docker API client.
type DockerEngine struct {
	API client.APIClient
	// PullProbeTimeout bounds the registry probe behind CanPull.
	PullProbeTimeout time.Duration
	// NoPipe makes an Extractor write through the engine's archive API even
	// where the engine could read a pipe on this host: the way a remote engine is
	// written to, which a test on a local engine reaches no other way.
	NoPipe bool
}

var _ Engine = DockerEngine{}

// Ping checks that the engine answers, turning a refused or missing socket into
// ErrUnavailable with the next step for the operator.
func Ping(ctx context.Context, api client.APIClient) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := api.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("%w: cannot reach the Docker engine at %s: %v: "+
			"start it (systemctl start docker) or point DOCKER_HOST at a running one", ErrUnavailable, api.DaemonHost(), err)
	}
	return nil
}

// Image implements Engine.
func (e DockerEngine) Image(ctx context.Context, ref string) (ImageInfo, bool, error) {
	res, err := e.API.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return ImageInfo{}, false, nil
	}
	if err != nil {
		return ImageInfo{}, false, fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	info := ImageInfo{ID: res.ID, Size: res.Size}
	if res.Config != nil {
		info.Labels = res.Config.Labels
	}
	return info, true, nil
}

// ImagePresent implements Availability.
func (e DockerEngine) ImagePresent(ctx context.Context, ref string) (bool, error) {
	_, found, err := e.Image(ctx, ref)
	return found, err
}

// CanPull implements Availability by asking the registry for the manifest, which
// answers quickly without downloading layers.
func (e DockerEngine) CanPull(ctx context.Context, ref string) error {
	timeout := e.PullProbeTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := e.API.DistributionInspect(ctx, ref, client.DistributionInspectOptions{})
	return err
}

// Import implements Engine.
func (e DockerEngine) Import(ctx context.Context, rootfs io.Reader, changes []string) (string, error) {
	res, err := e.API.ImageImport(ctx, client.ImageImportSource{Source: rootfs, SourceName: "-"}, "",
		client.ImageImportOptions{Changes: changes})
	if err != nil {
		return "", fmt.Errorf("importing image: %w", err)
	}
	defer res.Close()
	var id string
	dec := json.NewDecoder(res)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("importing image: reading the engine's answer: %w", err)
		}
		if m.Error != nil {
			return "", fmt.Errorf("importing image: %s", m.Error.Message)
		}
		if m.Status != "" {
			id = m.Status // the import stream ends with the new image's ID
		}
	}
	if id == "" {
		return "", errors.New("importing image: the engine reported no image ID")
	}
	return id, nil
}

// Tag implements Engine.
func (e DockerEngine) Tag(ctx context.Context, id, ref string) error {
	if _, err := e.API.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: ref}); err != nil {
		return fmt.Errorf("tagging %s as %s: %w", id, ref, err)
	}
	return nil
}

// Remove implements Engine.
func (e DockerEngine) Remove(ctx context.Context, id string) error {
	_, err := e.API.ImageRemove(ctx, id, client.ImageRemoveOptions{PruneChildren: true})
	return err
}

// Untagged implements Engine.
func (e DockerEngine) Untagged(ctx context.Context, key, value string) ([]string, error) {
	res, err := e.API.ImageList(ctx, client.ImageListOptions{
		Filters: client.Filters{}.Add("label", key+"="+value).Add("dangling", "true"),
	})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	ids := make([]string, len(res.Items))
	for i, im := range res.Items {
		ids[i] = im.ID
	}
	return ids, nil
}

// Exec implements Engine.
func (e DockerEngine) Exec(ctx context.Context, container string, cmd []string, stdin io.Reader) (string, error) {
	created, err := e.API.ExecCreate(ctx, container, client.ExecCreateOptions{
		Cmd: cmd, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return "", fmt.Errorf("exec in %.12s: %w", container, err)
	}
	att, err := e.API.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return "", fmt.Errorf("exec in %.12s: %w", container, err)
	}
	defer att.Close()
	if stdin != nil {
		go func() {
			_, _ = io.Copy(att.Conn, stdin)
			_ = att.CloseWrite()
		}()
	}
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		return out.String(), fmt.Errorf("exec in %.12s: reading output: %w", container, err)
	}
	res, err := e.API.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return out.String(), fmt.Errorf("exec in %.12s: %w", container, err)
	}
	if res.ExitCode != 0 {
		return out.String(), fmt.Errorf("%s exited with %d: %s", cmd[0], res.ExitCode, lastLines(out.String(), 15))
	}
	return out.String(), nil
}

// lastLines keeps the end of a long tool output for an error message.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ImageTar returns path in image as a tar stream, read from a container that is
// created for the purpose, never started, and removed when the stream is closed.
func (e DockerEngine) ImageTar(ctx context.Context, image, path string) (io.ReadCloser, error) {
	created, err := e.API.ContainerCreate(ctx, client.ContainerCreateOptions{
		// The entrypoint never runs; it only spares the create from needing a command.
		Image: image, Config: &container.Config{Entrypoint: []string{"/nonexistent"}},
	})
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", image, err)
	}
	remove := func() {
		// With its anonymous volumes: an image that declares a VOLUME (Redmine's
		// files/) gets one with every container, and nothing else would remove it.
		_, _ = e.API.ContainerRemove(context.WithoutCancel(ctx), created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
	res, err := e.API.CopyFromContainer(ctx, created.ID, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		remove()
		return nil, err
	}
	return &closeFunc{ReadCloser: res.Content, after: remove}, nil
}

// closeFunc runs after once its reader is closed.
type closeFunc struct {
	io.ReadCloser
	after func()
}

func (c *closeFunc) Close() error {
	err := c.ReadCloser.Close()
	c.after()
	return err
}

// ExecStream runs cmd in a running container, streaming stdin (when not nil) in
// and its standard output to stdout; a non-zero exit is an error carrying the
// end of its standard error. For data too large to hold, such as a database dump.
func (e DockerEngine) ExecStream(ctx context.Context, container string, cmd []string, stdin io.Reader, stdout io.Writer) error {
	created, err := e.API.ExecCreate(ctx, container, client.ExecCreateOptions{
		Cmd: cmd, AttachStdin: stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("exec in %.12s: %w", container, err)
	}
	att, err := e.API.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("exec in %.12s: %w", container, err)
	}
	// The feeding goroutine reads the caller's stdin: it must not outlive this
	// call, whatever way the call ends. Closing the connection ends it.
	var inErr error
	inDone := make(chan struct{})
	if stdin != nil {
		go func() {
			defer close(inDone)
			_, inErr = io.Copy(att.Conn, stdin)
			_ = att.CloseWrite()
		}()
	} else {
		close(inDone)
	}
	defer func() {
		att.Close()
		<-inDone
	}()
	// Once attached, the engine's connection no longer watches ctx: close it on
	// cancellation (Ctrl-C), which ends the copy and, through a broken pipe, the program.
	stop := context.AfterFunc(ctx, func() { att.Close() })
	defer stop()
	var stderr bytes.Buffer
	_, copyErr := stdcopy.StdCopy(stdout, &stderr, att.Reader)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s in %.12s: %w", cmd[0], container, err)
	}
	if copyErr != nil {
		return fmt.Errorf("%s in %.12s: %w", cmd[0], container, copyErr)
	}
	<-inDone
	res, err := e.API.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("exec in %.12s: %w", container, err)
	}
	// The program's own failure first: a broken pipe on its input is only its consequence.
	if res.ExitCode != 0 {
		return fmt.Errorf("%s exited with %d: %s", cmd[0], res.ExitCode, lastLines(stderr.String(), 15))
	}
	if inErr != nil {
		return fmt.Errorf("%s in %.12s: feeding its input: %w", cmd[0], container, inErr)
	}
	return nil
}

// CopyFrom returns path in a container (running or not, volumes included) as a
// tar stream whose members keep their owners, modes and times.
func (e DockerEngine) CopyFrom(ctx context.Context, container, path string) (io.ReadCloser, error) {
	res, err := e.API.CopyFromContainer(ctx, container, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, fmt.Errorf("reading %s from %.12s: %w", path, container, err)
	}
	return res.Content, nil
}

// VolumeExists says whether the engine has a volume called name.
func (e DockerEngine) VolumeExists(ctx context.Context, name string) (bool, error) {
	_, err := e.API.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspecting volume %s: %w", name, err)
	}
	return true, nil
}

// ImageEnv returns the environment an image sets; found is false when there is no such image.
func (e DockerEngine) ImageEnv(ctx context.Context, ref string) (env []string, found bool, err error) {
	res, err := e.API.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	if res.Config == nil {
		return nil, true, nil
	}
	return res.Config.Env, true, nil
}

// ContainerImage returns the image ID a container runs.
func (e DockerEngine) ContainerImage(ctx context.Context, container string) (string, error) {
	res, err := e.API.ContainerInspect(ctx, container, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspecting container %.12s: %w", container, err)
	}
	return res.Container.Image, nil
}
