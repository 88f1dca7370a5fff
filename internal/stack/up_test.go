package stack

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// fakeCompose records the SDK calls the start-up makes, in order; any other
// call panics through the nil embedded interface.
type fakeCompose struct {
	api.Compose
	calls []string
	// fail is the call that fails, with failWith's message (else "fails on purpose").
	fail, failWith string
	// cancelled is the start that waits until its context is cancelled, then
	// returns nil, as the SDK's wait does.
	cancelled string
	ps        []api.ContainerSummary
	// created is the last project created.
	created *types.Project
}

func (f *fakeCompose) record(call string) error {
	f.calls = append(f.calls, call)
	if call == f.fail {
		return errors.New(cmp.Or(f.failWith, "fails on purpose"))
	}
	return nil
}

func (f *fakeCompose) Build(_ context.Context, p *types.Project, _ api.BuildOptions) error {
	return f.record("build")
}

func (f *fakeCompose) Create(_ context.Context, p *types.Project, _ api.CreateOptions) error {
	if err := f.record("create"); err != nil {
		return err
	}
	f.created = p
	// With ps set, the fake keeps its containers: created, started, removed.
	for _, name := range p.ServiceNames() {
		if f.ps != nil && !slices.ContainsFunc(f.ps, func(c api.ContainerSummary) bool { return c.Service == name }) {
			f.ps = append(f.ps, api.ContainerSummary{ID: "c-" + name, Service: name, State: "created"})
		}
	}
	return nil
}

func (f *fakeCompose) Down(_ context.Context, _ string, o api.DownOptions) error {
	if o.Volumes {
		return f.record("down -v")
	}
	return f.record("down")
}

func (f *fakeCompose) Start(ctx context.Context, _ string, o api.StartOptions) error {
	call := "start " + strings.Join(o.Project.ServiceNames(), ",")
	if err := f.record(call); err != nil {
		return err
	}
	if call == f.cancelled {
		<-ctx.Done()
		return nil
	}
	for i, c := range f.ps {
		if slices.Contains(o.Project.ServiceNames(), c.Service) {
			f.ps[i].State, f.ps[i].Health = "running", "healthy"
		}
	}
	return nil
}

func (f *fakeCompose) Stop(_ context.Context, _ string, o api.StopOptions) error {
	return f.record("stop " + strings.Join(o.Services, ","))
}

func (f *fakeCompose) Remove(_ context.Context, _ string, o api.RemoveOptions) error {
	if f.ps != nil {
		f.ps = slices.DeleteFunc(f.ps, func(c api.ContainerSummary) bool { return slices.Contains(o.Services, c.Service) })
	}
	return f.record("remove " + strings.Join(o.Services, ","))
}

func (f *fakeCompose) Logs(_ context.Context, _ string, c api.LogConsumer, _ api.LogOptions) error {
	c.Log("redmine-b", "boom (RuntimeError)")
	return nil
}

// Ps has every service of generations 1 (Redmine in both slots) and 2
// running, and the front; or ps, when set.
func (f *fakeCompose) Ps(context.Context, string, api.PsOptions) ([]api.ContainerSummary, error) {
	if f.ps != nil {
		return f.ps, nil
	}
	var cs []api.ContainerSummary
	for _, svc := range []string{"db", "nginx", "redmine", "redmine-b", "db-g2", "redmine-g2"} {
		cs = append(cs, api.ContainerSummary{ID: "c-" + svc, Service: svc, State: "running"})
	}
	return cs, nil
}

// fakeEngine has every upstream image and runs execs by recording them; psql
// in the database keeps the database's comment, the mark of a first start;
// the front keeps its upstream file and answers smoke checks.
type fakeEngine struct {
	// images maps the image references the fake has to their IDs (none: it has
	// none, and every running container's image differs from its service's).
	images   map[string]string
	kernel   string
	execs    []string
	stdin    []string
	comment  string
	upstream string
	// maintenance notes whether each write of the maintenance file closed the front.
	maintenance []bool
	volumes     map[string]bool
	removed     []string
	// events are the settings written with psql ("settings: SQL") and the
	// other execs, in order.
	events []string
	// local is an engine on this host, whose ports up tries; publishedBy
	// names the containers publishing a port.
	local       bool
	publishedBy map[int][]string
	// crashing is the container the engine restarts again each time it is
	// asked (exit code 1); restarts counts them.
	crashing string
	restarts int
}

