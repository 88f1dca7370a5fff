package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/errs"
)

var errEngine = errors.New("engine said no")

// notFound is what the client returns for a 404.
var notFound = cerrdefs.ErrNotFound.WithMessage("no such object")

// inspected builds an image inspection from the engine's JSON, as the client
// decodes it (the Config type lives in a module this one does not require).
func inspected(t *testing.T, js string) client.ImageInspectResult {
	t.Helper()
	var res client.ImageInspectResult
	if err := json.Unmarshal([]byte(js), &res.InspectResponse); err != nil {
		t.Fatal(err)
	}
	return res
}

// wantErr checks err against a wanted message fragment ("" means no error)
// and, when given, the sentinel it must wrap.
func wantErr(t *testing.T, err error, fragment string, sentinel error) {
	t.Helper()
	if fragment == "" {
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("err = nil, want one containing %q", fragment)
	}
	if !strings.Contains(err.Error(), fragment) {
		t.Errorf("err = %q, want it to contain %q", err, fragment)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("err = %v, want it to wrap %v", err, sentinel)
	}
}

func TestPing(t *testing.T) {
	t.Run("answers", func(t *testing.T) {
		var deadline bool
		api := &fakeAPI{ping: func(ctx context.Context) error {
			_, deadline = ctx.Deadline()
			return nil
		}}
		if err := Ping(t.Context(), api); err != nil {
			t.Fatal(err)
		}
		if !deadline {
			t.Error("the ping has no deadline: a hung engine would hang stackctl")
		}
	})
	t.Run("refused", func(t *testing.T) {
		api := &fakeAPI{ping: func(context.Context) error { return errors.New("connection refused") }}
		err := Ping(t.Context(), api)
		// The operator reads where stackctl looked, why it failed and what to do.
		for _, want := range []string{"unix:///nonexistent.sock", "connection refused", "systemctl start docker", "DOCKER_HOST"} {
			wantErr(t, err, want, errs.ErrUnavailable)
		}
	})
}

func TestConnectUnreachable(t *testing.T) {
	// A socket that cannot exist: the client fails without reaching any engine.
	t.Setenv("DOCKER_HOST", "unix://"+t.TempDir()+"/none.sock")
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	d, err := Connect(t.Context(), nil, false)
	if d != nil {
		t.Errorf("Connect returned a connection to no engine: %+v", d)
	}
	wantErr(t, err, "cannot reach the Docker engine", errs.ErrUnavailable)
}

func TestImage(t *testing.T) {
	tests := []struct {
		name      string
		res       client.ImageInspectResult
		err       error
		want      ImageInfo
		wantFound bool
		wantErr   string
	}{
		{
			name:      "labelled",
			res:       inspected(t, `{"Id":"sha256:abc","Size":42,"Config":{"Labels":{"io.stackctl.base":"trixie"}}}`),
			want:      ImageInfo{ID: "sha256:abc", Size: 42, Labels: map[string]string{"io.stackctl.base": "trixie"}},
			wantFound: true,
		},
		{
			name:      "no config",
			res:       inspected(t, `{"Id":"sha256:abc","Size":7}`),
			want:      ImageInfo{ID: "sha256:abc", Size: 7},
			wantFound: true,
		},
		{name: "absent", err: notFound},
		{name: "engine error", err: errEngine, wantErr: "inspecting image redmine:6: engine said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked string
			e := &Engine{API: &fakeAPI{imageInspect: func(ref string) (client.ImageInspectResult, error) {
				asked = ref
				return tt.res, tt.err
			}}}
			got, found, err := e.Image(t.Context(), "redmine:6")
			wantErr(t, err, tt.wantErr, nil)
			if asked != "redmine:6" {
				t.Errorf("inspected %q", asked)
			}
			if found != tt.wantFound || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Image = %+v, %v; want %+v, %v", got, found, tt.want, tt.wantFound)
			}
			present, err := e.ImagePresent(t.Context(), "redmine:6")
			wantErr(t, err, tt.wantErr, nil)
			if present != tt.wantFound {
				t.Errorf("ImagePresent = %v, want %v", present, tt.wantFound)
			}
		})
	}
}

