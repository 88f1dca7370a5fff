package engine

import (
	"context"
	"fmt"

	"github.com/stackctl/stackctl/internal/report"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/docker/compose/v5/pkg/api"
	"github.com/docker/compose/v5/pkg/compose"

	"github.com/stackctl/stackctl/internal/errs"
)

// Docker is a live connection to the engine: the CLI context the Compose SDK
// needs, the SDK service, and the Engine the other packages use directly.
type Docker struct {
	CLI     command.Cli
	Compose api.Compose
	Engine  *Engine
}

// Connect initialises the Docker CLI context from the standard configuration
// (DOCKER_HOST, contexts, ~/.docker/config.json), checks that the engine answers,
// and creates the Compose SDK service. Its events and the builds' output go
// to rep, which shows them as the command shows everything (report.Reporter).
func Connect(ctx context.Context, rep *report.Reporter, debug bool) (*Docker, error) {
	// Build output goes to the CLI's "out" stream: keep it off stdout, which
	// carries only results (the URL, tables).
	progress := rep.Writer()
	cli, err := command.NewDockerCli(command.WithOutputStream(progress), command.WithErrorStream(progress))
	if err != nil {
		return nil, fmt.Errorf("setting up the Docker client: %w", err)
	}
	opts := flags.NewClientOptions()
	// Initialize sets the libraries' log level; their warnings (such as the classic
	// builder fallback) are noise to an operator unless debugging.
	opts.LogLevel = "error"
	if debug {
		opts.LogLevel = "debug"
	}
	if err := cli.Initialize(opts); err != nil {
		return nil, fmt.Errorf("%w: setting up the Docker client: %v", errs.ErrUnavailable, err)
	}
	if err := Ping(ctx, cli.Client()); err != nil {
		return nil, err
	}
	svc, err := compose.NewComposeService(cli,
		compose.WithErrorStream(progress),
		compose.WithEventProcessor(rep.Compose()),
		compose.WithPrompt(compose.AlwaysOkPrompt()),
	)
	if err != nil {
		return nil, fmt.Errorf("setting up the Compose SDK: %w", err)
	}
	return &Docker{CLI: cli, Compose: svc, Engine: &Engine{API: cli.Client()}}, nil
}
