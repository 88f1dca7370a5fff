package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/stackctl/stackctl/internal/errs"
)

// ErrAuth: the registry wants credentials that the Docker configuration lacks, or refuses them.
var ErrAuth = errors.New("registry refused the credentials")

// Target is a parsed --to reference: a repository with a tag, on some registry.
type Target struct {
	Named reference.NamedTagged
}

// ParseTarget reads REGISTRY/REPO:TAG; the registry defaults to Docker Hub, the
// tag does not default: a pushed image is named on purpose.
func ParseTarget(s string) (Target, error) {
	ref, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Target{}, fmt.Errorf("%w: --to %q: %v: give REGISTRY/REPOSITORY:TAG, such as registry.example.com/team/redmine:6.0", errs.ErrInvalidInput, s, err)
	}
	if _, ok := ref.(reference.Digested); ok {
		return Target{}, fmt.Errorf("%w: --to %q: a digest names what a registry holds, not where to push: give a tag", errs.ErrInvalidInput, s)
	}
	tagged, ok := ref.(reference.NamedTagged)
	if !ok {
		return Target{}, fmt.Errorf("%w: --to %q has no tag: give one, such as %s:6.0", errs.ErrInvalidInput, s, reference.FamiliarString(ref))
	}
	return Target{Named: tagged}, nil
}

// Registry is the host the target lives on: docker.io for Docker Hub.
func (t Target) Registry() string { return reference.Domain(t.Named) }

func (t Target) String() string { return reference.FamiliarString(t.Named) }

// Result is what a push reports.
type Result struct {
	// Digest is the manifest digest the registry holds the image under.
	Digest string
	// Ref is the pushed image by digest: REGISTRY/REPO@sha256:….
	Ref string
}

// Pusher pushes images through the engine.
type Pusher struct {
	API    client.APIClient
	Config *configfile.ConfigFile
	// Progress receives the engine's push progress; TTY draws it in place.
	Progress io.Writer
	TTY      bool
	FD       uintptr
}

// Push tags image as t and pushes it. image must exist in the engine.
func (p Pusher) Push(ctx context.Context, image string, t Target) (Result, error) {
	if _, err := p.API.ImageInspect(ctx, image); err != nil {
		return Result{}, err
	}
	ref := reference.FamiliarString(t.Named)
	if _, err := p.API.ImageTag(ctx, client.ImageTagOptions{Source: image, Target: ref}); err != nil {
		return Result{}, fmt.Errorf("tagging %s as %s: %w", image, ref, err)
	}
	auth, err := command.RetrieveAuthTokenFromImage(p.Config, ref)
	if err != nil {
		// A credential store or helper that fails is a credentials problem (exit 23), not an internal one.
		return Result{}, fmt.Errorf("%w: reading the credentials for %s from the Docker configuration: %v: fix the credential store, or run 'docker login %s' again",
			ErrAuth, t.Registry(), err, t.Registry())
	}
	res, err := p.API.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return Result{}, p.explain(t, err)
	}
	defer res.Close()
	var digest string
	aux := func(m jsonstream.Message) {
		var a struct{ Digest string }
		if m.Aux != nil && json.Unmarshal(*m.Aux, &a) == nil && a.Digest != "" {
			digest = a.Digest
		}
	}
	if err := jsonmessage.DisplayJSONMessages(res.JSONMessages(ctx), p.Progress, p.FD, p.TTY, aux); err != nil {
		return Result{}, p.explain(t, err)
	}
	if digest == "" {
		return Result{}, fmt.Errorf("pushing %s: the engine reported no digest", ref)
	}
	return Result{Digest: digest, Ref: t.Named.Name() + "@" + digest}, nil
}

// explain turns the engine's push errors into the operator's next step.
func (p Pusher) explain(t Target, err error) error {
	msg := err.Error()
	lower := strings.ToLower(msg)
	login := "docker login " + t.Registry()
	if t.Registry() == "docker.io" {
		login = "docker login"
	}
	switch {
	case strings.Contains(lower, "unauthorized"), strings.Contains(lower, "authentication required"),
		strings.Contains(lower, "no basic auth credentials"), strings.Contains(lower, "denied"),
		strings.Contains(lower, "incorrect username or password"):
		if _, found := p.Config.AuthConfigs[authKey(t.Registry())]; !found && !p.Config.ContainsAuth() {
			return fmt.Errorf("%w: %s: not logged in to %s: run '%s' (stackctl reads the standard Docker configuration, $DOCKER_CONFIG or ~/.docker)", ErrAuth, msg, t.Registry(), login)
		}
		return fmt.Errorf("%w: %s: the credentials for %s in the Docker configuration are wrong or lack push access to %s: run '%s' again",
			ErrAuth, msg, t.Registry(), t.Named.Name(), login)
	case strings.Contains(lower, "connection refused"), strings.Contains(lower, "no such host"),
		strings.Contains(lower, "i/o timeout"), strings.Contains(lower, "dial tcp"), strings.Contains(lower, "tls handshake"),
		strings.Contains(lower, "server gave http response to https client"):
		return fmt.Errorf("%w: registry %s cannot be reached from the Docker engine: %s", errs.ErrUnavailable, t.Registry(), msg)
	}
	return fmt.Errorf("pushing %s: %w", t, err)
}

func authKey(registry string) string {
	if registry == "docker.io" {
		return "https://index.docker.io/v1/"
	}
	return registry
}