func TestImageEnv(t *testing.T) {
	tests := []struct {
		name      string
		res       client.ImageInspectResult
		err       error
		want      []string
		wantFound bool
		wantErr   string
	}{
		{name: "env", res: inspected(t, `{"Config":{"Env":["A=1","PATH=/bin"]}}`), want: []string{"A=1", "PATH=/bin"}, wantFound: true},
		{name: "no config", res: inspected(t, `{}`), wantFound: true},
		{name: "absent", err: notFound},
		{name: "engine error", err: errEngine, wantErr: "inspecting image img: engine said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{API: &fakeAPI{imageInspect: func(string) (client.ImageInspectResult, error) { return tt.res, tt.err }}}
			env, found, err := e.ImageEnv(t.Context(), "img")
			wantErr(t, err, tt.wantErr, nil)
			if found != tt.wantFound || !reflect.DeepEqual(env, tt.want) {
				t.Errorf("ImageEnv = %q, %v; want %q, %v", env, found, tt.want, tt.wantFound)
			}
		})
	}
}

func TestCanPull(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
	}{{"reachable", nil}, {"refused", errEngine}} {
		t.Run(tt.name, func(t *testing.T) {
			var left time.Duration
			e := &Engine{API: &fakeAPI{distribution: func(ctx context.Context, ref string) error {
				d, ok := ctx.Deadline()
				if !ok {
					t.Error("the registry probe has no deadline")
				}
				left = time.Until(d)
				return tt.err
			}}}
			if err := e.CanPull(t.Context(), "debian:trixie"); !errors.Is(err, tt.err) {
				t.Errorf("CanPull = %v, want %v", err, tt.err)
			}
			if left > pullProbeTimeout {
				t.Errorf("the probe may take %v, more than %v", left, pullProbeTimeout)
			}
		})
	}
}

func TestImport(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		err     error
		want    string
		wantErr string
	}{
		{name: "last status is the ID", stream: `{"status":"Importing"}` + "\n" + `{"status":"sha256:feed"}` + "\n", want: "sha256:feed"},
		{name: "progress without status", stream: `{"status":"sha256:feed"}{"progressDetail":{"current":1}}`, want: "sha256:feed"},
		{name: "engine error in stream", stream: `{"status":"Importing"}{"errorDetail":{"message":"no space left on device"}}`, wantErr: "importing image: no space left on device"},
		{name: "garbled answer", stream: `{"status":`, wantErr: "importing image: reading the engine's answer"},
		{name: "no ID", stream: ``, wantErr: "importing image: the engine reported no image ID"},
		{name: "refused", err: errEngine, wantErr: "importing image: engine said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := &readCloser{Reader: strings.NewReader(tt.stream)}
			rootfs := strings.NewReader("rootfs")
			changes := []string{"ENV A=1", `CMD ["bash"]`}
			e := &Engine{API: &fakeAPI{imageImport: func(src client.ImageImportSource, o client.ImageImportOptions) (client.ImageImportResult, error) {
				if src.Source != rootfs || src.SourceName != "-" {
					t.Errorf("import source = %+v, want the root file system from standard input", src)
				}
				if !reflect.DeepEqual(o.Changes, changes) {
					t.Errorf("changes = %q, want %q", o.Changes, changes)
				}
				if tt.err != nil {
					return nil, tt.err
				}
				return body, nil
			}}}
			id, err := e.Import(t.Context(), rootfs, changes)
			wantErr(t, err, tt.wantErr, nil)
			if id != tt.want {
				t.Errorf("id = %q, want %q", id, tt.want)
			}
			if tt.err == nil && !body.closed {
				t.Error("the engine's answer was not closed")
			}
		})
	}
}

