package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"
)

// Runner runs stacks through the Compose SDK, in-process.
type Runner struct {
	Compose api.Compose
	Engine  Engine
	Root    Root
	State   StateDir
	// Log receives stackctl's own progress lines (the SDK renders its own events).
	Log io.Writer
}

// UpOptions are the operator's choices for Up.
type UpOptions struct {
	Profile Profile
	// Listen overrides the recorded or default host address:port; empty keeps it.
	Listen string
	// Mirror and RebuildBases apply to debian bases.
	Mirror       string
	RebuildBases bool
	// Timeout bounds the wait for the stack to become healthy and answer.
	Timeout time.Duration
	// NoWait returns once containers are created and started, without waiting
	// for health; a first start's configuration then waits for the next up.
	NoWait bool
}

// UpResult is what Up reports back.
type UpResult struct {
	Choice Choice
	URL    string
	// AdminPasswordFile holds the generated administrator password, for stacks that have one.
	AdminPasswordFile string
}

// Up builds what is missing, starts the stack, waits until every service is
// healthy and the entry URL answers, and records the profile on first start.
func (r Runner) Up(ctx context.Context, st Stack, o UpOptions) (UpResult, error) {
	prep, err := r.prepare(ctx, st, o)
	if err != nil {
		return UpResult{}, err
	}
	timeout := upTimeout(o)
	err = r.Compose.Up(ctx, prep.Project, api.UpOptions{
		Create: createOptions(&api.BuildOptions{Deps: true}),
		Start:  api.StartOptions{Project: prep.Project, Wait: !o.NoWait, WaitTimeout: timeout},
	})
	if err != nil {
		return UpResult{}, fmt.Errorf("starting %s: %w", st.Name, err)
	}
	url, err := entryURL(prep.State.Listen)
	if err != nil {
		return UpResult{}, err
	}
	if o.NoWait {
		return UpResult{Choice: prep.Choice, URL: url}, nil
	}
	if err := waitHTTP(ctx, url, timeout); err != nil {
		return UpResult{}, fmt.Errorf("stack %s started but %s does not answer: %w: see 'stackctl logs %s'", st.Name, url, err, st.Name)
	}
	if st.configure != nil && !prep.State.Configured {
		if err := st.configure(ctx, r, st); err != nil {
			return UpResult{}, err
		}
		prep.State.Configured = true
		if err := r.State.Save(st.Name, prep.State); err != nil {
			return UpResult{}, err
		}
	}
	res := UpResult{Choice: prep.Choice, URL: url}
	if slices.ContainsFunc(st.secrets, func(s Secret) bool { return s.Name == secretAdminPassword.Name }) {
		res.AdminPasswordFile = r.State.SecretPath(st.Name, secretAdminPassword.Name)
	}
	return res, nil
}

// Prepared is a stack ready to be created: profile chosen and recorded, bases
// and secrets in place, compose project loaded.
type Prepared struct {
	Choice  Choice
	State   State
	Project *types.Project
}

// prepare chooses the profile, builds missing debian bases, generates missing
// secrets, loads the project and records the profile.
func (r Runner) prepare(ctx context.Context, st Stack, o UpOptions) (Prepared, error) {
	state, err := r.State.Load(st.Name)
	if err != nil {
		return Prepared{}, err
	}
	choice, err := ChooseProfile(ctx, st, o.Profile, state.Profile, r.Engine)
	if err != nil {
		return Prepared{}, err
	}
	r.logf("stack %s: base %s (%s)", st.Name, choice.Profile, choice.Reason)
	if choice.Profile == ProfileDebian {
		bb := BaseBuilder{Engine: r.Engine, Mirror: o.Mirror, Force: o.RebuildBases, Log: r.Log}
		for _, b := range st.Bases() {
			if _, err := bb.Ensure(ctx, b); err != nil {
				return Prepared{}, err
			}
		}
	}
	if err := r.State.EnsureSecrets(st); err != nil {
		return Prepared{}, err
	}
	set := r.settings(st, choice.Profile, firstNonEmpty(o.Listen, state.Listen))
	p, err := r.Root.Load(ctx, st, set)
	if err != nil {
		return Prepared{}, err
	}
	if state.Profile == "" {
		state.FirstUpAt = time.Now().UTC()
	}
	state.Profile, state.Listen = choice.Profile, set.Listen
	if err := r.State.Save(st.Name, state); err != nil {
		return Prepared{}, fmt.Errorf("recording the profile of %s: %w", st.Name, err)
	}
	return Prepared{Choice: choice, State: state, Project: p}, nil
}

