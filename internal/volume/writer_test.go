package volume

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
)

var errEngine = errors.New("engine said no")

// volumes is a stack's two volumes, compose key → engine name.
var volumes = map[string]string{"files": "redmine_files", "db": "redmine_db"}

// privateTmp points the pipe's temporary directory at a fresh one and returns
// it, so that a test sees what is left there.
func privateTmp(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	return dir
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// volumeMounts are the helper's mounts of the volumes, sorted by target.
func volumeMounts(o client.ContainerCreateOptions) (vols, binds []mount.Mount) {
	for _, m := range o.HostConfig.Mounts {
		if m.Type == mount.TypeBind {
			binds = append(binds, m)
		} else {
			vols = append(vols, m)
		}
	}
	slices.SortFunc(vols, func(a, b mount.Mount) int { return strings.Compare(a.Target, b.Target) })
	return vols, binds
}

func TestStartWriterHelper(t *testing.T) {
	privateTmp(t)
	f := newFakeEngine(t)
	x, err := StartWriter(t.Context(), f.engine(), "redmine:6", volumes, "redmine", Options{ArchiveAPI: true})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if len(f.created) != 1 {
		t.Fatalf("created %d helpers", len(f.created))
	}
	cfg, host := f.created[0].Config, f.created[0].HostConfig
	// Root, so that owners, modes and times are the stream's.
	if cfg.Image != "redmine:6" || cfg.User != "0" || !slices.Equal(cfg.Entrypoint, []string{"cat"}) {
		t.Errorf("helper runs %s as %q: %q", cfg.Image, cfg.User, cfg.Entrypoint)
	}
	// It lives as long as its standard input is open: a killed stackctl leaves nothing.
	if !cfg.OpenStdin || !cfg.StdinOnce || !cfg.AttachStdin || !host.AutoRemove {
		t.Errorf("helper config = %+v, host %+v: it would outlive stackctl", cfg, host)
	}
	if want := map[string]string{LabelHelper: "extract", "io.stackctl.stack": "redmine"}; !reflect.DeepEqual(cfg.Labels, want) {
		t.Errorf("labels = %v, want %v", cfg.Labels, want)
	}
	if host.NetworkMode != "none" || !slices.Equal(host.CapDrop, []string{"ALL"}) ||
		!slices.Equal(host.CapAdd, []string{"CHOWN", "DAC_OVERRIDE", "FOWNER"}) ||
		!slices.Equal(host.SecurityOpt, []string{"no-new-privileges:true"}) {
		t.Errorf("host config = %+v: more than tar needs", host)
	}
	vols, binds := volumeMounts(f.created[0])
	want := []mount.Mount{
		{Type: mount.TypeVolume, Source: "redmine_db", Target: "/restore/db"},
		{Type: mount.TypeVolume, Source: "redmine_files", Target: "/restore/files"},
	}
	if !reflect.DeepEqual(vols, want) || binds != nil {
		t.Errorf("mounts = %+v and binds %+v, want %+v only", vols, binds, want)
	}
	if !f.started || x.ID() != "helper1" {
		t.Errorf("started %v, ID %q", f.started, x.ID())
	}
	if x.Piped() || x.Direct() {
		t.Errorf("Piped %v, Direct %v: the archive API was asked for", x.Piped(), x.Direct())
	}
	if f.inspects != 0 {
		t.Error("the volumes' directories were looked at though the archive API was asked for")
	}
}

func TestStartWriterWays(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		createErr []error
		volumes   map[string]client.VolumeInspectResult
		// seen says where the helper sees each volume, given the volumes'
		// directories (and one that is neither, "elsewhere").
		seen       func(dirs map[string]string) map[string]string
		wantPiped  bool
		wantDirect bool
	}{
		{name: "pipe", opts: Options{NoDirect: true}, wantPiped: true},
		{
			// A remote engine has no such directory to bind: the archive API it is.
			name: "remote engine", opts: Options{NoDirect: true},
			createErr: []error{errors.New("invalid mount config: bind source path does not exist")},
		},
		{name: "direct", wantPiped: true, wantDirect: true},
		{
			// The engine's host is not this one, or the volume is mounted elsewhere.
			name: "helper does not see the directory", wantPiped: true,
			seen: func(map[string]string) map[string]string { return map[string]string{} },
		},
		{
			name: "one volume seen elsewhere", wantPiped: true,
			seen: func(dirs map[string]string) map[string]string {
				return map[string]string{"/restore/files": dirs["files"], "/restore/db": dirs["elsewhere"]}
			},
		},
		{
			name: "driver not local", wantPiped: true,
			volumes: map[string]client.VolumeInspectResult{
				"redmine_files": {Volume: volume.Volume{Driver: "nfs", Mountpoint: "/mnt"}},
				"redmine_db":    {Volume: volume.Volume{Driver: "nfs", Mountpoint: "/mnt"}},
			},
		},
		{
			name: "no mount point", wantPiped: true,
			volumes: map[string]client.VolumeInspectResult{
				"redmine_files": {Volume: volume.Volume{Driver: "local"}},
				"redmine_db":    {Volume: volume.Volume{Driver: "local"}},
			},
		},
		{
			name: "mount point not on this host", wantPiped: true,
			volumes: map[string]client.VolumeInspectResult{
				"redmine_files": {Volume: volume.Volume{Driver: "local", Mountpoint: "/nonexistent/volumes/files/_data"}},
				"redmine_db":    {Volume: volume.Volume{Driver: "local", Mountpoint: "/nonexistent/volumes/db/_data"}},
			},
		},
		{name: "volumes unknown", wantPiped: true, volumes: map[string]client.VolumeInspectResult{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := privateTmp(t)
			f := newFakeEngine(t)
			f.createErr = tt.createErr
			dirs := map[string]string{"files": t.TempDir(), "db": t.TempDir(), "elsewhere": t.TempDir()}
			for key, name := range volumes {
				f.volumes[name] = client.VolumeInspectResult{Volume: volume.Volume{Name: name, Driver: "local", Mountpoint: dirs[key]}}
				f.seen["/restore/"+key] = dirs[key]
			}
			if tt.volumes != nil {
				f.volumes = tt.volumes
			}
			if tt.seen != nil {
				f.seen = tt.seen(dirs)
			}
			x, err := StartWriter(t.Context(), f.engine(), "redmine:6", volumes, "redmine", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if x.Piped() != tt.wantPiped || x.Direct() != tt.wantDirect {
				t.Errorf("Piped %v, Direct %v; want %v, %v", x.Piped(), x.Direct(), tt.wantPiped, tt.wantDirect)
			}
			_, binds := volumeMounts(f.created[len(f.created)-1])
			if tt.wantPiped {
				// The pipe's directory, read-only: the helper reads the pipe, nothing more.
				if len(binds) != 1 || binds[0].Target != "/stackctl-in" || !binds[0].ReadOnly || filepath.Dir(binds[0].Source) != tmp {
					t.Fatalf("binds = %+v, want the pipe's directory under %s, read-only", binds, tmp)
				}
				if fi, err := os.Stat(filepath.Join(binds[0].Source, "in")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
					t.Errorf("no named pipe in the helper's directory: %v", err)
				}
			} else if binds != nil {
				t.Errorf("binds = %+v, want none", binds)
			}
			if tt.opts.NoDirect && f.inspects != 0 {
				t.Error("the volumes' directories were looked at though NoDirect was asked for")
			}
			// Whatever was found out, no marker stays behind in a volume.
			for key, dir := range dirs {
				if names := entries(t, dir); len(names) != 0 {
					t.Errorf("volume %s holds %q after the probe", key, names)
				}
			}
			if _, ok := x.volumeFiles("files"); ok != tt.wantDirect {
				t.Errorf("volumeFiles(files) = %v, want %v", ok, tt.wantDirect)
			}
			if err := x.Close(); err != nil {
				t.Fatal(err)
			}
			if names := entries(t, tmp); len(names) != 0 {
				t.Errorf("left in the temporary directory: %q", names)
			}
		})
	}
}

func TestStartWriterFails(t *testing.T) {
	tests := []struct {
		name        string
		opts        Options
		modify      func(f *fakeEngine)
		want        string
		wantRemoved bool
	}{
		{
			name:   "no helper",
			modify: func(f *fakeEngine) { f.createErr = []error{errEngine, errEngine} },
			want:   "creating a helper from redmine:6 to write volumes: engine said no",
		},
		{
			name: "no helper through the archive API", opts: Options{ArchiveAPI: true},
			modify: func(f *fakeEngine) { f.createErr = []error{errEngine} },
			want:   "creating a helper from redmine:6 to write volumes: engine said no",
		},
		{
			name:   "attach",
			modify: func(f *fakeEngine) { f.attachErr = errEngine },
			want:   "attaching to the volume helper: engine said no", wantRemoved: true,
		},
		{
			name:   "start",
			modify: func(f *fakeEngine) { f.startErr = errEngine },
			want:   "starting a helper from redmine:6 to write volumes: engine said no", wantRemoved: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := privateTmp(t)
			f := newFakeEngine(t)
			tt.modify(f)
			x, err := StartWriter(t.Context(), f.engine(), "redmine:6", volumes, "redmine", tt.opts)
			if x != nil {
				t.Error("a Writer came back with the error")
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			// A helper created and not started is not removed by the engine.
			var want []client.ContainerRemoveOptions
			if tt.wantRemoved {
				want = []client.ContainerRemoveOptions{{Force: true, RemoveVolumes: true}}
			}
			if !reflect.DeepEqual(f.removed, want) {
				t.Errorf("removals = %+v, want %+v", f.removed, want)
			}
			if f.stdin != nil && !f.stdin.isClosed() {
				t.Error("the helper's standard input was left open")
			}
			if names := entries(t, tmp); len(names) != 0 {
				t.Errorf("left in the temporary directory: %q", names)
			}
		})
	}
}

func TestClose(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		removing int // inspections that still find the helper after its removal
		wantErr  error
	}{
		{name: "removed"},
		// The helper removed itself once its input closed: gone already, or going.
		{name: "gone already", err: cerrdefs.ErrNotFound.WithMessage("no such container")},
		// Close returns once it is gone: the stack's containers start on its volumes next.
		{name: "being removed", err: cerrdefs.ErrConflict.WithMessage("removal already in progress"), removing: 3},
		{name: "refused", err: errEngine, wantErr: errEngine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			privateTmp(t)
			f := newFakeEngine(t)
			x, err := StartWriter(t.Context(), f.engine(), "redmine:6", volumes, "redmine", Options{NoDirect: true})
			if err != nil {
				t.Fatal(err)
			}
			dir := x.dir
			f.removeErr = tt.err
			f.removing = tt.removing
			if err := x.Close(); !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("Close = %v, want %v", err, tt.wantErr)
			}
			if !f.stdin.isClosed() {
				t.Error("the helper's standard input is still open")
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the pipe's directory is still there: %v", err)
			}
			if err := x.Close(); err != nil {
				t.Errorf("second Close = %v", err)
			}
			if want := []client.ContainerRemoveOptions{{Force: true, RemoveVolumes: true}}; !reflect.DeepEqual(f.removed, want) {
				t.Errorf("removals = %+v, want %+v once", f.removed, want)
			}
			if f.removing > 0 {
				t.Errorf("Close returned while the helper was still being removed (%d inspections left)", f.removing)
			}
		})
	}
}