func TestTag(t *testing.T) {
	for _, tt := range []struct {
		name    string
		err     error
		wantErr string
	}{
		{name: "tagged"},
		{name: "refused", err: errEngine, wantErr: "tagging sha256:abc as stackctl/base:trixie: engine said no"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got client.ImageTagOptions
			e := &Engine{API: &fakeAPI{imageTag: func(o client.ImageTagOptions) error { got = o; return tt.err }}}
			wantErr(t, e.Tag(t.Context(), "sha256:abc", "stackctl/base:trixie"), tt.wantErr, nil)
			if got.Source != "sha256:abc" || got.Target != "stackctl/base:trixie" {
				t.Errorf("tag options = %+v", got)
			}
		})
	}
}

func TestRemoveImage(t *testing.T) {
	var got client.ImageRemoveOptions
	e := &Engine{API: &fakeAPI{imageRemove: func(id string, o client.ImageRemoveOptions) error {
		got = o
		return errEngine
	}}}
	// The engine's error as it is: callers match it with cerrdefs.
	if err := e.RemoveImage(t.Context(), "sha256:abc"); err != errEngine {
		t.Errorf("RemoveImage = %v, want the engine's error", err)
	}
	if !got.PruneChildren {
		t.Error("untagged parents are left behind")
	}
}

func TestUntagged(t *testing.T) {
	t.Run("imports only", func(t *testing.T) {
		var filters client.Filters
		e := &Engine{API: &fakeAPI{imageList: func(o client.ImageListOptions) (client.ImageListResult, error) {
			filters = o.Filters
			return client.ImageListResult{Items: []image.Summary{
				{ID: "sha256:import1"},
				{ID: "sha256:built", ParentID: "sha256:import1"},
				{ID: "sha256:import2"},
			}}, nil
		}}}
		ids, err := e.Untagged(t.Context(), "io.stackctl.base", "trixie")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"sha256:import1", "sha256:import2"}; !reflect.DeepEqual(ids, want) {
			t.Errorf("Untagged = %q, want %q (an image built FROM an import is not one)", ids, want)
		}
		want := client.Filters{}.Add("label", "io.stackctl.base=trixie").Add("dangling", "true")
		if !reflect.DeepEqual(filters, want) {
			t.Errorf("filters = %v, want %v", filters, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		e := &Engine{API: &fakeAPI{imageList: func(client.ImageListOptions) (client.ImageListResult, error) {
			return client.ImageListResult{}, errEngine
		}}}
		_, err := e.Untagged(t.Context(), "k", "v")
		wantErr(t, err, "listing images: engine said no", nil)
	})
}

func TestImageTar(t *testing.T) {
	type call struct {
		id     string
		opts   client.ContainerRemoveOptions
		ctxErr error
	}
	tests := []struct {
		name        string
		createErr   error
		copyErr     error
		wantErr     string
		wantRemoved bool // before the stream is returned
	}{
		{name: "stream"},
		{name: "create fails", createErr: errEngine, wantErr: "reading image redmine:6: engine said no"},
		{name: "copy fails", copyErr: errEngine, wantErr: "engine said no", wantRemoved: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var removed []call
			var created client.ContainerCreateOptions
			content := &readCloser{Reader: strings.NewReader("tar")}
			e := &Engine{API: &fakeAPI{
				containerCreate: func(o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
					created = o
					return client.ContainerCreateResult{ID: "c1"}, tt.createErr
				},
				copyFromContainer: func(id, path string) (client.CopyFromContainerResult, error) {
					if id != "c1" || path != "/usr/src/redmine/public/themes" {
						t.Errorf("copy from %s:%s", id, path)
					}
					return client.CopyFromContainerResult{Content: content}, tt.copyErr
				},
				containerRemove: func(ctx context.Context, id string, o client.ContainerRemoveOptions) error {
					removed = append(removed, call{id, o, ctx.Err()})
					return nil
				},
			}}
			// A cancelled context must not keep the container from being removed.
			ctx, cancel := context.WithCancel(t.Context())
			rc, err := e.ImageTar(ctx, "redmine:6", "/usr/src/redmine/public/themes")
			cancel()
			wantErr(t, err, tt.wantErr, nil)
			if created.Image != "redmine:6" || created.Config == nil || len(created.Config.Entrypoint) == 0 {
				t.Errorf("created %+v: want a container of the image that needs no command", created)
			}
			if got := len(removed) > 0; got != tt.wantRemoved {
				t.Fatalf("removed before the stream is read: %v, want %v", got, tt.wantRemoved)
			}
			if err != nil {
				return
			}
			b, _ := io.ReadAll(rc)
			if string(b) != "tar" {
				t.Errorf("stream = %q", b)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if !content.closed {
				t.Error("the engine's stream was not closed")
			}
			want := []call{{"c1", client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}, nil}}
			if !reflect.DeepEqual(removed, want) {
				t.Errorf("removals = %+v, want %+v (anonymous volumes too, despite the cancelled context)", removed, want)
			}
		})
	}
}

