package status

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// touch makes an empty file at path, its directory first.
func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func redmine(t *testing.T) catalog.Stack {
	t.Helper()
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLastBackup: the newest archive of the stack wins, across the backup
// directories and their pre-upgrade/; another stack's archives, other files
// and a directory that does not exist are passed over.
func TestLastBackup(t *testing.T) {
	st := redmine(t)
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name  string
		files []string // relative to the first of two backup directories ("2/…": the second)
		want  string   // "" for none
		age   time.Duration
	}{
		{name: "none", want: ""},
		{name: "only other files", files: []string{"notes.txt", archive.FileName("nginx", at(time.Minute), false), "redmine.tar.zst"}, want: ""},
		{name: "newest of one directory",
			files: []string{archive.FileName("redmine", at(48*time.Hour), false), archive.FileName("redmine", at(2*time.Hour), false)},
			want:  archive.FileName("redmine", at(2*time.Hour), false), age: 2 * time.Hour},
		{name: "pre-upgrade is newer",
			files: []string{archive.FileName("redmine", at(3*time.Hour), false), "pre-upgrade/" + archive.FileName("redmine", at(time.Hour), false)},
			want:  "pre-upgrade/" + archive.FileName("redmine", at(time.Hour), false), age: time.Hour},
		// Found first, the newest must stay the answer.
		{name: "first directory is newest",
			files: []string{archive.FileName("redmine", at(time.Hour), false), "pre-upgrade/" + archive.FileName("redmine", at(5*time.Hour), false),
				"2/" + archive.FileName("redmine", at(3*time.Hour), false)},
			want: archive.FileName("redmine", at(time.Hour), false), age: time.Hour},
		{name: "second directory is newer, encrypted",
			files: []string{archive.FileName("redmine", at(3*time.Hour), false), "2/" + archive.FileName("redmine", at(30*time.Minute), true),
				archive.FileName("nginx", at(time.Minute), false)},
			want: "2/" + archive.FileName("redmine", at(30*time.Minute), true), age: 30 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			one, two := filepath.Join(root, "1"), filepath.Join(root, "2")
			for _, f := range tc.files {
				if rest, ok := strings.CutPrefix(f, "2/"); ok {
					touch(t, filepath.Join(two, rest))
				} else {
					touch(t, filepath.Join(one, f))
				}
			}
			got, err := lastBackup(st, []string{one, two, filepath.Join(root, "missing")}, now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if got != nil {
					t.Errorf("last backup %+v, want none", got)
				}
				return
			}
			want := filepath.Join(one, tc.want)
			if rest, ok := strings.CutPrefix(tc.want, "2/"); ok {
				want = filepath.Join(two, rest)
			}
			if got == nil || got.Path != want || got.AgeSeconds != int64(tc.age.Seconds()) || !got.Taken.Equal(now.Add(-tc.age)) {
				t.Errorf("last backup %+v, want %s, %s old", got, want, tc.age)
			}
		})
	}
}

// TestLastBackupUnreadable: a backup directory that cannot be read is an
// error, not "no backup".
func TestLastBackupUnreadable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-directory")
	touch(t, file)
	if b, err := lastBackup(redmine(t), []string{file}, now); err == nil {
		t.Errorf("read a file as a backup directory: %+v", b)
	}
}

// fakeCompose lists the stack's containers; any other SDK call panics
// through the nil embedded interface.
type fakeCompose struct {
	api.Compose
	ps []api.ContainerSummary
}

func (f *fakeCompose) Ps(context.Context, string, api.PsOptions) ([]api.ContainerSummary, error) {
	return f.ps, nil
}

func running(services ...string) []api.ContainerSummary {
	var cs []api.ContainerSummary
	for _, s := range services {
		cs = append(cs, api.ContainerSummary{ID: "c-" + s, Service: s, State: "running"})
	}
	return cs
}

// fakeAPI is the engine as status reads it: images (by reference, with
// their environment), the image each container runs, and programs run in
// containers, answered by out (container and program → stdout, exit code).
// Any other call panics through the nil embedded interface.
type fakeAPI struct {
	client.APIClient
	images     map[string][]string
	imageErr   error
	containers map[string]string
	out        func(container string, cmd []string) (string, int)

	execs map[string]execResult
}

type execResult struct {
	stdout string
	code   int
}