// Build prepares the stack as Up does and builds its images, creating no
// container or volume: a restore checks the images before it changes anything.
func (r Runner) Build(ctx context.Context, st Stack, o UpOptions) (Prepared, error) {
	prep, err := r.prepare(ctx, st, o)
	if err != nil {
		return Prepared{}, err
	}
	if err := r.Compose.Build(ctx, prep.Project, api.BuildOptions{Deps: true}); err != nil {
		return Prepared{}, fmt.Errorf("building %s: %w", st.Name, err)
	}
	return prep, nil
}

// Create creates the prepared stack's volumes, network and containers without starting them.
func (r Runner) Create(ctx context.Context, prep Prepared) error {
	if err := r.Compose.Create(ctx, prep.Project, createOptions(nil)); err != nil {
		return fmt.Errorf("creating %s: %w", prep.Project.Name, err)
	}
	return nil
}

// Start starts the named services of the prepared stack (all when none are
// named) and waits until they are healthy.
func (r Runner) Start(ctx context.Context, prep Prepared, timeout time.Duration, services ...string) error {
	if timeout == 0 {
		timeout = defaultTimeout
	}
	p := prep.Project
	if len(services) > 0 {
		// The SDK starts every service of the project it is given: select first.
		var err error
		if p, err = p.WithSelectedServices(services); err != nil {
			return fmt.Errorf("starting %s: %w", p.Name, err)
		}
	}
	err := r.Compose.Start(ctx, p.Name, api.StartOptions{Project: p, Wait: true, WaitTimeout: timeout})
	if err != nil {
		return fmt.Errorf("starting %s: %w", prep.Project.Name, err)
	}
	return nil
}

// WaitEntry waits until the prepared stack's entry URL answers and returns it.
func (r Runner) WaitEntry(ctx context.Context, prep Prepared, timeout time.Duration) (string, error) {
	url, err := entryURL(prep.State.Listen)
	if err != nil {
		return "", err
	}
	if timeout == 0 {
		timeout = defaultTimeout
	}
	if err := waitHTTP(ctx, url, timeout); err != nil {
		return "", fmt.Errorf("%s does not answer: %w: see 'stackctl logs %s'", url, err, prep.Project.Name)
	}
	return url, nil
}

// MarkConfigured records that the stack's first-start configuration is in its
// data already (restored from a backup), so that up does not redo it.
func (r Runner) MarkConfigured(st Stack, prep Prepared) error {
	prep.State.Configured = true
	return r.State.Save(st.Name, prep.State)
}

const defaultTimeout = 5 * time.Minute

func upTimeout(o UpOptions) time.Duration {
	if o.Timeout == 0 {
		return defaultTimeout
	}
	return o.Timeout
}

// createOptions recreates only what diverged from the model, so that a second
// up changes nothing.
func createOptions(build *api.BuildOptions) api.CreateOptions {
	return api.CreateOptions{
		Build:                build,
		RemoveOrphans:        true,
		Recreate:             api.RecreateDiverged,
		RecreateDependencies: api.RecreateDiverged,
	}
}

// settings are the interpolation settings of st under profile, with listen or the default.
func (r Runner) settings(st Stack, profile Profile, listen string) Settings {
	return Settings{Profile: profile, Listen: firstNonEmpty(listen, DefaultListen), SecretsDir: r.State.SecretsDir(st.Name)}
}

