package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/errs"
)

// ImageInfo is what the domain reads back about an image.
type ImageInfo struct {
	ID     string
	Labels map[string]string
	Size   int64
	// RepoDigests are the references by digest it was pushed or pulled as
	// (REPOSITORY@sha256:…).
	RepoDigests []string
}

// Engine is stackctl's one handle on the Docker engine: every call the other
// packages make goes through it. A package whose logic can be tested without an
// engine declares the small interface it needs (basebuild.Images, stack.Engine,
// backup.Engine, theme.ImageReader, kernel.Builder) and fakes it in its tests;
// writing into volumes (package volume, restore) takes the handle itself and is
// tested end to end.
type Engine struct {
	API client.APIClient
}

// pullProbeTimeout bounds the registry probe behind CanPull.
const pullProbeTimeout = 10 * time.Second

// Ping checks that the engine answers, turning a refused or missing socket into
// errs.ErrUnavailable with the next step for the operator.
func Ping(ctx context.Context, api client.APIClient) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := api.Ping(ctx, client.PingOptions{}); err != nil {
		return fmt.Errorf("%w: cannot reach the Docker engine at %s: %v: "+
			"start it (systemctl start docker) or point DOCKER_HOST at a running one", errs.ErrUnavailable, api.DaemonHost(), err)
	}
	return nil
}

// Image returns what the engine knows of image ref; found is false when there is none.
func (e *Engine) Image(ctx context.Context, ref string) (ImageInfo, bool, error) {
	res, err := e.API.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return ImageInfo{}, false, nil
	}
	if err != nil {
		return ImageInfo{}, false, fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	info := ImageInfo{ID: res.ID, Size: res.Size, RepoDigests: res.RepoDigests}
	if res.Config != nil {
		info.Labels = res.Config.Labels
	}
	return info, true, nil
}

// ImagePresent says whether ref is in the engine's image store.
func (e *Engine) ImagePresent(ctx context.Context, ref string) (bool, error) {
	_, found, err := e.Image(ctx, ref)
	return found, err
}

// CanPull says whether ref can be pulled now, by asking the registry for the manifest, which
// answers quickly without downloading layers.
func (e *Engine) CanPull(ctx context.Context, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, pullProbeTimeout)
	defer cancel()
	_, err := e.API.DistributionInspect(ctx, ref, client.DistributionInspectOptions{})
	return err
}

// Import creates an untagged image from a root file system tar, with Dockerfile
// changes applied, and returns its ID.
func (e *Engine) Import(ctx context.Context, rootfs io.Reader, changes []string) (string, error) {
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

// Tag gives image id the reference ref.
func (e *Engine) Tag(ctx context.Context, id, ref string) error {
	if _, err := e.API.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: ref}); err != nil {
		return fmt.Errorf("tagging %s as %s: %w", id, ref, err)
	}
	return nil
}

// RemoveImage removes image id and its untagged parents.
func (e *Engine) RemoveImage(ctx context.Context, id string) error {
	_, err := e.API.ImageRemove(ctx, id, client.ImageRemoveOptions{PruneChildren: true})
	return err
}

// Untagged lists the IDs of untagged imported images carrying the label key=value.
func (e *Engine) Untagged(ctx context.Context, key, value string) ([]string, error) {
	res, err := e.API.ImageList(ctx, client.ImageListOptions{
		Filters: client.Filters{}.Add("label", key+"="+value).Add("dangling", "true"),
	})
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	var ids []string
	for _, im := range res.Items {
		// Only imports, which have no parent: images built FROM one inherit its
		// labels, and their dangling layers are not for this caller to remove.
		if im.ParentID == "" {
			ids = append(ids, im.ID)
		}
	}
	return ids, nil
}

