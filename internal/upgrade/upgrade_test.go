package upgrade

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/compose/v5/pkg/api"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/report"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
)

// fakeCompose lists the stack's containers; any other SDK call panics
// through the nil embedded interface, so a check that went on to change
// the stack fails the test.
type fakeCompose struct {
	api.Compose
	ps []api.ContainerSummary
}

func (f *fakeCompose) Ps(context.Context, string, api.PsOptions) ([]api.ContainerSummary, error) {
	return f.ps, nil
}

// fakeAPI runs programs in containers for the checks: plugins answers the
// script that prints the plugins' init.rb (code, its exit code).
type fakeAPI struct {
	client.APIClient
	plugins string
	code    int
	ran     [][]string
}

func (f *fakeAPI) ExecCreate(_ context.Context, _ string, o client.ExecCreateOptions) (client.ExecCreateResult, error) {
	f.ran = append(f.ran, o.Cmd)
	return client.ExecCreateResult{ID: "exec"}, nil
}

func (f *fakeAPI) ExecAttach(context.Context, string, client.ExecAttachOptions) (client.ExecAttachResult, error) {
	// One stdout frame of the engine's multiplexed stream: the stream's
	// number, three zero bytes, the length, the bytes.
	b := bytes.NewBuffer([]byte{byte(stdcopy.Stdout), 0, 0, 0})
	_ = binary.Write(b, binary.BigEndian, uint32(len(f.plugins)))
	b.WriteString(f.plugins)
	conn, peer := net.Pipe()
	peer.Close()
	return client.ExecAttachResult{HijackedResponse: client.HijackedResponse{Conn: conn, Reader: bufio.NewReader(b)}}, nil
}

func (f *fakeAPI) ExecInspect(context.Context, string, client.ExecInspectOptions) (client.ExecInspectResult, error) {
	return client.ExecInspectResult{ExitCode: f.code}, nil
}

// plugins is pluginsScript's output for plugins by name → init.rb line.
func plugins(lines map[string]string) string {
	var b strings.Builder
	for name, line := range lines {
		fmt.Fprintf(&b, "\n==> %s/%s/init.rb <==\nRedmine::Plugin.register :%s do\n  %s\nend\n", catalog.RedminePluginsDir, name, name, line)
	}
	return b.String()
}