func TestCopyFrom(t *testing.T) {
	t.Run("stream", func(t *testing.T) {
		content := &readCloser{Reader: strings.NewReader("tar")}
		e := &Engine{API: &fakeAPI{copyFromContainer: func(id, path string) (client.CopyFromContainerResult, error) {
			return client.CopyFromContainerResult{Content: content}, nil
		}}}
		rc, err := e.CopyFrom(t.Context(), "c1", "/var/lib/postgresql/data")
		if err != nil {
			t.Fatal(err)
		}
		if rc != content {
			t.Error("CopyFrom does not return the engine's stream")
		}
	})
	t.Run("refused", func(t *testing.T) {
		e := &Engine{API: &fakeAPI{copyFromContainer: func(string, string) (client.CopyFromContainerResult, error) {
			return client.CopyFromContainerResult{}, errEngine
		}}}
		// The container's ID is shortened as docker ps shows it.
		_, err := e.CopyFrom(t.Context(), "0123456789abcdef0123", "/data")
		wantErr(t, err, "reading /data from 0123456789ab: engine said no", nil)
	})
}

func TestVolumeLabels(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantLabels map[string]string
		wantFound  bool
		wantErr    string
	}{
		{name: "there", wantLabels: map[string]string{"io.stackctl.stack": "redmine"}, wantFound: true},
		{name: "absent", err: notFound},
		{name: "engine error", err: errEngine, wantErr: "inspecting volume files: engine said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{API: &fakeAPI{volumeInspect: func(name string) (client.VolumeInspectResult, error) {
				return client.VolumeInspectResult{Volume: volume.Volume{Name: name, Labels: tt.wantLabels}}, tt.err
			}}}
			labels, found, err := e.VolumeLabels(t.Context(), "files")
			wantErr(t, err, tt.wantErr, nil)
			if found != tt.wantFound || !reflect.DeepEqual(labels, tt.wantLabels) {
				t.Errorf("VolumeLabels = %v, %v; want %v, %v", labels, found, tt.wantLabels, tt.wantFound)
			}
			exists, err := e.VolumeExists(t.Context(), "files")
			wantErr(t, err, tt.wantErr, nil)
			if exists != tt.wantFound {
				t.Errorf("VolumeExists = %v, want %v", exists, tt.wantFound)
			}
		})
	}
}

