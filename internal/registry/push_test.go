package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"strings"
	"testing"

	"github.com/docker/cli/cli/config/configfile"
	configtypes "github.com/docker/cli/cli/config/types"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/errs"
)

// errNoImage is the engine's answer for an image it does not have.
var errNoImage = errors.New("No such image: stackctl/redmine:upstream")

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestParseTarget: a target names a registry, a repository and a tag, and
// every other form is refused as invalid input with an example to follow.
func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		name, in           string
		registry, familiar string
		want               string // the refusal's message, "" for none
	}{
		{name: "full", in: "registry.example.com/team/redmine:6.0", registry: "registry.example.com", familiar: "registry.example.com/team/redmine:6.0"},
		{name: "docker hub", in: "team/redmine:6.0", registry: "docker.io", familiar: "team/redmine:6.0"},
		{name: "docker hub spelled out", in: "docker.io/team/redmine:6.0", registry: "docker.io", familiar: "team/redmine:6.0"},
		{name: "port", in: "localhost:5000/redmine:6.1-b", registry: "localhost:5000", familiar: "localhost:5000/redmine:6.1-b"},
		{name: "no tag", in: "registry.example.com/team/redmine", want: `has no tag: give one, such as registry.example.com/team/redmine:6.0`},
		{name: "digest", in: "team/redmine@" + digest, want: "a digest names what a registry holds, not where to push"},
		{name: "tag and digest", in: "team/redmine:6.0@" + digest, want: "a digest names"},
		{name: "upper case", in: "Team/Redmine:6.0", want: "give REGISTRY/REPOSITORY:TAG"},
		{name: "empty", in: "", want: "give REGISTRY/REPOSITORY:TAG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTarget(tc.in)
			if tc.want != "" {
				if !errors.Is(err, errs.ErrInvalidInput) {
					t.Fatalf("err = %v, want errs.ErrInvalidInput", err)
				}
				if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--to") {
					t.Errorf("err = %q, want it to name --to and say %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Registry() != tc.registry || got.String() != tc.familiar {
				t.Errorf("registry %q, %q; want %q, %q", got.Registry(), got.String(), tc.registry, tc.familiar)
			}
		})
	}
}

// fakeAPI is the engine as a push sees it; any other call panics through the
// nil embedded interface.
type fakeAPI struct {
	client.APIClient
	missing bool   // the image to push is not in the engine
	tagErr  error  // ImageTag fails
	pushErr error  // ImagePush fails before it streams
	stream  string // the push's JSON messages

	calls []string
	auth  string // RegistryAuth the push carried
}

func (f *fakeAPI) ImageInspect(_ context.Context, image string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	f.calls = append(f.calls, "inspect "+image)
	if f.missing {
		return client.ImageInspectResult{}, errNoImage
	}
	return client.ImageInspectResult{}, nil
}

func (f *fakeAPI) ImageTag(_ context.Context, o client.ImageTagOptions) (client.ImageTagResult, error) {
	f.calls = append(f.calls, "tag "+o.Source+" "+o.Target)
	return client.ImageTagResult{}, f.tagErr
}

func (f *fakeAPI) ImagePush(_ context.Context, ref string, o client.ImagePushOptions) (client.ImagePushResponse, error) {
	f.calls = append(f.calls, "push "+ref)
	f.auth = o.RegistryAuth
	if f.pushErr != nil {
		return nil, f.pushErr
	}
	return &pushStream{Reader: strings.NewReader(f.stream)}, nil
}

// pushStream is the engine's answer to a push: JSON messages, one a line.
type pushStream struct {
	io.Reader
	closed bool
}

func (p *pushStream) Close() error { p.closed = true; return nil }

func (p *pushStream) Wait(context.Context) error { return nil }

func (p *pushStream) JSONMessages(context.Context) iter.Seq2[jsonstream.Message, error] {
	return func(yield func(jsonstream.Message, error) bool) {
		dec := json.NewDecoder(p.Reader)
		for {
			var m jsonstream.Message
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) || !yield(m, err) || err != nil {
				return
			}
		}
	}
}

