// Command stackctl generates, validates and runs stackctl's Docker Compose stacks
// (Redmine behind nginx, and nginx alone) through the Compose SDK, on official base
// images or on base images it builds from a Debian mirror.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/stackctl/stackctl/internal/stack"
)

// Exit codes, documented in the root command's help and the README.
const (
	exitOK          = 0
	exitFailure     = 1
	exitInvalid     = 2
	exitNotFound    = 3
	exitUnavailable = 4
	exitInterrupted = 130
)

const exitCodeHelp = `Exit codes:
  0    success
  1    failure (anything not listed below)
  2    invalid input: unknown stack, base profile or flag value
  3    not running or not found: the stack has no containers, or no stackctl project was found
  4    unavailable: the Docker engine, the Debian mirror or mmdebstrap cannot be reached or is missing
  130  interrupted`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stackctl:", err)
	}
	os.Exit(exitCode(err, interrupted))
}

// exitCode maps an error to the documented exit code.
func exitCode(err error, interrupted bool) int {
	switch {
	case err == nil:
		return exitOK
	case interrupted || errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, stack.ErrInvalidInput), errors.Is(err, errUsage):
		return exitInvalid
	case errors.Is(err, stack.ErrNotRunning), errors.Is(err, stack.ErrNotFound):
		return exitNotFound
	case errors.Is(err, stack.ErrUnavailable):
		return exitUnavailable
	default:
		return exitFailure
	}
}
