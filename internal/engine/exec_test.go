package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/moby/moby/client"
)

// execRun is what the fake engine saw of one Exec.
type execRun struct {
	created client.ExecCreateOptions
	conn    *fakeConn
	inspect bool
}

// execAPI runs one program: it writes stdout and stderr, then exits with exit.
// hold keeps its output open, as a program that never ends.
func execAPI(t *testing.T, run *execRun, stdout, stderr string, exit int, hold bool) *fakeAPI {
	return &fakeAPI{
		execCreate: func(id string, o client.ExecCreateOptions) (client.ExecCreateResult, error) {
			if id != "0123456789abcdef" {
				t.Errorf("exec in %q", id)
			}
			run.created = o
			return client.ExecCreateResult{ID: "exec1"}, nil
		},
		execAttach: func(_ context.Context, id string) (client.ExecAttachResult, error) {
			if id != "exec1" {
				t.Errorf("attached to %q", id)
			}
			att, conn := hijacked(t, stdout, stderr, hold)
			run.conn = conn
			return client.ExecAttachResult{HijackedResponse: att}, nil
		},
		execInspect: func(id string) (client.ExecInspectResult, error) {
			run.inspect = true
			return client.ExecInspectResult{ExitCode: exit}, nil
		},
	}
}

func TestExec(t *testing.T) {
	var longErr strings.Builder
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&longErr, "line %d\n", i)
	}
	tests := []struct {
		name       string
		stdin      io.Reader
		writeErr   error
		stdout     string
		stderr     string
		exit       int
		wantOut    string
		wantIn     string
		wantErr    string
		notInErr   string
		wantStdinA bool
	}{
		{name: "output", stdout: "dump\x00bytes", stderr: "notice: ok\n", wantOut: "dump\x00bytes"},
		{name: "input fed and closed", stdin: strings.NewReader("COPY t FROM stdin;\n"), wantIn: "COPY t FROM stdin;\n", wantStdinA: true},
		{
			// Only the last 15 lines: a tool's whole output would drown the reason.
			name: "non-zero exit", stderr: longErr.String(), exit: 3,
			wantErr: "pg_dump exited with 3: line 6\n", notInErr: "line 5\n",
		},
		{
			name: "input fails", stdin: iotest.ErrReader(errors.New("disk read error")), wantStdinA: true,
			wantErr: "pg_dump in 0123456789ab: feeding its input: disk read error",
		},
		{
			// A program that fails makes its input's pipe break: its own error is the one to read.
			name: "exit beats a broken input", stdin: strings.NewReader("data"), writeErr: errors.New("broken pipe"),
			stderr: "pg_restore: invalid archive\n", exit: 1, wantStdinA: true,
			wantErr: "pg_dump exited with 1: pg_restore: invalid archive", notInErr: "broken pipe",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := &execRun{}
			api := execAPI(t, run, tt.stdout, tt.stderr, tt.exit, false)
			if tt.writeErr != nil {
				attach := api.execAttach
				api.execAttach = func(ctx context.Context, id string) (client.ExecAttachResult, error) {
					res, err := attach(ctx, id)
					run.conn.writeErr = tt.writeErr
					return res, err
				}
			}
			var out strings.Builder
			cmd := []string{"pg_dump", "-Fc"}
			err := (&Engine{API: api}).Exec(t.Context(), "0123456789abcdef", cmd, ExecOptions{Stdin: tt.stdin, Stdout: &out})
			wantErr(t, err, tt.wantErr, nil)
			if tt.notInErr != "" && err != nil && strings.Contains(err.Error(), tt.notInErr) {
				t.Errorf("err = %q, should not contain %q", err, tt.notInErr)
			}
			want := client.ExecCreateOptions{Cmd: cmd, AttachStdin: tt.wantStdinA, AttachStdout: true, AttachStderr: true}
			if !reflect.DeepEqual(run.created, want) {
				t.Errorf("exec options = %+v, want %+v", run.created, want)
			}
			if out.String() != tt.wantOut {
				t.Errorf("stdout = %q, want %q (stderr never mixed in)", out.String(), tt.wantOut)
			}
			if got := run.conn.input(); got != tt.wantIn {
				t.Errorf("program's input = %q, want %q", got, tt.wantIn)
			}
			closed, writeClosed := run.conn.state()
			if !closed {
				t.Error("the connection was left open")
			}
			if tt.stdin != nil && !writeClosed {
				t.Error("the program's input was not closed at its end")
			}
		})
	}
}

func TestExecNilStdoutDiscards(t *testing.T) {
	run := &execRun{}
	err := (&Engine{API: execAPI(t, run, "a lot of output", "", 0, false)}).Exec(t.Context(), "0123456789abcdef", []string{"true"}, ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func TestExecCancelled(t *testing.T) {
	// The program never ends: only cancelling ends Exec, by closing the connection.
	run := &execRun{}
	ctx, cancel := context.WithCancel(t.Context())
	api := execAPI(t, run, "partial", "", 0, true)
	attach := api.execAttach
	api.execAttach = func(ctx context.Context, id string) (client.ExecAttachResult, error) {
		res, err := attach(ctx, id)
		cancel() // Ctrl-C once the program runs
		return res, err
	}
	err := (&Engine{API: api}).Exec(ctx, "0123456789abcdef", []string{"pg_dump"}, ExecOptions{})
	wantErr(t, err, "pg_dump in 0123456789ab: context canceled", context.Canceled)
	if run.inspect {
		t.Error("a cancelled exec asked the engine how the program ended")
	}
}

func TestExecEngineErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(api *fakeAPI)
		want   string
	}{
		{
			name: "create",
			modify: func(api *fakeAPI) {
				api.execCreate = func(string, client.ExecCreateOptions) (client.ExecCreateResult, error) {
					return client.ExecCreateResult{}, errEngine
				}
			},
			want: "exec in 0123456789ab: engine said no",
		},
		{
			name: "attach",
			modify: func(api *fakeAPI) {
				api.execAttach = func(context.Context, string) (client.ExecAttachResult, error) {
					return client.ExecAttachResult{}, errEngine
				}
			},
			want: "exec in 0123456789ab: engine said no",
		},
		{
			name: "inspect",
			modify: func(api *fakeAPI) {
				api.execInspect = func(string) (client.ExecInspectResult, error) { return client.ExecInspectResult{}, errEngine }
			},
			want: "exec in 0123456789ab: engine said no",
		},
		{
			// A stream that is not the engine's multiplexed format.
			name: "garbled output",
			modify: func(api *fakeAPI) {
				api.execAttach = func(context.Context, string) (client.ExecAttachResult, error) {
					att, _ := hijacked(t, "", "", false)
					r, w := io.Pipe()
					go func() { _, _ = w.Write([]byte{9, 0, 0, 0, 0, 0, 0, 1, 'x'}); w.Close() }()
					att.Reader.Reset(r)
					return client.ExecAttachResult{HijackedResponse: att}, nil
				}
			},
			want: "pg_dump in 0123456789ab: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := execAPI(t, &execRun{}, "", "", 0, false)
			tt.modify(api)
			err := (&Engine{API: api}).Exec(t.Context(), "0123456789abcdef", []string{"pg_dump"}, ExecOptions{})
			wantErr(t, err, tt.want, nil)
		})
	}
}
