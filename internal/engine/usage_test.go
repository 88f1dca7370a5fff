package engine

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// usageRun is what the fake engine saw of one VolumeUsage.
type usageRun struct {
	created client.ContainerCreateOptions
	started bool
	removed []client.ContainerRemoveOptions
}

// usageAPI runs the measuring helper: it prints stdout and stderr, then exits
// with code, or its wait fails with waitErr.
func usageAPI(t *testing.T, run *usageRun, stdout, stderr string, code int64, waitErr error) *fakeAPI {
	return &fakeAPI{
		containerCreate: func(o client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
			run.created = o
			return client.ContainerCreateResult{ID: "helper1"}, nil
		},
		containerAttach: func(id string, o client.ContainerAttachOptions) (client.ContainerAttachResult, error) {
			if !o.Stream || !o.Stdout || !o.Stderr {
				t.Errorf("attach options = %+v: the helper's output would be lost", o)
			}
			att, _ := hijacked(t, stdout, stderr, false)
			return client.ContainerAttachResult{HijackedResponse: att}, nil
		},
		containerWait: func(id string, o client.ContainerWaitOptions) client.ContainerWaitResult {
			// Asked before the start: a helper that exits at once is not missed.
			if run.started {
				t.Error("waiting after the start")
			}
			if o.Condition != container.WaitConditionNextExit {
				t.Errorf("wait condition %q", o.Condition)
			}
			res := make(chan container.WaitResponse, 1)
			errc := make(chan error, 1)
			if waitErr != nil {
				errc <- waitErr
			} else {
				res <- container.WaitResponse{StatusCode: code}
			}
			return client.ContainerWaitResult{Result: res, Error: errc}
		},
		containerStart: func(id string) error { run.started = true; return nil },
		containerRemove: func(_ context.Context, id string, o client.ContainerRemoveOptions) error {
			run.removed = append(run.removed, o)
			return nil
		},
	}
}

func TestVolumeUsage(t *testing.T) {
	names := []string{"redmine_files", "redmine_db"}
	tests := []struct {
		name    string
		stdout  string
		stderr  string
		code    int64
		waitErr error
		want    map[string]VolumeUsage
		wantErr string
	}{
		{
			name:   "measured",
			stdout: "/volumes/0 1048576 1\n/volumes/1 4096 0\n",
			want: map[string]VolumeUsage{
				"redmine_files": {Bytes: 1048576},
				"redmine_db":    {Bytes: 4096, Empty: true},
			},
		},
		{name: "du fails", stderr: "du: cannot access\nsecond line\n", code: 1, wantErr: "measuring volumes: du exited with 1: du: cannot access\nsecond line"},
		{name: "wait fails", waitErr: errEngine, wantErr: "measuring volumes: engine said no"},
		{name: "short line", stdout: "/volumes/0 12\n", wantErr: `measuring volumes: du printed "/volumes/0 12"`},
		{name: "size not a number", stdout: "/volumes/0 big 1\n", wantErr: `du printed "/volumes/0 big 1"`},
		// An index the helper was not given must not map to some other volume.
		{name: "unknown directory", stdout: "/volumes/2 12 1\n", wantErr: `du printed "/volumes/2 12 1"`},
		{name: "negative index", stdout: "/volumes/-1 12 1\n", wantErr: `du printed "/volumes/-1 12 1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &usageRun{}
			e := &Engine{API: usageAPI(t, run, tt.stdout, tt.stderr, tt.code, tt.waitErr)}
			got, err := e.VolumeUsage(t.Context(), "redmine:6", names)
			wantErr(t, err, tt.wantErr, nil)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("usage = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVolumeUsageHelper(t *testing.T) {
	run := &usageRun{}
	e := &Engine{API: usageAPI(t, run, "/volumes/0 1 1\n/volumes/1 1 1\n", "", 0, nil)}
	if _, err := e.VolumeUsage(t.Context(), "redmine:6", []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	cfg, host := run.created.Config, run.created.HostConfig
	if cfg.Image != "redmine:6" || cfg.User != "0" {
		t.Errorf("helper runs %s as %q, want redmine:6 as root", cfg.Image, cfg.User)
	}
	if !slices.Equal(cfg.Cmd, []string{"/volumes/0", "/volumes/1"}) {
		t.Errorf("helper measures %q", cfg.Cmd)
	}
	wantMounts := []mount.Mount{
		{Type: mount.TypeVolume, Source: "a", Target: "/volumes/0", ReadOnly: true},
		{Type: mount.TypeVolume, Source: "b", Target: "/volumes/1", ReadOnly: true},
	}
	if !reflect.DeepEqual(host.Mounts, wantMounts) {
		t.Errorf("mounts = %+v, want %+v", host.Mounts, wantMounts)
	}
	// Read-only, no network, only the capability to read: it looks, it cannot change.
	if !host.AutoRemove || host.NetworkMode != "none" || !slices.Equal(host.CapDrop, []string{"ALL"}) ||
		!slices.Equal(host.CapAdd, []string{"DAC_READ_SEARCH"}) {
		t.Errorf("host config = %+v", host)
	}
	if cfg.Labels["io.stackctl.helper"] != "usage" {
		t.Errorf("labels = %v: the helper is not marked as stackctl's", cfg.Labels)
	}
	if len(run.removed) != 0 {
		t.Errorf("removed a helper that removes itself: %+v", run.removed)
	}
}

func TestVolumeUsageNothingToMeasure(t *testing.T) {
	// No call at all: the fake would panic on one.
	got, err := (&Engine{API: &fakeAPI{}}).VolumeUsage(t.Context(), "redmine:6", nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("VolumeUsage(no names) = %v, %v; want an empty map", got, err)
	}
}

func TestVolumeUsageEngineErrors(t *testing.T) {
	tests := []struct {
		name        string
		modify      func(api *fakeAPI)
		want        string
		wantRemoved bool
	}{
		{
			name: "create",
			modify: func(api *fakeAPI) {
				api.containerCreate = func(client.ContainerCreateOptions) (client.ContainerCreateResult, error) {
					return client.ContainerCreateResult{}, errEngine
				}
			},
			want: "measuring volumes with redmine:6: engine said no",
		},
		{
			// Never started, so never removed by the engine: stackctl removes it.
			name: "attach",
			modify: func(api *fakeAPI) {
				api.containerAttach = func(string, client.ContainerAttachOptions) (client.ContainerAttachResult, error) {
					return client.ContainerAttachResult{}, errEngine
				}
			},
			want: "measuring volumes: engine said no", wantRemoved: true,
		},
		{
			name:   "start",
			modify: func(api *fakeAPI) { api.containerStart = func(string) error { return errEngine } },
			want:   "measuring volumes: engine said no", wantRemoved: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &usageRun{}
			api := usageAPI(t, run, "", "", 0, nil)
			tt.modify(api)
			_, err := (&Engine{API: api}).VolumeUsage(t.Context(), "redmine:6", []string{"a"})
			wantErr(t, err, tt.want, nil)
			var want []client.ContainerRemoveOptions
			if tt.wantRemoved {
				want = []client.ContainerRemoveOptions{{Force: true, RemoveVolumes: true}}
			}
			if !reflect.DeepEqual(run.removed, want) {
				t.Errorf("removals = %+v, want %+v", run.removed, want)
			}
		})
	}
}
