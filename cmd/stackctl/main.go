// Command stackctl generates, validates and runs stackctl's Docker Compose stacks
// (Redmine behind nginx, and nginx alone) through the Compose SDK, on official base
// images or on base images it builds from a Debian mirror.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	root, g := newRoot()
	err := root.ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	code := exitCode(err, interrupted)
	if err != nil {
		g.reporter().Fail(err, code)
	}
	os.Exit(code)
}
