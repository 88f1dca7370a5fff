package basebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/report"
)

// fakeEngine is an in-memory image store with the Images interface.
type fakeEngine struct {
	mu      sync.Mutex
	images  map[string]engine.ImageInfo // by ID
	tags    map[string]string           // ref -> ID
	imports int
	n       int
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{images: map[string]engine.ImageInfo{}, tags: map[string]string{}}
}

func (f *fakeEngine) Image(_ context.Context, ref string) (engine.ImageInfo, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.tags[ref]; ok {
		ref = id
	}
	info, ok := f.images[ref]
	return info, ok, nil
}

func (f *fakeEngine) Import(_ context.Context, r io.Reader, changes []string) (string, error) {
	data, err := io.ReadAll(r) // like the engine, fail when the stream breaks
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imports++
	f.n++
	id := fmt.Sprintf("sha256:%064d", f.n)
	labels := map[string]string{}
	for _, c := range changes {
		if rest, ok := strings.CutPrefix(c, "LABEL "); ok {
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				labels[k] = v
			}
		}
	}
	// Like a real engine may, store what arrived even when the stream then broke:
	// the builder must find and remove it without being told its ID.
	f.images[id] = engine.ImageInfo{ID: id, Labels: labels, Size: int64(len(data))}
	if err != nil {
		return "", fmt.Errorf("import: %w", err)
	}
	return id, nil
}

func (f *fakeEngine) Tag(_ context.Context, id, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tags[ref] = id
	return nil
}