// messages is a push's stream: progress lines, then the digest the
// registry holds the image under (or an error).
func messages(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

var (
	pushing = `{"status":"Pushing","id":"a1b2c3","progressDetail":{"current":512,"total":1024}}`
	pushed  = `{"status":"6.0: digest: ` + digest + ` size: 1234"}`
	aux     = `{"progressDetail":{},"aux":{"Tag":"6.0","Digest":"` + digest + `","Size":1234}}`
)

// hermetic keeps the operator's own Docker configuration and credential
// helpers out of a test.
func hermetic(t *testing.T) {
	t.Setenv("DOCKER_AUTH_CONFIG", "")
	t.Setenv("PATH", t.TempDir())
}

func target(t *testing.T, s string) Target {
	t.Helper()
	tg, err := ParseTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestPush: the image is tagged as the target, pushed with the credentials
// the Docker configuration holds for its registry, and the digest the engine
// reports comes back with the reference by digest.
func TestPush(t *testing.T) {
	hermetic(t)
	for _, tc := range []struct {
		name, to, authKey string
		ref               string
	}{
		{"own registry", "registry.example.com/team/redmine:6.0", "registry.example.com", "registry.example.com/team/redmine@" + digest},
		// Docker Hub's credentials are kept under its v1 index address.
		{"docker hub", "team/redmine:6.0", "https://index.docker.io/v1/", "docker.io/team/redmine@" + digest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeAPI{stream: messages(pushing, pushed, aux)}
			cfg := configfile.New("")
			cfg.AuthConfigs[tc.authKey] = configtypes.AuthConfig{Username: "ci", Password: "s3cret", ServerAddress: tc.authKey}
			var progress bytes.Buffer
			p := Pusher{API: api, Config: cfg, Progress: &progress}
			tg := target(t, tc.to)
			res, err := p.Push(context.Background(), "stackctl/redmine:upstream", tg)
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != digest || res.Ref != tc.ref {
				t.Errorf("result = %+v, want %s", res, tc.ref)
			}
			want := []string{"inspect stackctl/redmine:upstream", "tag stackctl/redmine:upstream " + tg.String(), "push " + tg.String()}
			if strings.Join(api.calls, "; ") != strings.Join(want, "; ") {
				t.Errorf("calls %q, want %q", api.calls, want)
			}
			a, err := authconfig.Decode(api.auth)
			if err != nil || a.Username != "ci" || a.Password != "s3cret" {
				t.Errorf("the push carried credentials %+v (%v), want the configuration's for %s", a, err, tg.Registry())
			}
			if !strings.Contains(progress.String(), "6.0: digest: "+digest) {
				t.Errorf("the engine's progress did not reach Progress: %q", progress.String())
			}
		})
	}
}

// TestPushFails: each way a push fails, with the sentinel the exit code is
// chosen by and the operator's next step.
func TestPushFails(t *testing.T) {
	hermetic(t)
	loggedIn := func(key string) *configfile.ConfigFile {
		cfg := configfile.New("")
		cfg.AuthConfigs[key] = configtypes.AuthConfig{Username: "ci", Password: "wrong", ServerAddress: key}
		return cfg
	}
	for _, tc := range []struct {
		name   string
		to     string
		cfg    *configfile.ConfigFile
		api    *fakeAPI
		is     error
		not    []error
		want   []string
		pushed bool // the push was asked of the engine
	}{
		{name: "no such image", api: &fakeAPI{missing: true}, is: errNoImage},
		{name: "tag fails", api: &fakeAPI{tagErr: errors.New("invalid reference")},
			want: []string{"tagging stackctl/redmine:upstream as registry.example.com/team/redmine:6.0: invalid reference"}},
		{name: "credential store fails", cfg: &configfile.ConfigFile{CredentialsStore: "stackctl-test-missing", AuthConfigs: map[string]configtypes.AuthConfig{}},
			api: &fakeAPI{}, is: ErrAuth,
			want: []string{"reading the credentials for registry.example.com from the Docker configuration",
				"fix the credential store, or run 'docker login registry.example.com' again"}},
		{name: "not logged in", api: &fakeAPI{pushErr: errors.New("unauthorized: authentication required")}, is: ErrAuth, pushed: true,
			want: []string{"unauthorized: authentication required", "not logged in to registry.example.com: run 'docker login registry.example.com'"}},
		{name: "not logged in to docker hub", to: "team/redmine:6.0", api: &fakeAPI{pushErr: errors.New("no basic auth credentials")}, is: ErrAuth, pushed: true,
			want: []string{"not logged in to docker.io: run 'docker login' ("}},
		{name: "wrong credentials", cfg: loggedIn("registry.example.com"), api: &fakeAPI{pushErr: errors.New("Incorrect username or password")}, is: ErrAuth, pushed: true,
			want: []string{"the credentials for registry.example.com in the Docker configuration are wrong or lack push access to registry.example.com/team/redmine: run 'docker login registry.example.com' again"}},
		{name: "docker hub credentials wrong", to: "team/redmine:6.0", cfg: loggedIn("https://index.docker.io/v1/"),
			api: &fakeAPI{pushErr: errors.New("unauthorized: incorrect username or password")}, is: ErrAuth, pushed: true,
			want: []string{"are wrong or lack push access to docker.io/team/redmine: run 'docker login' again"}},
		// Credentials for another registry: stackctl cannot tell that none are meant for this one.
		{name: "logged in elsewhere", cfg: loggedIn("other.example.com"), api: &fakeAPI{pushErr: errors.New("unauthorized")}, is: ErrAuth, pushed: true,
			want: []string{"are wrong or lack push access"}},
		// The engine reports a refusal mid-push as an error message in the stream.
		{name: "denied in the stream", cfg: loggedIn("registry.example.com"),
			api: &fakeAPI{stream: messages(pushing, `{"errorDetail":{"message":"denied: requested access to the resource is denied"},"error":"denied: requested access to the resource is denied"}`)},
			is:  ErrAuth, pushed: true, want: []string{"denied: requested access to the resource is denied", "lack push access"}},
		{name: "registry down", api: &fakeAPI{pushErr: errors.New("Get \"https://registry.example.com/v2/\": dial tcp 192.0.2.1:443: connect: connection refused")},
			is: errs.ErrUnavailable, not: []error{ErrAuth}, pushed: true, want: []string{"registry registry.example.com cannot be reached from the Docker engine", "connection refused"}},
		{name: "plain http registry", api: &fakeAPI{stream: messages(`{"errorDetail":{"message":"http: server gave HTTP response to HTTPS client"}}`)},
			is: errs.ErrUnavailable, pushed: true, want: []string{"cannot be reached"}},
		{name: "other failure", api: &fakeAPI{stream: messages(pushing, `{"errorDetail":{"message":"blob upload unknown"}}`)},
			not: []error{ErrAuth, errs.ErrUnavailable}, pushed: true, want: []string{"pushing registry.example.com/team/redmine:6.0: blob upload unknown"}},
		{name: "no digest", api: &fakeAPI{stream: messages(pushing)}, not: []error{ErrAuth, errs.ErrUnavailable}, pushed: true,
			want: []string{"pushing registry.example.com/team/redmine:6.0: the engine reported no digest"}},
		{name: "damaged stream", api: &fakeAPI{stream: "{not json"}, not: []error{ErrAuth, errs.ErrUnavailable}, pushed: true,
			want: []string{"pushing registry.example.com/team/redmine:6.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == nil {
				cfg = configfile.New("")
			}
			to := tc.to
			if to == "" {
				to = "registry.example.com/team/redmine:6.0"
			}
			p := Pusher{API: tc.api, Config: cfg, Progress: io.Discard}
			res, err := p.Push(context.Background(), "stackctl/redmine:upstream", target(t, to))
			if err == nil {
				t.Fatalf("pushed: %+v", res)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			for _, not := range tc.not {
				if errors.Is(err, not) {
					t.Errorf("err = %v, must not be %v", err, not)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q\nwant it to say %q", err, w)
				}
			}
			if pushed := strings.Contains(strings.Join(tc.api.calls, ";"), "push "); pushed != tc.pushed {
				t.Errorf("push asked of the engine: %v, want %v (calls %q)", pushed, tc.pushed, tc.api.calls)
			}
		})
	}
}