// open opens stack name on a fake engine: the Compose SDK lists ps, the
// engine's API is a. Read mode: the checks under test take no lock, and
// there is nothing a stopped stackctl left to recover.
func open(t *testing.T, dir state.Dir, name string, ps []api.ContainerSummary, a *fakeAPI) *stack.Stack {
	t.Helper()
	env := stack.Env{State: dir, Connect: func(context.Context) (api.Compose, *engine.Engine, error) {
		return &fakeCompose{ps: ps}, &engine.Engine{API: a}, nil
	}}
	sk, err := stack.Open(context.Background(), env, name, stack.Read, stack.OpenOptions{Purpose: "upgrade"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sk.Close)
	return sk
}

func lookup(t *testing.T, name string) catalog.Stack {
	t.Helper()
	st, err := catalog.LookupStack(name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// onRelease is a stack on profile p whose generation 1 runs release rel, ready.
func onRelease(p catalog.Profile, rel string) *state.State {
	return &state.State{Profile: p, Active: 1, Generations: []state.Generation{{N: 1, Release: rel, Ready: true}}}
}

// TestRefused: every check that refuses an upgrade refuses it before
// anything changes, as ErrRefused with the reason and the next step; no
// upgrade is left recorded.
func TestRefused(t *testing.T) {
	serving := []api.ContainerSummary{{ID: "c-redmine", Service: "redmine", State: "running"}, {ID: "c-db", Service: "db", State: "running"}}
	for _, tc := range []struct {
		name     string
		stack    string
		rec      *state.State
		ps       []api.ContainerSummary
		o        Options
		plugins  string
		is       error
		want     string
		askedFor bool // the plugins were read
	}{
		{name: "stack without releases", stack: "nginx", rec: &state.State{Profile: catalog.ProfileDebian}, o: Options{To: "6.1"},
			want: "stack nginx has no releases to upgrade between"},
		{name: "never started", rec: &state.State{Profile: catalog.ProfileDebian}, o: Options{To: "6.1"},
			want: "stack redmine has no ready generation to upgrade: start it with 'stackctl up redmine'"},
		{name: "generation not ready", rec: &state.State{Profile: catalog.ProfileDebian, Active: 1, Generations: []state.Generation{{N: 1}}}, o: Options{To: "6.1"},
			want: "no ready generation"},
		{name: "not serving", rec: onRelease(catalog.ProfileDebian, ""), o: Options{To: "6.1"},
			want: "stack redmine must be serving to be upgraded: not running: stack redmine has no containers: start it with 'stackctl up redmine'"},
		{name: "unknown version", rec: onRelease(catalog.ProfileDebian, ""), ps: serving, o: Options{To: "7.0"}, is: errs.ErrInvalidInput,
			want: "no release of Redmine 7.0 on the debian profile: known versions are 6.0.5, 6.1.5"},
		{name: "upstream version on debian", rec: onRelease(catalog.ProfileDebian, ""), ps: serving, o: Options{To: "6.1.0"}, is: errs.ErrInvalidInput,
			want: "no release of Redmine 6.1.0 on the debian profile"},
		{name: "same release", rec: onRelease(catalog.ProfileUpstream, "6.0"), ps: serving, o: Options{To: "6.0.10"},
			want: "stack redmine runs Redmine 6.0.10 with PostgreSQL 17 already"},
		{name: "downgrade", rec: onRelease(catalog.ProfileDebian, "6.1"), ps: serving, o: Options{To: "6.0"},
			want: "Redmine 6.0.5 with PostgreSQL 17 is older than the Redmine 6.1.5 with PostgreSQL 18 stack redmine runs: Redmine cannot migrate a database down; " +
				"'stackctl rollback redmine' returns to an earlier generation"},
		{name: "other postgres", rec: onRelease(catalog.ProfileDebian, ""), ps: serving, o: Options{To: "6.1", Postgres: 17},
			want: "Redmine 6.1.5 comes with PostgreSQL 18 on stackctl's bases, not 17: leave --postgres out, or give 18"},
		{name: "plugin without support", rec: onRelease(catalog.ProfileUpstream, ""), ps: serving, o: Options{To: "6.1", Postgres: 18}, askedFor: true,
			plugins: plugins(map[string]string{"redmine_agile": "requires_redmine version: '5.0'..'6.0'"}),
			want:    "plugins that do not declare support for Redmine 6.1.0: redmine_agile (requires_redmine version: '5.0'..'6.0'): update them in the plugins volume first, or remove them"},
		{name: "plugin requirement unreadable", rec: onRelease(catalog.ProfileDebian, ""), ps: serving, o: Options{To: "6.1"}, askedFor: true,
			plugins: plugins(map[string]string{"odd": "requires_redmine Redmine::VERSION::MAJOR"}),
			want:    "plugin odd: requires_redmine Redmine::VERSION::MAJOR: stackctl cannot read this requirement: check by hand that it supports Redmine 6.1.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.stack
			if name == "" {
				name = "redmine"
			}
			dir := state.Dir(t.TempDir())
			if err := dir.Save(name, *tc.rec); err != nil {
				t.Fatal(err)
			}
			var log bytes.Buffer
			a := &fakeAPI{plugins: tc.plugins}
			tc.o.Report = report.New(&log, report.Options{})
			_, err := Run(context.Background(), open(t, dir, name, tc.ps, a), tc.o)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want ErrRefused", err)
			}
			if errors.Is(err, ErrFailed) {
				t.Errorf("a refusal was reported as a failed upgrade: %v", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want it to wrap %v too", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q\nwant it to say %q", err, tc.want)
			}
			if (len(a.ran) > 0) != tc.askedFor {
				t.Errorf("plugins read: %q, want %v", a.ran, tc.askedFor)
			}
			// The dry run refuses the same, with the same words.
			if _, perr := Plan(context.Background(), open(t, dir, name, tc.ps, &fakeAPI{plugins: tc.plugins}), tc.o); perr == nil || perr.Error() != err.Error() {
				t.Errorf("upgrade --dry-run: %v, want %v", perr, err)
			}
			rec, err := dir.Load(name)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Upgrade != nil {
				t.Errorf("a refused upgrade is recorded: %+v", rec.Upgrade)
			}
			if !strings.Contains(log.String(), "upgrade "+name+": step 1/6: checks, and the new version's images") {
				t.Errorf("log %q does not report the checks", log.String())
			}
		})
	}
}

// TestCheckPlugins: plugins that declare support for the target, or declare
// nothing, pass; the plugins are read from the plugins directory in the
// application's container; a failed read is an error, not a refusal.
func TestCheckPlugins(t *testing.T) {
	dir := state.Dir(t.TempDir())
	if err := dir.Save("redmine", *onRelease(catalog.ProfileDebian, "")); err != nil {
		t.Fatal(err)
	}
	st := lookup(t, "redmine")
	r := stack.Runner{Stack: st, Compose: &fakeCompose{ps: []api.ContainerSummary{{ID: "c-redmine", Service: "redmine", State: "running"}}}, State: dir}
	u := func(a *fakeAPI) *upgrade { return &upgrade{r: r, e: &engine.Engine{API: a}, st: st} }

	a := &fakeAPI{plugins: plugins(map[string]string{
		"redmine_agile":  "requires_redmine version_or_higher: '6.0'",
		"redmine_issues": "requires_redmine version: ['6.0', '6.1']",
		"silent":         "name 'Silent'",
	})}
	if err := u(a).checkPlugins(context.Background(), "6.1.5"); err != nil {
		t.Errorf("supported plugins refused: %v", err)
	}
	if len(a.ran) != 1 || a.ran[0][len(a.ran[0])-1] != catalog.RedminePluginsDir {
		t.Errorf("ran %q, want the plugins script on %s", a.ran, catalog.RedminePluginsDir)
	}
	if err := u(&fakeAPI{}).checkPlugins(context.Background(), "6.1.5"); err != nil {
		t.Errorf("no plugins refused: %v", err)
	}
	err := u(&fakeAPI{code: 2}).checkPlugins(context.Background(), "6.1.5")
	if err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "reading the plugins of stack redmine: sh exited with 2") {
		t.Errorf("a failed read: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	rel, err := catalog.LookupRelease("6.1")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[catalog.Profile]string{
		catalog.ProfileDebian:   "Redmine 6.1.5 with PostgreSQL 18",
		catalog.ProfileUpstream: "Redmine 6.1.0 with PostgreSQL 18",
	} {
		if got := describe(rel, p); got != want {
			t.Errorf("describe on %s = %q, want %q", p, got, want)
		}
	}
}

// TestNewPass: a pass through maintenance is 128 random bits, in hex (it
// goes into nginx's configuration and a header), never the same twice.
func TestNewPass(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		p, err := newPass()
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 32 || strings.Trim(p, "0123456789abcdef") != "" {
			t.Fatalf("pass %q is not 32 hex digits", p)
		}
		if seen[p] {
			t.Fatalf("pass %q twice", p)
		}
		seen[p] = true
	}
}

// TestStatfsFree: the room of a backup directory not made yet is its
// nearest existing parent's; a path that cannot exist has none to ask.
func TestStatfsFree(t *testing.T) {
	dir := t.TempDir()
	parent, ok := statfsFree(dir)
	if !ok || parent <= 0 {
		t.Fatalf("statfsFree(%s) = %d, %v", dir, parent, ok)
	}
	if free, ok := statfsFree(filepath.Join(dir, "backups", "pre-upgrade")); !ok || free <= 0 {
		t.Errorf("a directory to be made: %d, %v, want its parent's room", free, ok)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if free, ok := statfsFree(filepath.Join(file, "pre-upgrade")); ok {
		t.Errorf("under a file: %d, want none", free)
	}
}
