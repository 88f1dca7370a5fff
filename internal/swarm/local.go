package swarm

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/cli/cli/compose/convert"
	composetypes "github.com/docker/cli/cli/compose/types"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/engine"
)

// restoreLabel marks a container RunLocal made, with its namespace.
const restoreLabel = "org.stackctl.swarm-local"

// LocalName is the name of the container RunLocal runs as a stack's service
// for generation gen on one node: the one way to find it again.
func LocalName(namespace, service string, gen int) string {
	return convert.NewNamespace(namespace).Scope(service) + "-g" + strconv.Itoa(gen) + "-restore"
}

// Local is a container run on one node's engine as a service of a stack
// would run there, on other volumes: a restore's PostgreSQL, filled before
// the swarm's service is pointed at its data.
type Local struct {
	e    *engine.Engine
	ID   string
	name string
	hc   *composetypes.HealthCheckConfig
	// stop is the service's stop signal and grace period.
	signal string
	grace  time.Duration
}

// RunLocal starts, on the engine e (a node's), a container of dep's service
// as its tasks run: its image, user, command, environment and secrets (copied
// in as files before it starts: in no environment, argument or inspect
// output), its volumes replaced by the named ones in volumes (key → engine
// name), with no network. A container of the same name left by a stopped
// stackctl is removed first.
func RunLocal(ctx context.Context, e *engine.Engine, dep Deployment, service string, gen int, volumes map[string]string) (*Local, error) {
	svc, ok := serviceConfig(dep.Config, service)
	if !ok {
		return nil, fmt.Errorf("stack file of %s has no service %s", dep.Namespace, service)
	}
	name := LocalName(dep.Namespace, service, gen)
	if err := RemoveLocal(ctx, e, name); err != nil {
		return nil, err
	}
	var mounts []mount.Mount
	for _, v := range svc.Volumes {
		if v.Type != "volume" {
			continue
		}
		src, ok := volumes[v.Source]
		if !ok {
			return nil, fmt.Errorf("no volume given for %s's %s", service, v.Source)
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: src, Target: v.Target})
	}
	env := make([]string, 0, len(svc.Environment))
	for k, v := range svc.Environment {
		if v != nil {
			env = append(env, k+"="+*v)
		}
	}
	slices.Sort(env)
	cfg := &container.Config{
		Image: svc.Image, User: svc.User, Env: env, Cmd: svc.Command, Entrypoint: svc.Entrypoint,
		Labels: map[string]string{restoreLabel: dep.Namespace}, StopSignal: svc.StopSignal,
	}
	host := &container.HostConfig{NetworkMode: "none", Mounts: mounts, CapAdd: svc.CapAdd, CapDrop: svc.CapDrop}
	created, err := e.API.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: cfg, HostConfig: host})
	if err != nil {
		return nil, fmt.Errorf("creating %s from %s on the data node: %w", name, svc.Image, err)
	}
	l := &Local{e: e, ID: created.ID, name: name, hc: svc.HealthCheck, signal: svc.StopSignal, grace: time.Minute}
	if svc.StopGracePeriod != nil {
		l.grace = time.Duration(*svc.StopGracePeriod)
	}
	files, err := taskFiles(dep, svc)
	if err == nil {
		_, err = e.API.CopyToContainer(ctx, created.ID, client.CopyToContainerOptions{DestinationPath: "/", Content: bytes.NewReader(files)})
	}
	if err == nil {
		_, err = e.API.ContainerStart(ctx, created.ID, client.ContainerStartOptions{})
	}
	if err != nil {
		_ = RemoveLocal(context.WithoutCancel(ctx), e, name)
		return nil, fmt.Errorf("starting %s on the data node: %w", name, err)
	}
	return l, nil
}