func (f *fakeEngine) ImagePresent(context.Context, string) (bool, error) { return true, nil }
func (f *fakeEngine) CanPull(context.Context, string) error              { return nil }
func (f *fakeEngine) Image(_ context.Context, ref string) (engine.ImageInfo, bool, error) {
	id, ok := f.images[ref]
	return engine.ImageInfo{ID: id}, ok, nil
}
func (f *fakeEngine) Host(context.Context) (engine.Host, error) {
	return engine.Host{CPUs: 4, Kernel: cmp.Or(f.kernel, "6.18.0")}, nil
}
func (f *fakeEngine) Import(context.Context, io.Reader, []string) (string, error) {
	return "", errors.New("no imports here")
}
func (f *fakeEngine) Tag(context.Context, string, string) error                  { return nil }
func (f *fakeEngine) RemoveImage(context.Context, string) error                  { return nil }
func (f *fakeEngine) Untagged(context.Context, string, string) ([]string, error) { return nil, nil }
func (f *fakeEngine) ContainerImage(_ context.Context, id string) (string, error) {
	return "sha256:" + id, nil
}
func (f *fakeEngine) ContainerRestarts(_ context.Context, id string) (int, int, error) {
	if id != f.crashing {
		return 0, 0, nil
	}
	f.restarts++
	return f.restarts, 1, nil
}
func (f *fakeEngine) SwarmTaskContainer(context.Context, string) (string, error) { return "", nil }
func (f *fakeEngine) VolumeExists(_ context.Context, name string) (bool, error) {
	return f.volumes[name], nil
}
func (f *fakeEngine) VolumeLabels(_ context.Context, name string) (map[string]string, bool, error) {
	return map[string]string{"com.docker.compose.project": "stackctl-redmine"}, f.volumes[name], nil
}
func (f *fakeEngine) LabelledVolumes(context.Context, string, string) ([]string, error) {
	var out []string
	for name, ok := range f.volumes {
		if ok {
			out = append(out, name)
		}
	}
	return out, nil
}
func (f *fakeEngine) RemoveVolume(_ context.Context, name string) error {
	f.removed = append(f.removed, name)
	return nil
}
func (f *fakeEngine) VolumeUsage(context.Context, string, []string) (map[string]engine.VolumeUsage, error) {
	return nil, nil
}
func (f *fakeEngine) Local() bool { return f.local }
func (f *fakeEngine) PublishedBy(_ context.Context, _ string, port int) ([]string, error) {
	return f.publishedBy[port], nil
}
func (f *fakeEngine) Exec(_ context.Context, id string, cmd []string, o engine.ExecOptions) error {
	switch cmd[0] {
	case "psql":
		sql := cmd[len(cmd)-1]
		if strings.HasPrefix(sql, "UPDATE settings") {
			f.events = append(f.events, "settings: "+sql)
		}
		if strings.Contains(sql, "COMMENT ON DATABASE") {
			_, mark, _ := strings.Cut(sql, "current_database(), '")
			f.comment, _, _ = strings.Cut(mark, "'")
		} else if o.Stdout != nil {
			io.WriteString(o.Stdout, f.comment+"\n")
		}
		return nil
	case "wget":
		io.WriteString(o.Stdout, `<input name="username"> {"projects":[]}`)
		return nil
	case "sh":
		switch cmd[3] {
		case "read-front":
			if strings.HasSuffix(cmd[4], "/generation.conf") {
				io.WriteString(o.Stdout, f.upstream)
			}
			if strings.HasSuffix(cmd[4], "/maintenance.conf") && len(f.maintenance) > 0 && f.maintenance[len(f.maintenance)-1] {
				io.WriteString(o.Stdout, "set $maintenance \"on\";\n")
			}
		case "point-front":
			b, _ := io.ReadAll(o.Stdin)
			if cmd[5] == "maintenance.conf" {
				f.maintenance = append(f.maintenance, len(b) > 0)
			} else {
				f.upstream = string(b)
			}
		}
		return nil
	}
	f.execs = append(f.execs, id+" "+cmd[0])
	f.events = append(f.events, id+" "+cmd[0])
	if o.Stdin != nil {
		b, _ := io.ReadAll(o.Stdin)
		f.stdin = append(f.stdin, string(b))
	}
	return nil
}