// ImageTar returns path in image as a tar stream, read from a container that is
// created for the purpose, never started, and removed when the stream is closed.
func (e *Engine) ImageTar(ctx context.Context, image, path string) (io.ReadCloser, error) {
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

// CopyFrom returns path in a container (running or not, volumes included) as a
// tar stream whose members keep their owners, modes and times.
func (e *Engine) CopyFrom(ctx context.Context, container, path string) (io.ReadCloser, error) {
	res, err := e.API.CopyFromContainer(ctx, container, client.CopyFromContainerOptions{SourcePath: path})
	if err != nil {
		return nil, fmt.Errorf("reading %s from %.12s: %w", path, container, err)
	}
	return res.Content, nil
}

// VolumeExists says whether the engine has a volume called name.
func (e *Engine) VolumeExists(ctx context.Context, name string) (bool, error) {
	_, found, err := e.VolumeLabels(ctx, name)
	return found, err
}

// VolumeLabels returns the labels of the volume called name; found is false when there is none.
func (e *Engine) VolumeLabels(ctx context.Context, name string) (labels map[string]string, found bool, err error) {
	res, err := e.API.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("inspecting volume %s: %w", name, err)
	}
	return res.Volume.Labels, true, nil
}

// LabelledVolumes lists the names of the volumes labelled key=value, sorted.
func (e *Engine) LabelledVolumes(ctx context.Context, key, value string) ([]string, error) {
	res, err := e.API.VolumeList(ctx, client.VolumeListOptions{Filters: client.Filters{}.Add("label", key+"="+value)})
	if err != nil {
		return nil, fmt.Errorf("listing volumes labelled %s=%s: %w", key, value, err)
	}
	var names []string
	for _, v := range res.Items {
		names = append(names, v.Name)
	}
	slices.Sort(names)
	return names, nil
}

// ImageEnv returns the environment an image sets; found is false when there is no such image.
func (e *Engine) ImageEnv(ctx context.Context, ref string) (env []string, found bool, err error) {
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
func (e *Engine) ContainerImage(ctx context.Context, container string) (string, error) {
	res, err := e.API.ContainerInspect(ctx, container, client.ContainerInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspecting container %.12s: %w", container, err)
	}
	return res.Container.Image, nil
}

// ContainerRestarts is how many times the engine restarted container (its
// restart policy, after it exited), and the exit code it last exited with.
func (e *Engine) ContainerRestarts(ctx context.Context, container string) (restarts, exitCode int, err error) {
	res, err := e.API.ContainerInspect(ctx, container, client.ContainerInspectOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("inspecting container %.12s: %w", container, err)
	}
	c := res.Container
	if c.State != nil {
		exitCode = c.State.ExitCode
	}
	return c.RestartCount, exitCode, nil
}

// EnsureImage pulls ref (a reference by digest, from a registry the engine
// reaches) unless the engine has it.
func (e *Engine) EnsureImage(ctx context.Context, ref string) error {
	if ok, err := e.ImagePresent(ctx, ref); err != nil || ok {
		return err
	}
	pull, err := e.API.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err == nil {
		err = pull.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	return nil
}

// Pull pulls ref again from its registry and says whether the engine's
// image by that name changed (the tag has moved since the last pull).
func (e *Engine) Pull(ctx context.Context, ref string) (changed bool, err error) {
	before, found, err := e.Image(ctx, ref)
	if err != nil {
		return false, err
	}
	pull, err := e.API.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err == nil {
		err = pull.Wait(ctx)
	}
	if err != nil {
		return false, fmt.Errorf("%w: pulling %s: %v", errs.ErrUnavailable, ref, err)
	}
	after, _, err := e.Image(ctx, ref)
	if err != nil {
		return false, err
	}
	return !found || after.ID != before.ID, nil
}

// CreateVolume makes a new local volume called name with the driver's
// options opts and labels. One of that name already there is an error, not
// reused: the engine would hand back the existing one, data and all.
func (e *Engine) CreateVolume(ctx context.Context, name string, opts, labels map[string]string) error {
	if found, err := e.VolumeExists(ctx, name); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: volume %s is already there, and a new one is not written over an old one: remove it if nothing needs it", errs.ErrInvalidInput, name)
	}
	if _, err := e.API.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Driver: "local", DriverOpts: opts, Labels: labels}); err != nil {
		return fmt.Errorf("creating volume %s: %w", name, err)
	}
	return nil
}