func (f *fakeAPI) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	if f.imageErr != nil {
		return client.ImageInspectResult{}, f.imageErr
	}
	env, ok := f.images[ref]
	if !ok {
		return client.ImageInspectResult{}, cerrdefs.ErrNotFound.WithMessage("no such image: " + ref)
	}
	// Through JSON, as the engine answers: the config's type is the image
	// spec's, which this module does not require directly.
	var res image.InspectResponse
	b, _ := json.Marshal(map[string]any{"Id": ref, "Config": map[string]any{"Env": env}})
	if err := json.Unmarshal(b, &res); err != nil {
		return client.ImageInspectResult{}, err
	}
	return client.ImageInspectResult{InspectResponse: res}, nil
}

func (f *fakeAPI) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	img, ok := f.containers[id]
	if !ok {
		return client.ContainerInspectResult{}, cerrdefs.ErrNotFound.WithMessage("no such container: " + id)
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{Image: img}}, nil
}

func (f *fakeAPI) ExecCreate(_ context.Context, id string, o client.ExecCreateOptions) (client.ExecCreateResult, error) {
	out, code := f.out(id, o.Cmd)
	if f.execs == nil {
		f.execs = map[string]execResult{}
	}
	execID := fmt.Sprintf("exec-%d", len(f.execs))
	f.execs[execID] = execResult{out, code}
	return client.ExecCreateResult{ID: execID}, nil
}

func (f *fakeAPI) ExecAttach(_ context.Context, id string, _ client.ExecAttachOptions) (client.ExecAttachResult, error) {
	// The engine multiplexes stdout and stderr on one connection: a frame
	// is the stream's number, three zero bytes, the length, the bytes.
	out := f.execs[id].stdout
	b := bytes.NewBuffer([]byte{byte(stdcopy.Stdout), 0, 0, 0})
	_ = binary.Write(b, binary.BigEndian, uint32(len(out)))
	b.WriteString(out)
	conn, peer := net.Pipe()
	peer.Close()
	return client.ExecAttachResult{HijackedResponse: client.HijackedResponse{Conn: conn, Reader: bufio.NewReader(b)}}, nil
}

func (f *fakeAPI) ExecInspect(_ context.Context, id string, _ client.ExecInspectOptions) (client.ExecInspectResult, error) {
	return client.ExecInspectResult{ID: id, ExitCode: f.execs[id].code}, nil
}

// site is a stack's recorded state, the containers that run and the engine
// they run on: what Read reads, with no engine behind it.
type site struct {
	rec state.State
	ps  []api.ContainerSummary
	api *fakeAPI
}

func (s site) read(t *testing.T, backupDirs ...string) (Status, error) {
	t.Helper()
	dir := state.Dir(t.TempDir())
	if s.rec.Profile != "" {
		if err := dir.Save("redmine", s.rec); err != nil {
			t.Fatal(err)
		}
	}
	return Read(context.Background(), open(t, dir, s.ps, s.api), Options{BackupDirs: backupDirs, NoUpdates: true}, now)
}

