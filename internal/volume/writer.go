package volume

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/engine"
)

// MountRoot is where a Writer's helper mounts the volumes it writes: volume key K
// (its name in the compose file) at MountRoot/K.
const MountRoot = "/restore"

// LabelHelper marks the throwaway containers stackctl runs beside a stack.
const LabelHelper = "io.stackctl.helper"

// fifoMount is where the helper sees the host directory holding its pipe.
const fifoMount = "/stackctl-in"

// fSetPipeSize is Linux's F_SETPIPE_SZ, which package syscall does not name.
const fSetPipeSize = 1031

// fifoWait bounds how long a helper may take to open the pipe before stackctl
// decides the engine cannot see it (a remote engine, a VM's file sharing).
const fifoWait = 10 * time.Second

// A Writer writes tar streams into a stack's named volumes. A helper
// container mounts them: one of the stack's own images, run as root (so that
// owners, modes and times are the stream's), with no network, the volumes
// under MountRoot. The image must have GNU tar: the Redmine stack's
// Debian-based images have it in both profiles.
//
// Three ways, the fastest that works (BenchmarkVolumeWriter in e2e measures
// them): stackctl writes the volumes' directories itself (see openDirect);
// else, with the engine on this host, the stream goes through a named pipe in
// a directory bind-mounted into the helper, read by tar there; else through
// the engine's archive API (what 'docker cp' uses). Whether the engine sees
// the directory or the pipe is found out, not assumed: with a remote engine
// the bind mount fails, and a pipe the helper cannot open makes tar fail or
// never open it; either way nothing was written yet and the next way takes over.
type Writer struct {
	e  *engine.Engine
	id string
	// roots are the volumes' directories by key, when stackctl writes them
	// itself (see openDirect); nil otherwise.
	roots map[string]*os.Root
	// dir holds the pipe; empty once the pipe is known not to work.
	dir string
	// stdin is the helper's attached standard input: the helper lives as long as it is open.
	stdin  client.HijackedResponse
	closed bool
}

// Options change how a Writer reaches the volumes.
type Options struct {
	// ArchiveAPI writes through the engine's archive API even where the engine
	// could read a pipe on this host: the way a remote engine is written to.
	ArchiveAPI bool
	// NoDirect writes through the helper (a pipe, or the archive API) even
	// where stackctl could write into the volumes' directories itself.
	NoDirect bool
}

// StartWriter starts a helper from image with the engine volumes named in
// volumes (compose key → engine name) mounted; Close removes it. The helper
// reads its standard input until stackctl closes it or dies, then exits and is
// removed by the engine: a killed stackctl leaves no container holding volumes.
func StartWriter(ctx context.Context, e *engine.Engine, image string, volumes map[string]string, stackName string, o Options) (*Writer, error) {
	var mounts []mount.Mount
	for key, name := range volumes {
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: name, Target: path.Join(MountRoot, key)})
	}
	cfg := &container.Config{
		Image: image, User: "0", Entrypoint: []string{"cat"}, Cmd: []string{},
		OpenStdin: true, StdinOnce: true, AttachStdin: true,
		Labels: map[string]string{LabelHelper: "extract", "io.stackctl.stack": stackName},
	}
	host := &container.HostConfig{
		AutoRemove: true, NetworkMode: "none",
		// What tar needs as root to give every file the owner, mode and times it
		// had; no MKNOD or FSETID: archives with device nodes or setuid and setgid
		// bits are refused before they get here (archive.Gate).
		CapDrop:     []string{"ALL"},
		CapAdd:      []string{"CHOWN", "DAC_OVERRIDE", "FOWNER"},
		SecurityOpt: []string{"no-new-privileges:true"},
	}
	x := &Writer{e: e}
	if !o.ArchiveAPI {
		if dir, err := pipeDir(); err == nil {
			host.Mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: dir, Target: fifoMount, ReadOnly: true})
			if created, err := e.API.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: host}); err == nil {
				x.id, x.dir = created.ID, dir
			} else {
				// A remote engine has no such directory: use the archive API.
				os.RemoveAll(dir)
			}
		}
	}
	if x.id == "" {
		host.Mounts = mounts
		created, err := e.API.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: host})
		if err != nil {
			return nil, fmt.Errorf("creating a helper from %s to write volumes: %w", image, err)
		}
		x.id = created.ID
	}
	att, err := e.API.ContainerAttach(ctx, x.id, client.ContainerAttachOptions{Stream: true, Stdin: true})
	if err != nil {
		x.Close()
		return nil, fmt.Errorf("attaching to the volume helper: %w", err)
	}
	x.stdin = att.HijackedResponse
	if _, err := e.API.ContainerStart(ctx, x.id, client.ContainerStartOptions{}); err != nil {
		x.Close()
		return nil, fmt.Errorf("starting a helper from %s to write volumes: %w", image, err)
	}
	if !o.ArchiveAPI && !o.NoDirect {
		x.roots = openDirect(ctx, e, x.id, volumes)
	}
	return x, nil
}