// RemoveVolume removes the volume called name; one already gone is no error.
// A volume still in use is retried for a few seconds: a helper that mounted it
// for a stackctl that was killed is on its way out (its standard input closed).
func (e *Engine) RemoveVolume(ctx context.Context, name string) error {
	deadline := time.Now().Add(volumeInUseWait)
	for {
		_, err := e.API.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
		switch {
		case err == nil, cerrdefs.IsNotFound(err):
			return nil
		case cerrdefs.IsConflict(err) && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		default:
			return fmt.Errorf("removing volume %s: %w", name, err)
		}
	}
}

// RemoveContainer removes a container and its anonymous volumes, and returns
// once it is gone. One that removes itself (AutoRemove) may already be on its
// way out: the engine then answers "removal in progress", and the caller
// would otherwise go on while the container still holds its volumes.
func (e *Engine) RemoveContainer(ctx context.Context, id string) error {
	_, err := e.API.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case !cerrdefs.IsConflict(err):
		return fmt.Errorf("removing container %s: %w", id, err)
	}
	deadline := time.Now().Add(volumeInUseWait)
	for {
		_, err := e.API.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		switch {
		case cerrdefs.IsNotFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("waiting for container %s to be removed: %w", id, err)
		case time.Now().After(deadline):
			return fmt.Errorf("container %s is still being removed after %s: remove it with docker rm -f %s", id, volumeInUseWait, id)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// volumeInUseWait bounds RemoveVolume's wait for a volume's last user to go.
const volumeInUseWait = 15 * time.Second

// Host is what the engine says of the machine its containers run on.
type Host struct {
	// CPUs is its number of CPUs.
	CPUs int
	// Kernel is its kernel's release ("6.1.0-28-amd64"): what a container's sysctls can be.
	Kernel string
	// Memory is its memory in bytes.
	Memory int64
}

// Host asks the engine about the machine its containers run on.
func (e *Engine) Host(ctx context.Context) (Host, error) {
	res, err := e.API.Info(ctx, client.InfoOptions{})
	if err != nil {
		return Host{}, fmt.Errorf("asking the engine about its host: %w", err)
	}
	return Host{CPUs: res.Info.NCPU, Kernel: res.Info.KernelVersion, Memory: res.Info.MemTotal}, nil
}

// SwarmTaskContainer returns the ID of a running container of the swarm
// service named service (namespace_name) on this engine's node, or
// errs.ErrNotRunning when no task of it runs here.
func (e *Engine) SwarmTaskContainer(ctx context.Context, service string) (string, error) {
	res, err := e.API.ContainerList(ctx, client.ContainerListOptions{Filters: client.Filters{}.
		Add("label", "com.docker.swarm.service.name="+service).Add("status", "running")})
	if err != nil {
		return "", fmt.Errorf("listing the containers of swarm service %s: %w", service, err)
	}
	if len(res.Items) == 0 {
		return "", fmt.Errorf("%w: no task of swarm service %s runs on this node", errs.ErrNotRunning, service)
	}
	return res.Items[0].ID, nil
}

// Local says whether the engine runs on this host, reached through a unix
// socket: then the ports its containers publish are this host's, which
// stackctl can try before it asks the engine to publish on them.
func (e *Engine) Local() bool {
	return strings.HasPrefix(e.API.DaemonHost(), "unix://")
}

// PublishedBy names the running containers that publish port (TCP) on host
// of the engine's machine, or on every address when either is one.
func (e *Engine) PublishedBy(ctx context.Context, host string, port int) ([]string, error) {
	want, err := netip.ParseAddr(host)
	if err != nil {
		return nil, nil
	}
	res, err := e.API.ContainerList(ctx, client.ContainerListOptions{Filters: client.Filters{}.Add("status", "running")})
	if err != nil {
		return nil, fmt.Errorf("listing the containers publishing port %d: %w", port, err)
	}
	var out []string
	for _, c := range res.Items {
		if len(c.Names) == 0 {
			continue
		}
		if slices.ContainsFunc(c.Ports, func(p container.PortSummary) bool {
			return int(p.PublicPort) == port && p.Type == "tcp" &&
				(p.IP == want || !p.IP.IsValid() || p.IP.IsUnspecified() || want.IsUnspecified())
		}) {
			out = append(out, strings.TrimPrefix(c.Names[0], "/"))
		}
	}
	return out, nil
}
