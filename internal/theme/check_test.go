package theme

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
)

// themesImage is an image's themes directory: each theme's folder as the
// engine's archive API gives it.
type themesImage map[string]tarImage

func (img themesImage) ImageTar(ctx context.Context, image, p string) (io.ReadCloser, error) {
	return img[path.Base(p)].ImageTar(ctx, image, p)
}

// inImage is an image holding the themes ids as TestCheckLayers writes them.
func inImage(ids ...string) themesImage {
	img := themesImage{}
	for _, id := range ids {
		img[id] = tarImage{entries: []tar.Header{
			{Name: id + "/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: id + "/stylesheets/", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: id + "/stylesheets/application.css", Typeflag: tar.TypeReg, Mode: 0o644},
		}}
	}
	return img
}

// noImage is an engine without the image.
type noImage struct{}

func (noImage) ImageTar(_ context.Context, image, _ string) (io.ReadCloser, error) {
	return nil, fmt.Errorf("No such image: %s", image)
}

// fakeSite hands the check its client of the fake Redmine.
type fakeSite struct {
	c   *Client
	url string
	err error
}

func (s fakeSite) Client(context.Context) (*Client, string, error) { return s.c, s.url, s.err }

// TestCheckLayers: the layers run in order, each reported per theme, and the
// check stops at the first that fails with that layer's sentinel error; the
// engine is not reached while a source is broken.
func TestCheckLayers(t *testing.T) {
	target := ImageTarget{Image: "stackctl/redmine:debian", ThemesDir: "/usr/src/redmine/themes", UID: 999, GID: 999}
	stale := inImage("harbor")
	stale["harbor"] = tarImage{entries: append(stale["harbor"].entries, tar.Header{Name: "harbor/stylesheets/old.css", Typeflag: tar.TypeReg, Mode: 0o644})}
	for _, tc := range []struct {
		name       string
		themes     []string
		broken     string // a theme folder without its stylesheet
		apply      bool
		screenshot string
		connectErr error
		image      ImageReader // nil: the themes, intact
		siteErr    error
		r          *redmine // nil: one offering every theme, password "pw"
		password   string   // the client's; "": "pw"
		want       []string // the reports, "theme layer ok|FAILED"
		is         error    // nil: the check passes
		says       string   // in the error, or else in the last report
	}{
		{name: "apply takes one theme", themes: []string{"harbor", "classic"}, apply: true,
			is: ErrSource, says: "--apply and --screenshot take one theme: name it with --theme"},
		{name: "screenshot takes one theme", themes: []string{"harbor", "classic"}, screenshot: "x.png",
			is: ErrSource, says: "take one theme"},
		{name: "broken source", themes: []string{"harbor", "ocean"}, broken: "ocean",
			want: []string{"harbor source ok", "ocean source FAILED"}, is: ErrSource, says: "stylesheets/application.css is missing"},
		{name: "engine unreachable", themes: []string{"harbor"}, connectErr: fmt.Errorf("%w: cannot reach the Docker engine", errs.ErrUnavailable),
			want: []string{"harbor source ok"}, is: errs.ErrUnavailable},
		{name: "not in the image", themes: []string{"harbor"}, image: noImage{},
			want: []string{"harbor source ok", "harbor image FAILED"}, is: ErrImage, says: "rebuild with 'stackctl up redmine'"},
		{name: "stale image", themes: []string{"harbor"}, image: stale,
			want: []string{"harbor source ok", "harbor image FAILED"}, is: ErrStale, says: "stylesheets/old.css (extra)"},
		{name: "no client", themes: []string{"harbor"}, siteErr: fmt.Errorf("%w: reading the administrator's password", ErrLogin),
			want: []string{"harbor source ok", "harbor image ok"}, is: ErrLogin},
		{name: "login refused", themes: []string{"harbor"}, password: "guess",
			want: []string{"harbor source ok", "harbor image ok", "harbor settings FAILED"}, is: ErrLogin, says: "--admin-password-file"},
		{name: "settings closed", themes: []string{"harbor"}, r: &redmine{password: "pw", notAdmin: true},
			want: []string{"harbor source ok", "harbor image ok", "harbor settings FAILED"}, is: ErrLogin, says: "is it an administrator?"},
		{name: "not offered", themes: []string{"harbor", "ocean"}, r: &redmine{password: "pw", themes: []string{"harbor"}},
			want: []string{"harbor source ok", "ocean source ok", "harbor image ok", "ocean image ok", "harbor settings ok", "ocean settings FAILED"},
			is:   ErrNotOffered, says: `settings?tab=display lists ["" "harbor"], not "ocean": Redmine reads themes at start; restart it with 'stackctl up redmine'`},
		{name: "offered", themes: []string{"harbor", "ocean"},
			want: []string{"harbor source ok", "ocean source ok", "harbor image ok", "ocean image ok", "harbor settings ok", "ocean settings ok"},
			says: "offered in Administration → Settings → Display at http://"},
		{name: "applied", themes: []string{"harbor"}, apply: true,
			want: []string{"harbor source ok", "harbor image ok", "harbor settings ok", "harbor apply ok"},
			says: `links themes/harbor/ and has <body class="theme-Harbor">`},
		{name: "apply refused", themes: []string{"harbor"}, apply: true, r: &redmine{password: "pw", themes: []string{"harbor"}, applyStatus: 422},
			want: []string{"harbor source ok", "harbor image ok", "harbor settings ok", "harbor apply FAILED"},
			is:   ErrNotApplied, says: "HTTP 422"},
		{name: "apply does not take", themes: []string{"harbor"}, apply: true, r: &redmine{password: "pw", themes: []string{"harbor"}, ignoreApply: true},
			want: []string{"harbor source ok", "harbor image ok", "harbor settings ok", "harbor apply FAILED"},
			is:   ErrNotApplied, says: "links no stylesheet under themes/harbor/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var themes []Theme
			for _, id := range tc.themes {
				th := Theme{ID: id, Dir: filepath.Join(dir, id)}
				files := map[string]string{"stylesheets/application.css": "body of " + id + "/stylesheets/application.css"}
				if id == tc.broken {
					files = map[string]string{"README.md": "a theme"}
				}
				write(t, th.Dir, files)
				themes = append(themes, th)
			}
			r := tc.r
			if r == nil {
				r = &redmine{password: "pw", themes: tc.themes}
			}
			password := tc.password
			if password == "" {
				password = "pw"
			}
			client, url := r.serve(t, password)
			image := tc.image
			if image == nil {
				image = inImage(tc.themes...)
			}
			connects := 0
			var got []string
			var last Result
			c := Check{
				Themes: themes, Apply: tc.apply, Screenshot: tc.screenshot,
				Connect: func(context.Context) (Backend, error) {
					connects++
					return Backend{Image: image, Target: target, Site: fakeSite{c: client, url: url, err: tc.siteErr}}, tc.connectErr
				},
				Report: func(r Result) {
					state := "ok"
					if !r.OK {
						state = "FAILED"
					}
					got = append(got, fmt.Sprintf("%s %s %s", r.Theme, r.Layer, state))
					last = r
				},
			}
			err := c.Run(context.Background())
			if !slices.Equal(got, tc.want) {
				t.Errorf("reports:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if errors.Is(err, ErrSource) && connects != 0 {
				t.Errorf("the engine was reached %d times though the source layer failed", connects)
			}
			if tc.is == nil {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if !strings.Contains(last.Detail, tc.says) {
					t.Fatalf("last report %+v, want it saying %q", last, tc.says)
				}
				return
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Run = %v, want %v saying %q", err, tc.is, tc.says)
			}
			if len(got) > 0 && !last.OK && last.Detail != err.Error() {
				t.Errorf("the failed layer reports %q, the error says %q", last.Detail, err.Error())
			}
		})
	}
}

// TestCheckWithoutReport: a check nobody listens to still runs and fails.
func TestCheckWithoutReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "harbor")
	write(t, dir, map[string]string{"stylesheets/application.css": ""})
	err := Check{Themes: []Theme{{ID: "harbor", Dir: dir}}}.Run(context.Background())
	if !errors.Is(err, ErrSource) || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("Run = %v, want ErrSource saying the stylesheet is empty", err)
	}
}