// pipeDir makes a private temporary directory holding the named pipe "in".
func pipeDir() (string, error) {
	dir, err := os.MkdirTemp("", "stackctl-restore-")
	if err != nil {
		return "", err
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "in"), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// Piped says whether writes go through the pipe rather than the archive API.
func (x *Writer) Piped() bool { return x.dir != "" }

// Direct says whether stackctl writes into the volumes' directories itself.
func (x *Writer) Direct() bool { return x.roots != nil }

// WriteVolume writes one volume's tar stream, named relative to its root,
// into volume key: its members, and its root ("./") too, so that it gets its
// owner and mode. Every member passes archive's gate within limit (a member
// that would pass it is refused before a byte of it is written: an
// *archive.RoomError when it is limit.Disk), whichever way writes it:
// straight from the gate into the volume's directory, or through the pipe or
// the archive API as archive.Retar wrote it.
func (x *Writer) WriteVolume(ctx context.Context, key string, content io.Reader, limit archive.Limit) error {
	if f, ok := x.volumeFiles(key); ok {
		err := archive.EachMember(content, limit, func(hdr *tar.Header, r io.Reader) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return f.Write(hdr, r)
		})
		if err != nil {
			return err
		}
		return f.Close()
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	var rerr error
	go func() {
		defer close(done)
		rerr = archive.Retar(pw, content, "./", key+"/", limit)
		pw.CloseWithError(rerr)
	}()
	err := x.WriteTar(ctx, pr)
	pr.CloseWithError(err)
	// Retar reads content: it must be done before the caller reads on.
	<-done
	// The stream's own fault first: tar's complaint about it cut short is its consequence.
	if rerr != nil && !errors.Is(rerr, io.ErrClosedPipe) {
		return rerr
	}
	return err
}

// WriteTar writes content, a tar stream whose members are named under the
// volumes' keys ("redmine-files/…"), into the volumes. Written directly, each
// member passes its volume's gate; through the pipe or the archive API the
// stream goes as it is: WriteVolume gives it one that Retar wrote.
func (x *Writer) WriteTar(ctx context.Context, content io.Reader) error {
	if x.roots != nil {
		if err := x.extract(ctx, content); err != nil {
			return fmt.Errorf("writing into the volumes: %w", err)
		}
		return nil
	}
	if x.dir != "" {
		done, err := x.writePiped(ctx, content)
		if done || ctx.Err() != nil {
			return err
		}
		// The helper never read the pipe: nothing was written. Do without it.
		os.RemoveAll(x.dir)
		x.dir = ""
	}
	_, err := x.e.API.CopyToContainer(ctx, x.id, copyOptions(content))
	if err != nil {
		return fmt.Errorf("writing into the volumes: %w", err)
	}
	return nil
}

// copyOptions are the archive API's for content. A directory replaces a file
// or a symlink of its name, as it does with GNU tar: the gate lets nothing but
// a directory follow a directory, and the volumes written are new, so nothing
// else is replaced.
func copyOptions(content io.Reader) client.CopyToContainerOptions {
	return client.CopyToContainerOptions{DestinationPath: MountRoot, Content: content, AllowOverwriteDirWithFile: true}
}

// tarCommand is GNU tar extracting the tar stream in file into dir, as the
// helper runs it: owners by number, as root keeps them with their modes.
// 1 MiB records, reassembled from the pipe's short reads (-B), not tar's
// default 10 KiB: a GiB is then a thousand reads, not a hundred thousand.
func tarCommand(file, dir string) []string {
	return []string{"tar", "-x", "--numeric-owner", "-B", "-b", "2048", "-f", file, "-C", dir}
}

// writePiped runs tar in the helper on the pipe and feeds it content. done is
// false when tar did not open the pipe, having read nothing of content.
func (x *Writer) writePiped(ctx context.Context, content io.Reader) (done bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := tarCommand(path.Join(fifoMount, "in"), MountRoot)
	exited := make(chan error, 1)
	go func() { exited <- x.e.Exec(ctx, x.id, cmd, engine.ExecOptions{}) }()
	pipe, err := openPipe(ctx, filepath.Join(x.dir, "in"), exited)
	if err != nil {
		return false, err
	}
	// A pipe of 1 MiB (Linux's default is 64 KiB) and writes as large: fewer
	// wake-ups of tar and of this side on the way through.
	// (Through the raw connection: Fd would make the descriptor blocking.) A
	// kernel that refuses keeps the default, which only costs time.
	if rc, err := pipe.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { _, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, 1<<20) })
	}
	_, werr := io.CopyBuffer(pipe, content, make([]byte, 1<<20))
	cerr := pipe.Close()
	// tar's own failure first: a broken pipe on the way in is only its consequence.
	if err := <-exited; err != nil {
		return true, fmt.Errorf("writing into the volumes: %w", err)
	}
	if werr != nil {
		return true, fmt.Errorf("writing into the volumes: %w", werr)
	}
	return true, cerr
}

// openPipe opens the named pipe at p for writing once a reader has it open,
// giving up when the reader's program ends first, or after fifoWait.
func openPipe(ctx context.Context, p string, exited <-chan error) (*os.File, error) {
	deadline := time.After(fifoWait)
	for {
		// Non-blocking: a plain open would wait for a reader forever.
		f, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.ENXIO) {
			return nil, err
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("tar in the helper ended without reading the pipe: %v", err)
		case <-deadline:
			return nil, errors.New("tar in the helper did not open the pipe")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Close stops and removes the helper (its anonymous volumes too) and the pipe.
// Calls after the first do nothing.
func (x *Writer) Close() error {
	if x.closed {
		return nil
	}
	x.closed = true
	for _, r := range x.roots {
		r.Close()
	}
	if x.stdin.Conn != nil {
		x.stdin.Close()
	}
	// The helper removes itself once its input closes; removing it here as well
	// makes sure it is gone before the stack starts on its volumes.
	err := x.e.RemoveContainer(context.Background(), x.id)
	if x.dir != "" {
		os.RemoveAll(x.dir)
	}
	return err
}

// ID is the helper container's: it mounts the volumes, for a look at them (df) by exec.
func (x *Writer) ID() string { return x.id }