// open opens the redmine stack as 'stackctl status' does, on a fake engine:
// the Compose SDK lists ps, the engine's API is a.
func open(t *testing.T, dir state.Dir, ps []api.ContainerSummary, a *fakeAPI) *stack.Stack {
	t.Helper()
	env := stack.Env{State: dir, Connect: func(context.Context) (api.Compose, *engine.Engine, error) {
		return &fakeCompose{ps: ps}, &engine.Engine{API: a}, nil
	}}
	sk, err := stack.Open(context.Background(), env, "redmine", stack.Read, stack.OpenOptions{Purpose: "status"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sk.Close)
	return sk
}

// refs are the base images of release name on profile p.
func refs(t *testing.T, name string, p catalog.Profile) []string {
	t.Helper()
	rel, err := catalog.LookupRelease(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range redmine(t).BasesFor(rel) {
		out = append(out, b.Ref(p))
	}
	return out
}

// programs answers the programs status runs: Ruby's version and the lock
// file in the application's container, the server's version in the
// database's, the maintenance file in the front's; fail makes the first two
// exit non-zero.
func programs(t *testing.T, app, db, front, maintenance string, fail bool) func(string, []string) (string, int) {
	lock, err := os.ReadFile(filepath.Join("testdata", "Gemfile.lock"))
	if err != nil {
		t.Fatal(err)
	}
	return func(c string, cmd []string) (string, int) {
		switch {
		case c == front && slices.Contains(cmd, "read-front") && strings.HasSuffix(cmd[len(cmd)-1], "/maintenance.conf"):
			return maintenance, 0
		case fail:
			return "", 1
		case c == app && cmd[0] == "sh":
			return "3.3.8\n" + string(lock), 0
		case c == db && cmd[0] == "psql" && slices.Contains(cmd, "SHOW server_version"):
			return "17.5 (Debian 17.5-1.pgdg130+1)\n", 0
		}
		t.Errorf("ran %q in %s", cmd, c)
		return "", 127
	}
}

// TestRead: what a stack runs and where it stands, read from its state, its
// containers and the images the engine holds.
func TestRead(t *testing.T) {
	const wasUpgrading = `from Redmine 6.0.10 with PostgreSQL 17 to Redmine 6.1.0 with PostgreSQL 18, stopped at step "pre-upgrade backup"`
	upgrading := &state.Upgrade{From: 1, FromVersion: "Redmine 6.0.10 with PostgreSQL 17", ToVersion: "Redmine 6.1.0 with PostgreSQL 18", Step: "pre-upgrade backup"}
	// Generation 2 serves, its application in slot B, behind the front's slot B.
	servingB := state.State{Profile: catalog.ProfileUpstream, Listen: "0.0.0.0:8080", Active: 2, FrontSlot: catalog.SlotB, Upgrade: upgrading,
		Generations: []state.Generation{{N: 1, Ready: true}, {N: 2, Release: "6.0", Slot: catalog.SlotB, Ready: true}}}
	present := func(refs ...[]string) map[string][]string {
		m := map[string][]string{"sha256:app": {"PATH=/usr/bin", "REDMINE_VERSION=6.0.10"}}
		for _, rs := range refs {
			for _, r := range rs {
				m[r] = nil
			}
		}
		return m
	}
	// Upstream 6.1 without its PostgreSQL image: that upgrade pulls it first.
	upstream61 := refs(t, "6.1", catalog.ProfileUpstream)
	someOf61 := slices.DeleteFunc(slices.Clone(upstream61), func(r string) bool { return strings.HasPrefix(r, "postgres:") })
	if len(someOf61) == len(upstream61) {
		t.Fatalf("release 6.1 has no postgres base: %q", upstream61)
	}

	for _, tc := range []struct {
		name string
		site site
		want Status
	}{
		{
			name: "serving, in maintenance, an upgrade left",
			site: site{rec: servingB, ps: running("nginx-b", "redmine-g2-b", "db-g2", "redmine", "db"),
				api: &fakeAPI{images: present(someOf61), containers: map[string]string{"c-redmine-g2-b": "sha256:app"},
					out: programs(t, "c-redmine-g2-b", "c-db-g2", "c-nginx-b", "set $maintenance \"on\";\n", false)}},
			want: Status{Stack: "redmine", Profile: catalog.ProfileUpstream, Release: "6.0", Base: "official images", Images: refs(t, "6.0", catalog.ProfileUpstream),
				Running: true, Redmine: "6.0.10", Postgres: "17.5", Ruby: "3.3.8", Rails: "7.2.2.1", Maintenance: true,
				URL: "http://localhost:8080/", Generation: 2, Generations: 2,
				Upgrading: wasUpgrading,
				Upgrades:  []Offer{{Redmine: "6.1.0", Postgres: 18, Release: "6.1", Built: false, Command: "stackctl upgrade redmine --to 6.1.0"}}},
		},
		{
			// A program that fails leaves its version out, not the status.
			name: "serving, its programs fail",
			site: site{rec: servingB, ps: running("nginx-b", "redmine-g2-b", "db-g2"),
				api: &fakeAPI{images: present(upstream61), containers: map[string]string{"c-redmine-g2-b": "sha256:app"},
					out: programs(t, "c-redmine-g2-b", "c-db-g2", "c-nginx-b", "", true)}},
			want: Status{Stack: "redmine", Profile: catalog.ProfileUpstream, Release: "6.0", Base: "official images", Images: refs(t, "6.0", catalog.ProfileUpstream),
				Running: true, Redmine: "6.0.10", URL: "http://localhost:8080/", Generation: 2, Generations: 2, Upgrading: wasUpgrading,
				Upgrades: []Offer{{Redmine: "6.1.0", Postgres: 18, Release: "6.1", Built: true, Command: "stackctl upgrade redmine --to 6.1.0"}}},
		},
		{
			// Stopped, it is no error: what it would run is still known.
			name: "debian, stopped, the next release's bases built",
			site: site{rec: state.State{Profile: catalog.ProfileDebian, Active: 1, Generations: []state.Generation{{N: 1, Ready: true}}},
				api: &fakeAPI{images: present(refs(t, "6.1", catalog.ProfileDebian))}},
			want: Status{Stack: "redmine", Profile: catalog.ProfileDebian, Release: "6.0", Base: "Debian trixie", Images: refs(t, "6.0", catalog.ProfileDebian),
				URL: "http://127.0.0.1:8080/", Generation: 1, Generations: 1,
				Upgrades: []Offer{{Redmine: "6.1.5", Postgres: 18, Release: "6.1", Built: true, Command: "stackctl upgrade redmine --to 6.1.5"}}},
		},
		{
			name: "on the newest release",
			site: site{rec: state.State{Profile: catalog.ProfileDebian, Listen: "127.0.0.1:9000", Active: 1, Generations: []state.Generation{{N: 1, Release: "6.1", Ready: true}}},
				api: &fakeAPI{}},
			want: Status{Stack: "redmine", Profile: catalog.ProfileDebian, Release: "6.1", Base: "Debian forky", Images: refs(t, "6.1", catalog.ProfileDebian),
				URL: "http://127.0.0.1:9000/", Generation: 1, Generations: 1, Upgrades: []Offer{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.site.read(t)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", tc.want); g != w {
				t.Errorf("status\n got %s\nwant %s", g, w)
			}
			// An empty list, not null: a script reads "upgrades" as a list.
			b, err := json.Marshal(got)
			if err != nil || !bytes.Contains(b, []byte(`"upgrades":[`)) {
				t.Errorf("JSON %s (%v) has no upgrades list", b, err)
			}
		})
	}
}

// TestReadWithBackups: the last backup is the newest of every directory given.
func TestReadWithBackups(t *testing.T) {
	one, two := t.TempDir(), t.TempDir()
	touch(t, filepath.Join(one, archive.FileName("redmine", now.Add(-26*time.Hour), false)))
	newest := filepath.Join(two, "pre-upgrade", archive.FileName("redmine", now.Add(-90*time.Minute), false))
	touch(t, newest)
	s := site{rec: state.State{Profile: catalog.ProfileDebian, Active: 1, Generations: []state.Generation{{N: 1, Release: "6.1", Ready: true}}}, api: &fakeAPI{}}
	got, err := s.read(t, one, two)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastBackup == nil || got.LastBackup.Path != newest || got.LastBackup.AgeSeconds != 90*60 {
		t.Errorf("last backup %+v, want %s, 5400 s old", got.LastBackup, newest)
	}
}

// TestReadFails: a stack never started is not running (exit 3) with the
// command that starts it; what cannot be read is an error, never a status
// that looks fine.
func TestReadFails(t *testing.T) {
	engineDown := errors.New("Cannot connect to the Docker daemon at unix:///nonexistent.sock")
	for _, tc := range []struct {
		name string
		site site
		is   error
		want string
	}{
		{name: "never started", site: site{api: &fakeAPI{}}, is: errs.ErrNotRunning,
			want: "stack redmine was never started: start it with 'stackctl up redmine'"},
		{name: "unknown release recorded", site: site{rec: state.State{Profile: catalog.ProfileDebian, Active: 1, Generations: []state.Generation{{N: 1, Release: "5.9"}}}, api: &fakeAPI{}},
			is: errs.ErrInvalidInput, want: `unknown release "5.9"`},
		{name: "engine down while checking the offers", site: site{rec: state.State{Profile: catalog.ProfileDebian, Active: 1, Generations: []state.Generation{{N: 1}}},
			api: &fakeAPI{imageErr: engineDown}}, is: engineDown, want: "inspecting image"},
		{name: "application's container vanished", site: site{rec: state.State{Profile: catalog.ProfileDebian, Active: 1, Generations: []state.Generation{{N: 1}}},
			ps: running("redmine"), api: &fakeAPI{containers: map[string]string{}}}, is: cerrdefs.ErrNotFound, want: "inspecting container c-redmine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.site.read(t)
			if err == nil {
				t.Fatalf("read %+v", got)
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %v saying %q", err, tc.is, tc.want)
			}
		})
	}
}
