package engine

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/errs"
)

// VolumeUsage is what a volume holds.
type VolumeUsage struct {
	// Bytes is the apparent size of its files, directories included.
	Bytes int64
	// Empty says it holds nothing at all.
	Empty bool
}

// usageScript prints, for each directory given, its apparent size in bytes
// and whether it holds anything (GNU du and find, as the Debian-based images have).
const usageScript = `for d; do printf '%s %s %s\n' "$d" "$(du -sbx "$d" | cut -f1)" "$(find "$d" -mindepth 1 -print -quit | wc -l)"; done`

// VolumeUsage measures the volumes named (which must exist) from a throwaway
// container of image (one with GNU du, such as the Redmine image) that mounts
// them read-only, with no network and only the capability to read what it
// finds. Asking the engine ('docker system df') walks every image, container
// and volume it has, and took 8 to 10 s here; this takes about one.
func (e *Engine) VolumeUsage(ctx context.Context, image string, names []string) (map[string]VolumeUsage, error) {
	if len(names) == 0 {
		return map[string]VolumeUsage{}, nil
	}
	var mounts []mount.Mount
	var dirs []string
	for i, name := range names {
		dir := path.Join("/volumes", strconv.Itoa(i))
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: name, Target: dir, ReadOnly: true})
		dirs = append(dirs, dir)
	}
	created, err := e.API.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{
			Image: image, User: "0", Entrypoint: []string{"sh", "-c", usageScript, "usage"}, Cmd: dirs,
			AttachStdout: true, AttachStderr: true,
			Labels: map[string]string{"io.stackctl.helper": "usage"},
		},
		HostConfig: &container.HostConfig{
			// Removed by the engine when it exits, with its anonymous volumes (an
			// image's VOLUME gets one with every container): a stackctl killed
			// meanwhile leaves nothing that holds the volumes.
			AutoRemove: true, NetworkMode: "none", Mounts: mounts,
			CapDrop: []string{"ALL"}, CapAdd: []string{"DAC_READ_SEARCH"}, SecurityOpt: []string{"no-new-privileges:true"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("measuring volumes with %s: %w", image, err)
	}
	att, err := e.API.ContainerAttach(ctx, created.ID, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		_, _ = e.API.ContainerRemove(context.WithoutCancel(ctx), created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		return nil, fmt.Errorf("measuring volumes: %w", err)
	}
	defer att.Close()
	wait := e.API.ContainerWait(ctx, created.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := e.API.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		_, _ = e.API.ContainerRemove(context.WithoutCancel(ctx), created.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		return nil, fmt.Errorf("measuring volumes: %w", err)
	}
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, att.Reader); err != nil {
		return nil, fmt.Errorf("measuring volumes: %w", err)
	}
	var code int64
	select {
	case res := <-wait.Result:
		code = res.StatusCode
	case err := <-wait.Error:
		return nil, fmt.Errorf("measuring volumes: %w", err)
	}
	if code != 0 {
		return nil, fmt.Errorf("measuring volumes: du exited with %d: %s", code, errs.LastLines(stderr.String(), 5))
	}
	out := map[string]VolumeUsage{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("measuring volumes: du printed %q", line)
		}
		i, err1 := strconv.Atoi(path.Base(f[0]))
		n, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || i < 0 || i >= len(names) {
			return nil, fmt.Errorf("measuring volumes: du printed %q", line)
		}
		out[names[i]] = VolumeUsage{Bytes: n, Empty: f[2] == "0"}
	}
	return out, nil
}
