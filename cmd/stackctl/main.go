// Command stackctl generates, validates and runs stackctl's Docker Compose stacks
// (Redmine behind nginx, and nginx alone) through the Compose SDK, on official base
// images or on base images it builds from a Debian mirror.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

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