// Container returns the ID of the running container of service in st.
func (r Runner) Container(ctx context.Context, st Stack, service string) (string, error) {
	cs, err := r.Ps(ctx, st)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.Service == service && c.State == "running" {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("%w: service %s of stack %s is not running: see 'stackctl ps %s'", ErrNotRunning, service, st.Name, st.Name)
}

// Persistence describes the named volumes of the stack as last started.
func (r Runner) Persistence(ctx context.Context, st Stack) (Persistence, *types.Project, error) {
	p, err := r.recorded(ctx, st)
	if err != nil {
		return Persistence{}, nil, err
	}
	return PersistenceOf(st, p), p, nil
}

// Down stops and removes the stack's containers and network; with volumes it also
// removes its named volumes, and forgets the recorded profile with them.
func (r Runner) Down(ctx context.Context, st Stack, volumes bool) error {
	p, err := r.recorded(ctx, st)
	if err != nil {
		return err
	}
	if err := r.Compose.Down(ctx, p.Name, api.DownOptions{Project: p, RemoveOrphans: true, Volumes: volumes}); err != nil {
		return fmt.Errorf("stopping %s: %w", st.Name, err)
	}
	if volumes {
		return r.State.Forget(st.Name)
	}
	return nil
}

// Ps lists the stack's containers; ErrNotRunning when there are none.
func (r Runner) Ps(ctx context.Context, st Stack) ([]api.ContainerSummary, error) {
	cs, err := r.Compose.Ps(ctx, st.Project(), api.PsOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", st.Name, err)
	}
	if len(cs) == 0 {
		return nil, notRunning(st)
	}
	return cs, nil
}

// Logs streams the stack's container logs to consumer.
func (r Runner) Logs(ctx context.Context, st Stack, consumer api.LogConsumer, o api.LogOptions) error {
	if _, err := r.Ps(ctx, st); err != nil {
		return err
	}
	p, err := r.recorded(ctx, st)
	if err != nil {
		return err
	}
	o.Project = p
	return r.Compose.Logs(ctx, p.Name, consumer, o)
}

// Config returns the stack's normalized compose YAML under the given profile,
// or the recorded one when profile is auto.
func (r Runner) Config(ctx context.Context, st Stack, profile Profile) ([]byte, error) {
	state, err := r.State.Load(st.Name)
	if err != nil {
		return nil, err
	}
	choice, err := ChooseProfile(ctx, st, profile, state.Profile, r.Engine)
	if err != nil {
		return nil, err
	}
	p, err := r.Root.Load(ctx, st, r.settings(st, choice.Profile, state.Listen))
	if err != nil {
		return nil, err
	}
	return p.MarshalYAML()
}

// recorded loads the stack as it was last started. A stack never started loads
// as upstream: only names matter then, and they do not depend on the profile.
func (r Runner) recorded(ctx context.Context, st Stack) (*types.Project, error) {
	state, err := r.State.Load(st.Name)
	if err != nil {
		return nil, err
	}
	profile := state.Profile
	if profile == "" {
		profile = ProfileUpstream
	}
	return r.Root.Load(ctx, st, r.settings(st, profile, state.Listen))
}

func notRunning(st Stack) error {
	return fmt.Errorf("%w: stack %s has no containers: start it with 'stackctl up %s'", ErrNotRunning, st.Name, st.Name)
}

func (r Runner) logf(format string, args ...any) {
	if r.Log != nil {
		fmt.Fprintf(r.Log, format+"\n", args...)
	}
}

// entryURL is the URL an operator opens for a stack published on listen.
func entryURL(listen string) (string, error) {
	host, port, err := splitListen(listen)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/", nil
}

// waitHTTP polls url until it answers with a status below 500 or timeout passes.
func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("HTTP %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return last
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
