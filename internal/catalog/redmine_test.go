package catalog

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// TestRedmineHealthCheckMatchesDockerfile: the image's HEALTHCHECK (what any
// container of it runs, compose or not) and the compose model's are one check, so
// that a change to one cannot leave the other probing something else.
func TestRedmineHealthCheckMatchesDockerfile(t *testing.T) {
	path := filepath.Join(checkout, "stacks", "redmine", "Dockerfile")
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ast, err := parser.Parse(src)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var image *instructions.HealthCheckCommand
	for _, st := range stages {
		for _, c := range st.Commands {
			if hc, ok := c.(*instructions.HealthCheckCommand); ok {
				image = hc
			}
		}
	}
	if image == nil {
		t.Fatalf("%s has no HEALTHCHECK", path)
	}

	var model *serviceHealth
	for _, svc := range redmineModel().Services {
		if svc.Name == "redmine" && svc.HealthCheck != nil {
			h := svc.HealthCheck
			model = &serviceHealth{test: h.Test, interval: time.Duration(*h.Interval), timeout: time.Duration(*h.Timeout),
				startPeriod: time.Duration(*h.StartPeriod), retries: int(*h.Retries)}
		}
	}
	if model == nil {
		t.Fatal("the compose model's redmine service has no health check")
	}
	got := serviceHealth{test: image.Health.Test, interval: image.Health.Interval, timeout: image.Health.Timeout,
		startPeriod: image.Health.StartPeriod, retries: image.Health.Retries}
	if !slices.Equal(got.test, model.test) || got.interval != model.interval || got.timeout != model.timeout ||
		got.startPeriod != model.startPeriod || got.retries != model.retries {
		t.Errorf("%s HEALTHCHECK = %+v\ncompose model          = %+v", path, got, *model)
	}
}

type serviceHealth struct {
	test                           []string
	interval, timeout, startPeriod time.Duration
	retries                        int
}

// TestPumaWorkers: one worker per CPU, as many as Redmine's memory holds, at least one.
func TestPumaWorkers(t *testing.T) {
	for _, tc := range []struct {
		cpus   int
		memory string
		want   int
	}{
		{2, "", 2}, {8, "", 2}, {1, "", 1}, {8, "2g", 6}, {32, "16g", MaxPumaWorkers}, {4, "256m", 1}, {4, "junk", 2},
	} {
		if got := PumaWorkers(tc.cpus, tc.memory); got != tc.want {
			t.Errorf("PumaWorkers(%d, %q) = %d, want %d", tc.cpus, tc.memory, got, tc.want)
		}
	}
}