func TestLabelledVolumes(t *testing.T) {
	t.Run("sorted", func(t *testing.T) {
		var filters client.Filters
		e := &Engine{API: &fakeAPI{volumeList: func(o client.VolumeListOptions) (client.VolumeListResult, error) {
			filters = o.Filters
			return client.VolumeListResult{Items: []volume.Volume{{Name: "redmine_files"}, {Name: "redmine_cache"}, {Name: "redmine_db"}}}, nil
		}}}
		names, err := e.LabelledVolumes(t.Context(), "io.stackctl.stack", "redmine")
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"redmine_cache", "redmine_db", "redmine_files"}; !reflect.DeepEqual(names, want) {
			t.Errorf("names = %q, want %q", names, want)
		}
		if want := (client.Filters{}).Add("label", "io.stackctl.stack=redmine"); !reflect.DeepEqual(filters, want) {
			t.Errorf("filters = %v, want %v", filters, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		e := &Engine{API: &fakeAPI{volumeList: func(client.VolumeListOptions) (client.VolumeListResult, error) {
			return client.VolumeListResult{}, errEngine
		}}}
		_, err := e.LabelledVolumes(t.Context(), "k", "v")
		wantErr(t, err, "listing volumes labelled k=v: engine said no", nil)
	})
}

func TestContainerInspections(t *testing.T) {
	tests := []struct {
		name         string
		res          container.InspectResponse
		err          error
		wantImage    string
		wantRestarts int
		wantExit     int
		wantErr      string
	}{
		{
			name:      "restarted",
			res:       container.InspectResponse{Image: "sha256:img", RestartCount: 3, State: &container.State{ExitCode: 137}},
			wantImage: "sha256:img", wantRestarts: 3, wantExit: 137,
		},
		{name: "no state", res: container.InspectResponse{Image: "sha256:img"}, wantImage: "sha256:img"},
		{name: "refused", err: errEngine, wantErr: "inspecting container 0123456789ab: engine said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{API: &fakeAPI{containerInspect: func(string) (client.ContainerInspectResult, error) {
				return client.ContainerInspectResult{Container: tt.res}, tt.err
			}}}
			img, err := e.ContainerImage(t.Context(), "0123456789abcdef")
			wantErr(t, err, tt.wantErr, nil)
			if img != tt.wantImage {
				t.Errorf("ContainerImage = %q, want %q", img, tt.wantImage)
			}
			restarts, exit, err := e.ContainerRestarts(t.Context(), "0123456789abcdef")
			wantErr(t, err, tt.wantErr, nil)
			if restarts != tt.wantRestarts || exit != tt.wantExit {
				t.Errorf("ContainerRestarts = %d, %d; want %d, %d", restarts, exit, tt.wantRestarts, tt.wantExit)
			}
		})
	}
}

// pulling is a pull in progress that ends with err.
type pulling struct {
	io.ReadCloser
	err error
}

func (p pulling) JSONMessages(context.Context) iter.Seq2[jsonstream.Message, error] { return nil }
func (p pulling) Wait(context.Context) error                                        { return p.err }

func TestEnsureImage(t *testing.T) {
	tests := []struct {
		name       string
		inspectErr error
		pullErr    error
		waitErr    error
		wantPull   bool
		wantErr    string
	}{
		{name: "present: no pull"},
		{name: "absent: pulled", inspectErr: notFound, wantPull: true},
		{name: "inspect fails: no pull", inspectErr: errEngine, wantErr: "inspecting image"},
		{name: "pull refused", inspectErr: notFound, pullErr: errEngine, wantPull: true, wantErr: "pulling postgres@sha256:1: engine said no"},
		{name: "pull fails midway", inspectErr: notFound, waitErr: errors.New("manifest unknown"), wantPull: true, wantErr: "pulling postgres@sha256:1: manifest unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pulled := false
			e := &Engine{API: &fakeAPI{
				imageInspect: func(string) (client.ImageInspectResult, error) {
					return client.ImageInspectResult{}, tt.inspectErr
				},
				imagePull: func(ref string) (client.ImagePullResponse, error) {
					pulled = true
					if tt.pullErr != nil {
						return nil, tt.pullErr
					}
					return pulling{err: tt.waitErr}, nil
				},
			}}
			wantErr(t, e.EnsureImage(t.Context(), "postgres@sha256:1"), tt.wantErr, nil)
			if pulled != tt.wantPull {
				t.Errorf("pulled = %v, want %v", pulled, tt.wantPull)
			}
		})
	}
}

