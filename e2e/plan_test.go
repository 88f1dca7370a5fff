package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/stack"
)

// dryRun runs 'up STACK --dry-run --json' with args and returns the plan,
// after checking that the text form says the same steps.
func dryRun(t *testing.T, env []string, dir string, args ...string) stack.Plan {
	t.Helper()
	return dryRunOf(t, env, dir, append([]string{"up"}, args...)...)
}

// wantSteps fails unless p has each step (action and target) and, with
// only, no other step of those actions.
func wantSteps(t *testing.T, p stack.Plan, only bool, steps ...[2]string) {
	t.Helper()
	for _, w := range steps {
		if !slices.ContainsFunc(p.Steps, func(s stack.Step) bool { return s.Action == w[0] && s.Target == w[1] }) {
			t.Errorf("the plan has no step %s %s: %+v", w[0], w[1], p.Steps)
		}
	}
	if !only {
		return
	}
	for _, s := range p.Steps {
		if s.Action == "https" || s.Action == "none" {
			continue
		}
		if !slices.ContainsFunc(steps, func(w [2]string) bool { return s.Action == w[0] && s.Target == w[1] }) {
			t.Errorf("the plan has a step it should not: %s %s (%s)", s.Action, s.Target, s.Why)
		}
	}
}

// servesAsPlanned fails unless the Redmine stack serves what plan said it
// would: its application's and its front's running services.
func servesAsPlanned(t *testing.T, api client.APIClient, p stack.Plan) {
	t.Helper()
	if got := serviceOf(t, api, activeRedmine(t, api)); got != p.Serves.App {
		t.Errorf("Redmine runs as %s, the plan said %s", got, p.Serves.App)
	}
	if got := serviceOf(t, api, frontContainer(t, api)); got != p.Serves.Front {
		t.Errorf("nginx runs as %s, the plan said %s", got, p.Serves.Front)
	}
}

// frontContainer is the ID of the one running nginx of the Redmine stack.
func frontContainer(t *testing.T, api client.APIClient) string {
	t.Helper()
	return runningOne(t, api, "nginx", func(s string) bool { return s == "nginx" || s == "nginx-b" })
}

// serviceOf is the compose service a container runs.
func serviceOf(t *testing.T, api client.APIClient, id string) string {
	t.Helper()
	res, err := api.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Container.Config.Labels["com.docker.compose.service"]
}

// otherSlot is the application's service in the other slot.
func otherSlot(service string) string {
	if s, ok := strings.CutSuffix(service, "-b"); ok {
		return s
	}
	return service + "-b"
}

// relabelled puts another image under ref: ref with one more label (label,
// KEY=VALUE), so that its ID changes and nothing else.
func relabelled(t *testing.T, api client.APIClient, ref, label string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dockerfile := []byte("FROM " + ref + "\nLABEL " + label + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(dockerfile)
	tw.Close()
	e := &engine.Engine{API: api}
	if err := e.BuildImage(context.Background(), &buf, engine.BuildOptions{Tag: ref, Progress: io.Discard}); err != nil {
		t.Fatalf("building another image as %s: %v", ref, err)
	}
}

// jsonResult checks what a command run with --json printed: one JSON object
// on stdout, which it returns, and on stderr nothing but JSON events of
// command, with at least one from stackctl itself.
func jsonResult(t *testing.T, r result, command string) map[string]any {
	t.Helper()
	var res map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%s --json: stdout is not one JSON object: %v\n%s", command, err, r.stdout)
	}
	own := 0
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		var e struct {
			Level, Command, Source, Msg string
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Command != command || e.Level == "" {
			t.Fatalf("%s --json: stderr line %q is not a JSON event of the command (%v)", command, line, err)
		}
		if e.Source == "" {
			own++
		}
	}
	if own == 0 {
		t.Errorf("%s --json: no progress event of stackctl's own on stderr:\n%s", command, r.stderr)
	}
	return res
}