func (f *fakeEngine) Untagged(_ context.Context, key, value string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tagged := map[string]bool{}
	for _, id := range f.tags {
		tagged[id] = true
	}
	var ids []string
	for id, info := range f.images {
		if !tagged[id] && info.Labels[key] == value {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (f *fakeEngine) RemoveImage(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, id)
	return nil
}

// mirror serves a suite's InRelease, its updates' and its security
// archive's, as a Debian mirror does, with status.
func mirror(t *testing.T, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/debian/dists/trixie/InRelease", "/debian/dists/trixie-updates/InRelease", "/debian-security/dists/trixie-security/InRelease":
			w.WriteHeader(status)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/debian"
}

func fakeTool(t *testing.T, exit int) string {
	t.Helper()
	t.Setenv("FAKE_MMDEBSTRAP_EXIT", fmt.Sprint(exit))
	p, err := filepath.Abs("testdata/fake-mmdebstrap")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuilderBuildsAndTags(t *testing.T) {
	eng := newFakeEngine()
	var log bytes.Buffer
	bb := Builder{Engine: eng, Mirror: mirror(t, http.StatusOK), Mmdebstrap: fakeTool(t, 0), Report: report.New(&log, report.Options{})}
	res, err := bb.Ensure(context.Background(), nginxBase(t))
	if err != nil {
		t.Fatalf("Ensure: %v\n%s", err, log.String())
	}
	if !res.Built || res.Ref != "stackctl/base-nginx:trixie" {
		t.Fatalf("result = %+v, want a fresh build of stackctl/base-nginx:trixie", res)
	}
	info, ok, _ := eng.Image(context.Background(), res.Ref)
	if !ok || info.Labels[LabelRecipe] != nginxBase(t).Recipe.Hash() || info.Labels[LabelBase] != "nginx" {
		t.Fatalf("tagged image labels = %v, want the recipe hash and base name", info.Labels)
	}
	if !strings.Contains(log.String(), "base nginx | I: fake mmdebstrap") {
		t.Errorf("mmdebstrap's output was not relayed with a prefix:\n%s", log.String())
	}

	// Same recipe again: nothing is rebuilt.
	res, err = bb.Ensure(context.Background(), nginxBase(t))
	if err != nil || res.Built || eng.imports != 1 {
		t.Fatalf("second Ensure = %+v, %v after %d imports; want up to date with one import", res, err, eng.imports)
	}

	// A changed recipe is rebuilt.
	changed := nginxBase(t)
	changed.Recipe.Packages = append([]string{"curl"}, changed.Recipe.Packages...)
	if res, err = bb.Ensure(context.Background(), changed); err != nil || !res.Built || eng.imports != 2 {
		t.Fatalf("Ensure of a changed recipe = %+v, %v; want a rebuild", res, err)
	}
}

func TestBuilderFailuresLeaveNoTag(t *testing.T) {
	for _, tc := range []struct {
		name     string
		mirror   int
		tool     int
		missing  bool
		wantErr  error
		imported bool
	}{
		{name: "mirror unreachable", mirror: -1, wantErr: errs.ErrUnavailable},
		{name: "mirror lacks the suite", mirror: http.StatusNotFound, wantErr: errs.ErrUnavailable},
		{name: "mmdebstrap missing", mirror: http.StatusOK, missing: true, wantErr: errs.ErrUnavailable},
		{name: "mmdebstrap fails after writing", mirror: http.StatusOK, tool: 1, imported: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := newFakeEngine()
			bb := Builder{Engine: eng, Mmdebstrap: fakeTool(t, tc.tool)}
			switch tc.mirror {
			case -1:
				bb.Mirror = "http://127.0.0.1:1/debian" // nothing listens on port 1
			default:
				bb.Mirror = mirror(t, tc.mirror)
			}
			if tc.missing {
				bb.Mmdebstrap = filepath.Join(t.TempDir(), "mmdebstrap")
			}
			_, err := bb.Ensure(context.Background(), nginxBase(t))
			if err == nil {
				t.Fatal("Ensure succeeded, want an error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if len(eng.tags) != 0 {
				t.Fatalf("tags after a failed build = %v, want none", eng.tags)
			}
			if len(eng.images) != 0 {
				t.Fatalf("images left after a failed build = %v, want none", eng.images)
			}
			if tc.imported && eng.imports == 0 {
				t.Fatal("the failure was meant to happen during the import")
			}
		})
	}
}

func TestMmdebstrapArgs(t *testing.T) {
	r := nginxBase(t).Recipe
	r.Essential = "true"
	r.Files = map[string]string{"/usr/local/bin/entry": "#!/bin/sh\n"}
	got := strings.Join(mmdebstrapArgs(r, Sources{Mirror: "http://m/debian", Security: "http://m/debian-security"}, "/tmp/r"), " ")
	for _, want := range []string{
		"--variant=essential", "--include=nginx,busybox", "--format=tar", "--skip=output/dev",
		"--dpkgopt=path-exclude=/usr/share/doc/*",
		`--essential-hook=/bin/sh -eu '/tmp/r/essential.sh' "$1"`,
		`--customize-hook=install -D -m 0755 '/tmp/r/files/usr/local/bin/entry' "$1/usr/local/bin/entry" --customize-hook=/bin/sh -eu '/tmp/r/customize.sh' "$1"`,
		"trixie - deb http://m/debian trixie main deb http://m/debian trixie-updates main deb http://m/debian-security trixie-security main",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("mmdebstrap args lack %q:\n%s", want, got)
		}
	}
}

// The security archive is found beside the main one, named, or left out on
// purpose; a mirror that lacks a suite is named with the way out.
func TestSources(t *testing.T) {
	t.Setenv(SecurityMirrorEnv, "")
	for _, tc := range []struct {
		mirror, security string
		want             Sources
		alone            bool
		err              string
	}{
		{mirror: "http://deb.debian.org/debian/", want: Sources{"http://deb.debian.org/debian", "http://deb.debian.org/debian-security"}},
		{mirror: "http://m.example/debian", security: "http://s.example/sec/", want: Sources{"http://m.example/debian", "http://s.example/sec"}},
		{mirror: "http://m.example/debian", security: "none", want: Sources{Mirror: "http://m.example/debian"}, alone: true},
		{mirror: "http://m.example/pool", err: SecurityMirrorEnv},
	} {
		got, alone, err := NewSources(tc.mirror, tc.security)
		if tc.err != "" {
			if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error naming %s", tc.mirror, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || alone != tc.alone {
			t.Errorf("%s %s: %+v %v %v, want %+v %v", tc.mirror, tc.security, got, alone, err, tc.want, tc.alone)
		}
	}
	t.Setenv(SecurityMirrorEnv, "none")
	if _, alone, _ := NewSources("http://m/debian", ""); !alone {
		t.Error("the environment's none is not taken")
	}

	// A mirror that serves trixie and trixie-updates, and no security archive.
	served := map[string]bool{"/debian/dists/trixie/InRelease": true, "/debian/dists/trixie-updates/InRelease": true}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !served[r.URL.Path] {
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	r := nginxBase(t).Recipe
	src := Sources{Mirror: srv.URL + "/debian", Security: srv.URL + "/debian-security"}
	err := src.Check(context.Background(), r)
	if !errors.Is(err, errs.ErrUnavailable) || !strings.Contains(err.Error(), "trixie-security") || !strings.Contains(err.Error(), SecurityMirrorEnv) {
		t.Errorf("no security archive: %v", err)
	}
	r.SuiteAlone = true
	if err := src.Check(context.Background(), r); err != nil {
		t.Errorf("the suite alone, served: %v", err)
	}
	if r.Hash() == nginxBase(t).Recipe.Hash() {
		t.Error("a base built from the suite alone has the recipe hash of one built with its updates")
	}
}

var _ Images = (*fakeEngine)(nil)

func nginxBase(t *testing.T) catalog.Base {
	t.Helper()
	b, err := catalog.LookupBase("nginx")
	if err != nil {
		t.Fatal(err)
	}
	return b
}
