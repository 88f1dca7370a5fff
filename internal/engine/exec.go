package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/errs"
)

// ExecOptions connect a program run by Exec.
type ExecOptions struct {
	// Stdin, when not nil, is streamed to the program's standard input, which is
	// closed at its end.
	Stdin io.Reader
	// Stdout receives the program's standard output; nil discards it. It may be
	// a stream too large to hold, such as a database dump.
	Stdout io.Writer
}

// Exec runs cmd in a running container. A non-zero exit is an error carrying the
// end of the program's standard error. Cancelling ctx (Ctrl-C) closes the
// connection, which ends the copy and, through a broken pipe, the program.
func (e *Engine) Exec(ctx context.Context, container string, cmd []string, o ExecOptions) error {
	created, err := e.API.ExecCreate(ctx, container, client.ExecCreateOptions{
		Cmd: cmd, AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("exec in %.12s: %w", container, err)
	}
	att, err := e.API.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("exec in %.12s: %w", container, err)
	}
	// The feeding goroutine reads the caller's stdin: it must not outlive this
	// call, whatever way the call ends. Closing the connection ends it.
	var inErr error
	inDone := make(chan struct{})
	if o.Stdin != nil {
		go func() {
			defer close(inDone)
			_, inErr = io.Copy(att.Conn, o.Stdin)
			_ = att.CloseWrite()
		}()
	} else {
		close(inDone)
	}
	defer func() {
		att.Close()
		<-inDone
	}()
	// Once attached, the engine's connection no longer watches ctx.
	stop := context.AfterFunc(ctx, func() { att.Close() })
	defer stop()
	stdout := o.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	var stderr bytes.Buffer
	_, copyErr := stdcopy.StdCopy(stdout, &stderr, att.Reader)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s in %.12s: %w", cmd[0], container, err)
	}
	if copyErr != nil {
		return fmt.Errorf("%s in %.12s: %w", cmd[0], container, copyErr)
	}
	<-inDone
	res, err := e.API.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return fmt.Errorf("exec in %.12s: %w", container, err)
	}
	// The program's own failure first: a broken pipe on its input is only its consequence.
	if res.ExitCode != 0 {
		return fmt.Errorf("%s exited with %d: %s", cmd[0], res.ExitCode, errs.LastLines(stderr.String(), 15))
	}
	if inErr != nil {
		return fmt.Errorf("%s in %.12s: feeding its input: %w", cmd[0], container, inErr)
	}
	return nil
}