func TestCreateVolume(t *testing.T) {
	tests := []struct {
		name        string
		inspectErr  error
		createErr   error
		wantCreated bool
		wantErr     string
		wantIs      error
	}{
		{name: "new", inspectErr: notFound, wantCreated: true},
		{name: "already there", wantErr: "volume redmine_files is already there", wantIs: errs.ErrInvalidInput},
		{name: "inspect fails", inspectErr: errEngine, wantErr: "inspecting volume redmine_files"},
		{name: "create fails", inspectErr: notFound, createErr: errEngine, wantCreated: true, wantErr: "creating volume redmine_files: engine said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var created *client.VolumeCreateOptions
			e := &Engine{API: &fakeAPI{
				volumeInspect: func(string) (client.VolumeInspectResult, error) {
					return client.VolumeInspectResult{}, tt.inspectErr
				},
				volumeCreate: func(o client.VolumeCreateOptions) error { created = &o; return tt.createErr },
			}}
			opts := map[string]string{"type": "tmpfs"}
			labels := map[string]string{"io.stackctl.stack": "redmine"}
			wantErr(t, e.CreateVolume(t.Context(), "redmine_files", opts, labels), tt.wantErr, tt.wantIs)
			if (created != nil) != tt.wantCreated {
				t.Fatalf("created = %v, want %v", created != nil, tt.wantCreated)
			}
			if created != nil {
				want := client.VolumeCreateOptions{Name: "redmine_files", Driver: "local", DriverOpts: opts, Labels: labels}
				if !reflect.DeepEqual(*created, want) {
					t.Errorf("created %+v, want %+v", *created, want)
				}
			}
		})
	}
}

func TestRemoveVolume(t *testing.T) {
	inUse := cerrdefs.ErrConflict.WithMessage("volume is in use")
	tests := []struct {
		name      string
		answers   []error // one per attempt; the last repeats
		cancelAt  int     // cancel the context on this attempt (1-based); 0: never
		wantCalls int
		wantErr   string
		wantIs    error
	}{
		{name: "removed", answers: []error{nil}, wantCalls: 1},
		{name: "already gone", answers: []error{notFound}, wantCalls: 1},
		{name: "refused", answers: []error{errEngine}, wantCalls: 1, wantErr: "removing volume v: engine said no"},
		// One retry waits a quarter of a second: the price of proving the retry.
		{name: "in use, then free", answers: []error{inUse, nil}, wantCalls: 2},
		{name: "in use, cancelled", answers: []error{inUse}, cancelAt: 1, wantCalls: 1, wantErr: "context canceled", wantIs: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			calls := 0
			e := &Engine{API: &fakeAPI{volumeRemove: func(_ context.Context, name string) error {
				calls++
				if name != "v" {
					t.Errorf("removed %q", name)
				}
				if calls == tt.cancelAt {
					cancel()
				}
				return tt.answers[min(calls, len(tt.answers))-1]
			}}}
			wantErr(t, e.RemoveVolume(ctx, "v"), tt.wantErr, tt.wantIs)
			if calls != tt.wantCalls {
				t.Errorf("attempts = %d, want %d", calls, tt.wantCalls)
			}
		})
	}
}