var _ Engine = (*fakeEngine)(nil)

// seedRecorder is a Seed that notes when the runner calls it.
type seedRecorder struct{ c *fakeCompose }

func (s seedRecorder) Check(context.Context, Prepared) error { return s.c.record("seed check") }
func (s seedRecorder) Begin(context.Context, Prepared) error { return s.c.record("seed begin") }
func (s seedRecorder) Fill(context.Context, Prepared) error  { return s.c.record("seed fill") }
func (s seedRecorder) End()                                  {}

// TestUpSequence: up and restore run one start-up, in one order, and only a
// start that reaches its end runs the first start and marks the database; a
// restore into a stack with data makes generation 2 beside generation 1 and
// switches to it, and one that fails before the switch removes generation 2.
func TestUpSequence(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer site.Close()
	listen := strings.TrimPrefix(site.URL, "http://")
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	gen2 := []string{"stackctl-redmine_db-data-g2", "stackctl-redmine_redmine-files-g2", "stackctl-redmine_redmine-plugins-g2"}
	for _, tc := range []struct {
		name       string
		seed, data bool
		fail       string
		want       []string
		// active is the generation that serves afterwards, upstream where the front points.
		active   int
		upstream string
		removed  []string
	}{
		{name: "up", want: []string{"build", "create", "start db,edge,nginx,redmine"}, active: 1, upstream: "redmine:3000"},
		{name: "restore", seed: true, active: 1, upstream: "redmine:3000",
			want: []string{"build", "seed check", "create", "seed begin", "start db", "seed fill", "start db,redmine", "create", "start db,edge,nginx,redmine"}},
		{name: "restore beside data", seed: true, data: true, active: 2, upstream: "redmine-g2:3000",
			want: []string{"build", "seed check", "create", "seed begin", "start db-g2", "seed fill", "start db-g2,redmine-g2", "remove db,redmine,redmine-b"}},
		{name: "refused by the seed", seed: true, data: true, fail: "seed check", want: []string{"build", "seed check"}, active: 1},
		{name: "fill fails", seed: true, data: true, fail: "seed fill", active: 1, removed: gen2,
			want: []string{"build", "seed check", "create", "seed begin", "start db-g2", "seed fill", "remove db-g2,redmine-g2"}},
		{name: "never healthy", seed: true, data: true, fail: "start db-g2,redmine-g2", active: 1, removed: gen2,
			want: []string{"build", "seed check", "create", "seed begin", "start db-g2", "seed fill", "start db-g2,redmine-g2", "remove db-g2,redmine-g2"}},
		{name: "build fails", fail: "build", want: []string{"build"}, active: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{fail: tc.fail}
			e := &fakeEngine{volumes: map[string]bool{}}
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			o := UpOptions{Profile: catalog.ProfileUpstream, Listen: listen}
			if tc.data {
				e.volumes["stackctl-redmine_db-data"] = true
				e.comment = configuredMark
			}
			if tc.seed {
				_, err = r.NewGeneration(context.Background(), seedRecorder{c: c}, state.MadeRestore, "a.tar.zst", o)
			} else {
				_, err = r.Up(context.Background(), o)
			}
			if (err != nil) != (tc.fail != "") {
				t.Fatalf("error = %v, want one only when %q fails", err, tc.fail)
			}
			if !slices.Equal(c.calls, tc.want) {
				t.Errorf("calls = %q\nwant    %q", c.calls, tc.want)
			}
			// Fresh or seeded, unmarked data gets the first start once the stack is up.
			firstStart := tc.fail == "" && !tc.data
			if ran := len(e.execs) > 0; ran != firstStart {
				t.Errorf("first start ran: %v, want %v (%q)", ran, firstStart, e.execs)
			}
			if firstStart {
				pw, _ := r.State.ReadSecret(st.Name, catalog.AdminPassword)
				if len(e.stdin) != 1 || e.stdin[0] != pw+"\n" {
					t.Errorf("first start's stdin = %q, want the admin password", e.stdin)
				}
			}
			// Whatever failed, the record of the stack's profile is there.
			rec, err := r.State.Load(st.Name)
			if err != nil || rec.Profile != catalog.ProfileUpstream {
				t.Errorf("state after %s: %+v, %v; want the profile recorded", tc.name, rec, err)
			}
			if rec.Active != tc.active && !(tc.fail == "build" && rec.Active == 0) {
				t.Errorf("active generation %d, want %d", rec.Active, tc.active)
			}
			if rec.Switch != nil {
				t.Errorf("a switch is left recorded: %+v", rec.Switch)
			}
			if tc.upstream != "" && !strings.Contains(e.upstream, "http://"+tc.upstream+";") {
				t.Errorf("the front points at %q, want %s", e.upstream, tc.upstream)
			}
			if _, ok := rec.Gen(2); ok && tc.fail != "" {
				t.Errorf("a failed restore left generation 2 recorded: %+v", rec.Generations)
			}
			if !slices.Equal(e.removed, tc.removed) {
				t.Errorf("volumes removed %q, want %q", e.removed, tc.removed)
			}
			if marked := e.comment == configuredMark; marked != (tc.fail == "" || tc.data) {
				t.Errorf("database marked configured: %v after %s", marked, tc.name)
			}
			// A second up of a configured stack does not run the first start again.
			if tc.fail == "" {
				e.execs = nil
				if _, err := r.Up(context.Background(), UpOptions{Profile: catalog.ProfileUpstream}); err != nil {
					t.Fatal(err)
				}
				if len(e.execs) > 0 {
					t.Errorf("a second up ran the first start again: %q", e.execs)
				}
			}
		})
	}
}