// tarReads is tar in the helper reading its whole pipe into got, then ending
// with stderr and exit.
func tarReads(got *[]byte, mu *sync.Mutex, stderr string, exit int) func(context.Context, string) (string, int) {
	return func(_ context.Context, pipe string) (string, int) {
		p, err := os.Open(pipe)
		if err != nil {
			return err.Error(), 2
		}
		defer p.Close()
		b, err := io.ReadAll(p)
		if err != nil {
			return err.Error(), 2
		}
		mu.Lock()
		*got = b
		mu.Unlock()
		return stderr, exit
	}
}

func TestWriteTar(t *testing.T) {
	content := strings.Repeat("tar stream ", 300_000) // more than a pipe holds
	tests := []struct {
		name       string
		opts       Options
		tar        func(got *[]byte, mu *sync.Mutex) func(context.Context, string) (string, int)
		copyErr    error
		wantRead   []byte // what tar read from the pipe
		wantCopied bool   // the stream went through the archive API
		wantErr    string
		stillPiped bool
	}{
		{
			name: "through the pipe",
			opts: Options{NoDirect: true},
			tar: func(got *[]byte, mu *sync.Mutex) func(context.Context, string) (string, int) {
				return tarReads(got, mu, "", 0)
			},
			wantRead: []byte(content), stillPiped: true,
		},
		{
			// The program's failure, not the broken pipe it leaves.
			name: "tar fails", opts: Options{NoDirect: true},
			tar: func(got *[]byte, mu *sync.Mutex) func(context.Context, string) (string, int) {
				return tarReads(got, mu, "tar: Unexpected EOF in archive\n", 2)
			},
			wantRead: []byte(content), stillPiped: true,
			wantErr: "writing into the volumes: tar exited with 2: tar: Unexpected EOF in archive",
		},
		{
			// tar never opened the pipe, so read nothing: the archive API gets it all.
			name: "pipe not seen", opts: Options{NoDirect: true},
			tar: func(*[]byte, *sync.Mutex) func(context.Context, string) (string, int) {
				return func(context.Context, string) (string, int) {
					return "tar: /stackctl-in/in: Cannot open: No such file or directory\n", 2
				}
			},
			wantCopied: true,
		},
		{name: "archive API", opts: Options{ArchiveAPI: true}, wantCopied: true},
		{name: "archive API refuses", opts: Options{ArchiveAPI: true}, copyErr: errEngine, wantCopied: true, wantErr: "writing into the volumes: engine said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := privateTmp(t)
			f := newFakeEngine(t)
			var mu sync.Mutex
			var got []byte
			if tt.tar != nil {
				f.tar = tt.tar(&got, &mu)
			}
			f.copyErr = tt.copyErr
			x, err := StartWriter(t.Context(), f.engine(), "redmine:6", volumes, "redmine", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			err = x.WriteTar(t.Context(), strings.NewReader(content))
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("WriteTar = %v, want %q", err, tt.wantErr)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(got, tt.wantRead) {
				t.Errorf("tar read %d bytes from the pipe, want %d", len(got), len(tt.wantRead))
			}
			var wantCopied []copied
			if tt.wantCopied {
				wantCopied = []copied{{"helper1", "/restore", []byte(content)}}
			}
			if !reflect.DeepEqual(f.copied, wantCopied) {
				t.Errorf("archive API got %d writes, want %d (whole)", len(f.copied), len(wantCopied))
			}
			if x.Piped() != tt.stillPiped {
				t.Errorf("Piped = %v, want %v afterwards", x.Piped(), tt.stillPiped)
			}
			if !tt.stillPiped && len(entries(t, tmp)) != 0 {
				t.Errorf("a pipe known not to work is still there: %q", entries(t, tmp))
			}
			for _, cmd := range f.execs {
				want := []string{"tar", "-x", "--numeric-owner", "-B", "-b", "2048", "-f", "/stackctl-in/in", "-C", "/restore"}
				if !slices.Equal(cmd, want) {
					t.Errorf("helper ran %q, want %q", cmd, want)
				}
			}
		})
	}
}

func TestWriteTarCancelled(t *testing.T) {
	privateTmp(t)
	f := newFakeEngine(t)
	f.tar = func(context.Context, string) (string, int) {
		t.Error("tar ran for a cancelled write")
		return "", 0
	}
	x, err := StartWriter(t.Context(), f.engine(), "redmine:6", volumes, "redmine", Options{NoDirect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	content := strings.NewReader("tar stream")
	if err := x.WriteTar(ctx, content); err == nil {
		t.Error("a cancelled write succeeded")
	}
	// Cancelled is not "the pipe does not work": no second way is tried.
	if len(f.copied) != 0 || content.Len() != len("tar stream") {
		t.Errorf("the stream was written after the cancel: %d archive writes, %d bytes left", len(f.copied), content.Len())
	}
}
