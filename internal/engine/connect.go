package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/cli/cli/command"
	"github.com/docker/cli/cli/flags"
	"github.com/docker/compose/v5/cmd/display"
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
// and creates the Compose SDK service. Progress goes to progress: as the SDK's
// live display on a terminal, as plain lines otherwise.
func Connect(ctx context.Context, progress io.Writer, tty, debug bool) (*Docker, error) {
	// Build output goes to the CLI's "out" stream: keep it off stdout, which
	// carries only results (the URL, tables).
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
	events := display.Plain(progress)
	if tty {
		events = display.Full(progress, progress, true)
	}
	svc, err := compose.NewComposeService(cli,
		compose.WithErrorStream(progress),
		compose.WithEventProcessor(events),
		compose.WithPrompt(compose.AlwaysOkPrompt()),
	)
	if err != nil {
		return nil, fmt.Errorf("setting up the Compose SDK: %w", err)
	}
	return &Docker{CLI: cli, Compose: svc, Engine: &Engine{API: cli.Client()}}, nil
}