// TestFirstStartFollowsTheData: data that lost its mark (volumes removed behind
// stackctl's back, whatever the state directory says) gets its first start again.
func TestFirstStartFollowsTheData(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer site.Close()
	st, _ := catalog.LookupStack("redmine")
	e := &fakeEngine{volumes: map[string]bool{}}
	r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	o := UpOptions{Profile: catalog.ProfileUpstream, Listen: strings.TrimPrefix(site.URL, "http://")}
	for i, want := range []int{1, 0, 1} {
		if i == 2 {
			e.comment = "" // a fresh database in new volumes
		}
		e.execs = nil
		if _, err := r.Up(context.Background(), o); err != nil {
			t.Fatal(err)
		}
		if len(e.execs) != want {
			t.Errorf("up %d: first start ran %d times, want %d", i+1, len(e.execs), want)
		}
	}
}

// TestShortenBacktraces: the error a backtrace follows stays in a log's tail.
func TestShortenBacktraces(t *testing.T) {
	log := "starting\n/x/init.rb:1: boom (RuntimeError)\n" + strings.Repeat("\tfrom /x/y.rb:2:in `z'\n", 40) + "exiting\n"
	got := errs.LastLines(shortenBacktraces(log, 3), 6)
	want := "/x/init.rb:1: boom (RuntimeError)\n\tfrom /x/y.rb:2:in `z'\n\tfrom /x/y.rb:2:in `z'\n\tfrom /x/y.rb:2:in `z'\n\t... 37 more lines of backtrace\nexiting"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestChangeApp: up on a serving stack whose Redmine runs another image starts
// the new one in the other slot, points the front at it and removes the old
// one; a new one that fails is removed and the old one serves on.
func TestChangeApp(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer site.Close()
	st, _ := catalog.LookupStack("redmine")
	g := st.Generations
	for _, tc := range []struct {
		name, fail     string
		stale, changed []string
		want           []string
		slot           int
		// maintenance is what the maintenance file held, each time it was written.
		maintenance []bool
	}{
		{name: "takes over", stale: []string{"redmine"}, slot: catalog.SlotB,
			want: []string{"build", "create", "start redmine-b", "remove redmine", "create", "start db,edge,nginx,redmine-b"}},
		{name: "never healthy", stale: []string{"redmine"}, fail: "start redmine-b", slot: catalog.SlotA,
			want: []string{"build", "create", "start redmine-b", "remove redmine-b"}},
		// PostgreSQL never runs twice on the same data: recreated behind the maintenance page.
		{name: "database changed", changed: []string{"db"}, slot: catalog.SlotA, maintenance: []bool{true, false},
			want: []string{"build", "create", "start db,edge,nginx,redmine", "start db,edge,nginx,redmine"}},
		// Its old image is put back and started again (here it fails too, and says so).
		{name: "database never healthy", changed: []string{"db"}, fail: "start db,edge,nginx,redmine", slot: catalog.SlotA, maintenance: []bool{true, false},
			want: []string{"build", "create", "start db,edge,nginx,redmine", "create", "start db,edge,nginx,redmine"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{fail: tc.fail}
			e := &fakeEngine{volumes: map[string]bool{"stackctl-redmine_db-data": true}, comment: configuredMark, upstream: g.Upstream(1, catalog.SlotA)}
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			rec := state.State{Profile: catalog.ProfileUpstream, Listen: strings.TrimPrefix(site.URL, "http://"), Active: 1}
			rec.PutGen(state.Generation{N: 1, Ready: true})
			if err := r.State.Save(st.Name, rec); err != nil {
				t.Fatal(err)
			}
			running(t, r, c, e, st, tc.stale, tc.changed)
			_, err := r.Up(context.Background(), UpOptions{})
			if !slices.Equal(e.maintenance, tc.maintenance) {
				t.Errorf("maintenance written %v, want %v", e.maintenance, tc.maintenance)
			}
			if (err != nil) != (tc.fail != "") {
				t.Fatalf("up: %v", err)
			}
			if err != nil && tc.stale != nil && (!strings.Contains(err.Error(), "redmine keeps serving") || !strings.Contains(err.Error(), "boom (RuntimeError)")) {
				t.Errorf("the error does not say the old one serves, with the new one's log: %v", err)
			}
			if !slices.Equal(c.calls, tc.want) {
				t.Errorf("calls = %q\nwant    %q", c.calls, tc.want)
			}
			if err != nil && tc.changed != nil && !strings.Contains(err.Error(), "its old image") {
				t.Errorf("the error does not say the database's old image was started again: %v", err)
			}
			got, _ := r.State.Load(st.Name)
			if got.SlotOf(1) != tc.slot || e.upstream != g.Upstream(1, tc.slot) || got.Switch != nil {
				t.Errorf("slot %d, front %q, switch %+v; want slot %d", got.SlotOf(1), e.upstream, got.Switch, tc.slot)
			}
		})
	}
}

// running sets c's containers to every service of st's recorded project,
// running healthy as the model has it, and e's images to theirs, but for the
// images of the services in stale, which the fake engine lacks (so the
// containers run another image) and the settings of those in changed.
func running(t *testing.T, r Runner, c *fakeCompose, e *fakeEngine, st catalog.Stack, stale, changed []string) {
	t.Helper()
	p, err := r.recorded(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if e.images == nil {
		e.images = map[string]string{}
	}
	for _, svc := range p.ServiceNames() {
		hash, _ := compose.ServiceHash(p.Services[svc])
		labels := map[string]string{catalog.ConfigLabel: p.Services[svc].CustomLabels[catalog.ConfigLabel], api.ConfigHashLabel: hash}
		if slices.Contains(changed, svc) {
			labels[catalog.ConfigLabel], labels[api.ConfigHashLabel] = "another", "another"
		}
		if !slices.Contains(stale, svc) {
			e.images[p.Services[svc].Image] = "sha256:c-" + svc
		}
		c.ps = append(c.ps, api.ContainerSummary{ID: "c-" + svc, Service: svc, State: "running", Health: "healthy", Labels: labels})
	}
}

// TestChangeFront: up on a serving stack whose nginx runs another image starts
// the new one in the other slot in the edge that holds the port, records it,
// then stops the old one gracefully and removes it; a new one that fails is
// removed, the old one serving on, also when it crashes as it starts and the
// SDK's wait, cancelled, returns no error; a changed edge is no hand-over.
func TestChangeFront(t *testing.T) {
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer site.Close()
	st, _ := catalog.LookupStack("redmine")
	for _, tc := range []struct {
		name, fail  string
		edgeChanged bool
		// crashes: the new nginx is restarted while the SDK waits.
		crashes bool
		want    []string
		slot    int
	}{
		{name: "takes over", slot: catalog.SlotB,
			want: []string{"build", "create", "start edge,nginx-b", "stop nginx", "remove nginx", "create", "start db,edge,nginx-b,redmine"}},
		{name: "never healthy", fail: "start edge,nginx-b", slot: catalog.SlotA,
			want: []string{"build", "create", "start edge,nginx-b", "stop nginx-b", "remove nginx-b"}},
		{name: "crashes while waited for", crashes: true, slot: catalog.SlotA,
			want: []string{"build", "create", "start edge,nginx-b", "stop nginx-b", "remove nginx-b"}},
		{name: "edge changed", edgeChanged: true, slot: catalog.SlotA,
			want: []string{"build", "create", "start db,edge,nginx,redmine"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{fail: tc.fail}
			e := &fakeEngine{volumes: map[string]bool{"stackctl-redmine_db-data": true}, comment: configuredMark,
				upstream: st.Generations.Upstream(1, catalog.SlotA), images: map[string]string{}}
			if tc.crashes {
				c.cancelled, e.crashing = "start edge,nginx-b", "c-nginx-b"
			}
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			rec := state.State{Profile: catalog.ProfileUpstream, Listen: strings.TrimPrefix(site.URL, "http://"), Active: 1}
			rec.PutGen(state.Generation{N: 1, Ready: true})
			if err := r.State.Save(st.Name, rec); err != nil {
				t.Fatal(err)
			}
			// Everything runs as the model has it, but nginx's image, which the fake lacks.
			var changed []string
			if tc.edgeChanged {
				changed = []string{"edge"}
			}
			running(t, r, c, e, st, []string{"nginx"}, changed)
			var err error
			_, err = r.Up(context.Background(), UpOptions{})
			if (err != nil) != (tc.fail != "" || tc.crashes) {
				t.Fatalf("up: %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), "nginx keeps serving") {
				t.Errorf("the error does not say the old nginx serves: %v", err)
			}
			if tc.crashes && !strings.Contains(err.Error(), "nginx-b exited with code 1 and was restarted") {
				t.Errorf("the error does not say the new nginx crashed: %v", err)
			}
			if !slices.Equal(c.calls, tc.want) {
				t.Errorf("calls = %q\nwant    %q", c.calls, tc.want)
			}
			if got, _ := r.State.Load(st.Name); got.FrontSlot != tc.slot {
				t.Errorf("front slot %d, want %d", got.FrontSlot, tc.slot)
			}
		})
	}
}

// TestFitKernel: the edge keeps the sysctl that migrates queued connections on
// a kernel that has it, and loses it on one that has not (it could not start).
func TestFitKernel(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	for kernel, keeps := range map[string]bool{
		"6.18.44-fc-v669": true, "5.14.0-70.13.1.el9_0.x86_64": true, "6.1.0-28-amd64": true,
		"4.18.0-553.el8_10.x86_64": false, "5.10.0-33-amd64": false, "unknown": true,
	} {
		r := Runner{Stack: st, Compose: &fakeCompose{}, Engine: &fakeEngine{kernel: kernel}, Build: repoRoot(t), State: state.Dir(t.TempDir())}
		p, err := r.load(context.Background(), catalog.ProfileUpstream, "", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := p.Services["edge"].Sysctls[catalog.MigrateReq.Sysctl]; ok != keeps {
			t.Errorf("kernel %s: the edge has %s: %v, want %v", kernel, catalog.MigrateReq.Sysctl, ok, keeps)
		}
	}
	// No engine (config with a profile given): the compose file as written.
	r := Runner{Stack: st, Compose: &fakeCompose{}, Build: repoRoot(t), State: state.Dir(t.TempDir())}
	p, err := r.load(context.Background(), catalog.ProfileUpstream, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Services["edge"].Sysctls[catalog.MigrateReq.Sysctl]; !ok {
		t.Errorf("without an engine the edge lost %s", catalog.MigrateReq.Sysctl)
	}
}

// TestSiteSettings: the site's settings reach the compose project (memory
// limits, Puma sized by the engine's CPUs unless set) and Redmine's settings
// table, before the first start (which loads the default configuration in the
// language set) and again on every up; the published address is --listen,
// else the settings file's (the command passes either as UpOptions.Listen),
// else the one recorded.
func TestSiteSettings(t *testing.T) {
	serve := func() string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		t.Cleanup(s.Close)
		return strings.TrimPrefix(s.URL, "http://")
	}
	first, second := serve(), serve()
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	c, e := &fakeCompose{}, &fakeEngine{volumes: map[string]bool{}}
	r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir()), Overrides: catalog.Overrides{
		Memory:         map[string]string{"redmine": "512m", "db": "2g"},
		PumaMinThreads: 1, PumaMaxThreads: 4,
		AppSettings: map[string]string{"default_language": "de", "host_name": "tracker.example.org", "mail_from": "it's@example.org"},
	}}
	if _, err := r.Up(context.Background(), UpOptions{Profile: catalog.ProfileUpstream, Listen: first}); err != nil {
		t.Fatal(err)
	}
	svc := c.created.Services
	if svc["redmine"].MemLimit != 512<<20 || svc["db"].MemLimit != 2<<30 || svc["nginx"].MemLimit != 128<<20 {
		t.Errorf("memory limits redmine %d, db %d, nginx %d; want 512m, 2g and the model's 128m",
			svc["redmine"].MemLimit, svc["db"].MemLimit, svc["nginx"].MemLimit)
	}
	env := svc["redmine"].Environment
	for k, want := range map[string]string{"WEB_CONCURRENCY": "1", "RAILS_MIN_THREADS": "1", "RAILS_MAX_THREADS": "4"} {
		if v := env[k]; v == nil || *v != want {
			t.Errorf("redmine's %s = %v, want %s (workers: the fake engine's 4 CPUs, as many as Redmine's 512m holds: 1)", k, v, want)
		}
	}
	if len(e.events) != 2 || !strings.HasPrefix(e.events[0], "settings: ") || !strings.HasSuffix(e.events[1], " /docker-entrypoint.sh") {
		t.Fatalf("execs %q: want the settings written, then the first start", e.events)
	}
	for _, want := range []string{"name = 'default_language'", "value = 'de'", "name = 'host_name'", "'it''s@example.org'", "IS DISTINCT FROM", "WHERE NOT EXISTS"} {
		if !strings.Contains(e.events[0], want) {
			t.Errorf("the settings' SQL lacks %q: %s", want, e.events[0])
		}
	}
	// Again: the settings are written again (an unchanged one is left as it is
	// by the SQL itself), the first start is not run again, the address stays.
	e.events = nil
	if _, err := r.Up(context.Background(), UpOptions{Profile: catalog.ProfileUpstream}); err != nil {
		t.Fatal(err)
	}
	if len(e.events) != 1 || !strings.HasPrefix(e.events[0], "settings: ") {
		t.Errorf("execs of a second up %q: want the settings written, alone", e.events)
	}
	for _, tc := range []struct{ listen, want string }{{"", first}, {second, second}, {"", second}} {
		if _, err := r.Up(context.Background(), UpOptions{Profile: catalog.ProfileUpstream, Listen: tc.listen}); err != nil {
			t.Fatal(err)
		}
		if rec, _ := r.State.Load(st.Name); rec.Listen != tc.want {
			t.Errorf("up with Listen %q: published on %s, want %s", tc.listen, rec.Listen, tc.want)
		}
	}
}

// TestSiteSettingsChangeTheHash: a changed memory limit or Puma size changes
// Redmine's configuration hash, so up hands Redmine over to a new container
// (changeApp); Redmine's own settings do not, being written to its database.
func TestSiteSettingsChangeTheHash(t *testing.T) {
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	hash := func(site catalog.Overrides) string {
		t.Helper()
		p, err := repoRoot(t).Load(context.Background(), st, catalog.Settings{Profile: catalog.ProfileUpstream, Listen: catalog.DefaultListen, Overrides: site})
		if err != nil {
			t.Fatal(err)
		}
		g, err := generation(st, p, 1, catalog.SlotA, catalog.SlotA)
		if err != nil {
			t.Fatal(err)
		}
		return g.Services["redmine"].CustomLabels[catalog.ConfigLabel]
	}
	two := 2
	base := hash(catalog.Overrides{})
	for name, site := range map[string]catalog.Overrides{
		"memory":  {Memory: map[string]string{"redmine": "512m"}},
		"workers": {PumaWorkers: &two},
		"threads": {PumaMinThreads: 1, PumaMaxThreads: 3},
	} {
		if hash(site) == base {
			t.Errorf("a changed %s keeps Redmine's configuration hash: no hand-over", name)
		}
	}
	if hash(catalog.Overrides{AppSettings: map[string]string{"default_language": "de"}, Memory: map[string]string{"db": "2g"}}) != base {
		t.Error("Redmine's settings, or the database's memory, change Redmine's configuration hash")
	}
	if hash(catalog.Overrides{Memory: map[string]string{"redmine": "1g"}}) != base {
		t.Error("the default memory limit, given, changes Redmine's configuration hash")
	}
}