func TestHost(t *testing.T) {
	t.Run("answers", func(t *testing.T) {
		e := &Engine{API: &fakeAPI{info: func() (client.SystemInfoResult, error) {
			var r client.SystemInfoResult
			r.Info.NCPU, r.Info.KernelVersion, r.Info.MemTotal = 8, "6.1.0-28-amd64", 16<<30
			return r, nil
		}}}
		h, err := e.Host(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := (Host{CPUs: 8, Kernel: "6.1.0-28-amd64", Memory: 16 << 30}); h != want {
			t.Errorf("Host = %+v, want %+v", h, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		e := &Engine{API: &fakeAPI{info: func() (client.SystemInfoResult, error) { return client.SystemInfoResult{}, errEngine }}}
		_, err := e.Host(t.Context())
		wantErr(t, err, "asking the engine about its host: engine said no", nil)
	})
}

func TestSwarmTaskContainer(t *testing.T) {
	tests := []struct {
		name    string
		items   []container.Summary
		err     error
		want    string
		wantErr string
		wantIs  error
	}{
		{name: "running here", items: []container.Summary{{ID: "c1"}, {ID: "c2"}}, want: "c1"},
		{name: "none here", wantErr: "no task of swarm service redmine_web runs on this node", wantIs: errs.ErrNotRunning},
		{name: "refused", err: errEngine, wantErr: "listing the containers of swarm service redmine_web: engine said no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var filters client.Filters
			e := &Engine{API: &fakeAPI{containerList: func(o client.ContainerListOptions) (client.ContainerListResult, error) {
				filters = o.Filters
				return client.ContainerListResult{Items: tt.items}, tt.err
			}}}
			id, err := e.SwarmTaskContainer(t.Context(), "redmine_web")
			wantErr(t, err, tt.wantErr, tt.wantIs)
			if id != tt.want {
				t.Errorf("id = %q, want %q", id, tt.want)
			}
			want := client.Filters{}.Add("label", "com.docker.swarm.service.name=redmine_web").Add("status", "running")
			if !reflect.DeepEqual(filters, want) {
				t.Errorf("filters = %v, want %v", filters, want)
			}
		})
	}
}

// TestPublishedBy: the running containers that publish a port on an address
// that overlaps the one asked about, by name.
func TestPublishedBy(t *testing.T) {
	port := func(ip string, public uint16, typ string) container.PortSummary {
		p := container.PortSummary{PrivatePort: 8080, PublicPort: public, Type: typ}
		if ip != "" {
			p.IP = netip.MustParseAddr(ip)
		}
		return p
	}
	items := []container.Summary{
		{Names: []string{"/edge"}, Ports: []container.PortSummary{port("127.0.0.1", 8080, "tcp")}},
		{Names: []string{"/everywhere"}, Ports: []container.PortSummary{port("0.0.0.0", 8080, "tcp"), port("::", 8080, "tcp")}},
		{Names: []string{"/other-address"}, Ports: []container.PortSummary{port("127.0.0.2", 8080, "tcp")}},
		{Names: []string{"/other-port"}, Ports: []container.PortSummary{port("127.0.0.1", 9090, "tcp")}},
		{Names: []string{"/udp"}, Ports: []container.PortSummary{port("127.0.0.1", 8080, "udp")}},
		{Names: []string{"/unpublished"}, Ports: []container.PortSummary{port("", 0, "tcp")}},
	}
	for _, tt := range []struct {
		host string
		want []string
	}{
		{host: "127.0.0.1", want: []string{"edge", "everywhere"}},
		{host: "0.0.0.0", want: []string{"edge", "everywhere", "other-address"}},
		{host: "localhost"},
	} {
		t.Run(tt.host, func(t *testing.T) {
			var filters client.Filters
			e := &Engine{API: &fakeAPI{containerList: func(o client.ContainerListOptions) (client.ContainerListResult, error) {
				filters = o.Filters
				return client.ContainerListResult{Items: items}, nil
			}}}
			got, err := e.PublishedBy(t.Context(), tt.host, 8080)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("PublishedBy(%s, 8080) = %q, want %q", tt.host, got, tt.want)
			}
			if want := (client.Filters{}.Add("status", "running")); tt.want != nil && !reflect.DeepEqual(filters, want) {
				t.Errorf("filters = %v, want %v", filters, want)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		e := &Engine{API: &fakeAPI{containerList: func(client.ContainerListOptions) (client.ContainerListResult, error) {
			return client.ContainerListResult{}, errEngine
		}}}
		_, err := e.PublishedBy(t.Context(), "127.0.0.1", 8080)
		wantErr(t, err, "listing the containers publishing port 8080: engine said no", nil)
	})
}

// daemonAt is an engine's client reached at host.
type daemonAt struct {
	*fakeAPI
	host string
}

func (d daemonAt) DaemonHost() string { return d.host }

// TestLocal: an engine is this host's when reached through a unix socket.
func TestLocal(t *testing.T) {
	for host, want := range map[string]bool{
		"unix:///var/run/docker.sock":       true,
		"unix:///run/user/1000/docker.sock": true,
		"tcp://10.0.0.2:2375":               false,
		"http://docker.example.com":         false, // ssh://, through the CLI's connection helper
	} {
		if got := (&Engine{API: daemonAt{&fakeAPI{}, host}}).Local(); got != want {
			t.Errorf("Local() at %s = %v, want %v", host, got, want)
		}
	}
}