// taskFiles is a tar of svc's secrets and configs where its tasks find
// them (a secret in /run/secrets/<target>, a config at its target, else
// /<name>), owned and moded as the stack file says: a container run alone
// has no Swarm to mount them.
func taskFiles(dep Deployment, svc composetypes.ServiceConfig) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, s := range svc.Secrets {
		obj, declared := dep.Config.Secrets[s.Source]
		if err := writeTaskFile(tw, "secret", composetypes.FileReferenceConfig(s), obj.Name, declared, dep.Secrets, "/run/secrets"); err != nil {
			return nil, err
		}
	}
	for _, c := range svc.Configs {
		obj, declared := dep.Config.Configs[c.Source]
		if err := writeTaskFile(tw, "config", composetypes.FileReferenceConfig(c), obj.Name, declared, dep.Configs, "/"); err != nil {
			return nil, err
		}
	}
	// No directory entries: the engine makes missing parents root's, 0755,
	// as Swarm makes /run/secrets.
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeTaskFile writes into tw the secret or config (kind) f refers to, by
// its Swarm name (declared: the stack file declares it), with its content
// from contents, at its target, relative to dir when not absolute.
func writeTaskFile(tw *tar.Writer, kind string, f composetypes.FileReferenceConfig, name string, declared bool, contents map[string][]byte, dir string) error {
	if !declared {
		return fmt.Errorf("%s %s is not declared", kind, f.Source)
	}
	content, ok := contents[name]
	if !ok {
		return fmt.Errorf("%s %s (%s) has no content", kind, f.Source, name)
	}
	target := f.Target
	if target == "" {
		target = f.Source
	}
	if !path.IsAbs(target) {
		target = path.Join(dir, target)
	}
	uid, _ := strconv.Atoi(f.UID)
	gid, _ := strconv.Atoi(f.GID)
	mode := int64(0o444)
	if f.Mode != nil {
		mode = int64(*f.Mode)
	}
	if err := tw.WriteHeader(&tar.Header{Name: target[1:], Mode: mode, Uid: uid, Gid: gid, Size: int64(len(content)), ModTime: time.Now()}); err != nil {
		return err
	}
	_, err := tw.Write(content)
	return err
}

// WaitHealthy runs the service's health check in the container until it
// passes, the container stops, or timeout passes; the error then carries
// the end of its log (the container is removed after).
func (l *Local) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	var cmd []string
	if l.hc != nil && len(l.hc.Test) > 1 {
		switch l.hc.Test[0] {
		case "CMD":
			cmd = l.hc.Test[1:]
		case "CMD-SHELL":
			cmd = []string{"/bin/sh", "-c", l.hc.Test[1]}
		}
	}
	if cmd == nil {
		return fmt.Errorf("%s's service has no health check to wait on", l.name)
	}
	each := 30 * time.Second
	if l.hc.Timeout != nil && *l.hc.Timeout > 0 {
		each = time.Duration(*l.hc.Timeout)
	}
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ins, err := l.e.API.ContainerInspect(ctx, l.ID, client.ContainerInspectOptions{})
		if err != nil {
			return err
		}
		if s := ins.Container.State; s == nil || !s.Running {
			return fmt.Errorf("%s stopped before it was healthy; the end of its log:\n%s", l.name, l.logTail(ctx))
		}
		cctx, cancel := context.WithTimeout(ctx, each)
		last = l.e.Exec(cctx, l.ID, cmd, engine.ExecOptions{})
		cancel()
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s: %w; the end of its log:\n%s", l.name, timeout, last, l.logTail(ctx))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// logTail is the end of the container's log, for an error.
func (l *Local) logTail(ctx context.Context) string {
	rc, err := l.e.API.ContainerLogs(ctx, l.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return out.String()
}

// Stop stops the container as Swarm stops its service's tasks (its stop
// signal, then its grace period), so that PostgreSQL shuts down cleanly,
// and removes it; its volumes stay.
func (l *Local) Stop(ctx context.Context) error {
	secs := int(l.grace / time.Second)
	if _, err := l.e.API.ContainerStop(ctx, l.ID, client.ContainerStopOptions{Signal: l.signal, Timeout: &secs}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("stopping %s on the data node: %w", l.name, err)
	}
	if _, err := l.e.API.ContainerRemove(ctx, l.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing %s on the data node: %w", l.name, err)
	}
	return nil
}

// RemoveLocal removes the container named name, if there is one.
func RemoveLocal(ctx context.Context, e *engine.Engine, name string) error {
	if _, err := e.API.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("removing %s on the data node: %w", name, err)
	}
	return nil
}

// serviceConfig is the service of cfg named name.
func serviceConfig(cfg *composetypes.Config, name string) (composetypes.ServiceConfig, bool) {
	for _, s := range cfg.Services {
		if s.Name == name {
			return s, true
		}
	}
	return composetypes.ServiceConfig{}, false
}
