package mail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
)

// fakeStack finds the container of a service, or fails as the runner does
// for a stack that is not running.
type fakeStack struct {
	err     error
	service string // the service last asked for
}

func (f *fakeStack) Container(_ context.Context, service string) (string, error) {
	f.service = service
	if f.err != nil {
		return "", f.err
	}
	return "c-" + service, nil
}

// fakeExec records the one program run and answers with out or err.
type fakeExec struct {
	out    string
	err    error
	cancel context.CancelFunc // when set, cancels the caller's context as the exec fails

	container string
	cmd       []string
	stdin     string
	runs      int
}

func (f *fakeExec) Exec(_ context.Context, container string, cmd []string, o engine.ExecOptions) error {
	f.runs++
	f.container, f.cmd = container, cmd
	if o.Stdin != nil {
		b, _ := io.ReadAll(o.Stdin)
		f.stdin = string(b)
	}
	if f.cancel != nil {
		f.cancel()
	}
	if f.err != nil {
		return f.err
	}
	_, _ = io.WriteString(o.Stdout, f.out)
	return nil
}

func redmine(t *testing.T) catalog.Stack {
	t.Helper()
	st, err := catalog.LookupStack("redmine")
	if err != nil {
		t.Fatal(err)
	}
	if st.MailTest == nil {
		t.Fatal("the redmine stack has no mail test")
	}
	return st
}

// TestRefusesBeforeSending: what cannot be sent is refused as invalid input,
// with the next step, and nothing runs in a container.
func TestRefusesBeforeSending(t *testing.T) {
	smtp := &catalog.SMTP{Host: "mail.example.org", Port: 587}
	noMail, err := catalog.LookupStack("nginx")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		st      catalog.Stack
		smtp    *catalog.SMTP
		address string
		want    string
	}{
		{"stack without mail", noMail, smtp, "admin@example.org", "stack nginx sends no mail"},
		{"not an address", redmine(t), smtp, "admin", `"admin" is not an email address`},
		// A display name would be sent as given: only a bare address is taken.
		{"address with a name", redmine(t), smtp, "Admin <admin@example.org>", "give a bare one"},
		{"two addresses", redmine(t), smtp, "a@example.org, b@example.org", "is not an email address"},
		{"no smtp in the settings", redmine(t), nil, "admin@example.org", "have no mail.smtp: add the SMTP server there"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, e := &fakeStack{}, &fakeExec{}
			_, err := Test(context.Background(), s, e, tc.st, tc.smtp, tc.address)
			if !errors.Is(err, errs.ErrInvalidInput) {
				t.Fatalf("err = %v, want errs.ErrInvalidInput", err)
			}
			if errors.Is(err, ErrRefused) {
				t.Errorf("a refusal before sending was taken for the server's: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
			if e.runs != 0 || s.service != "" {
				t.Errorf("the stack was reached (container of %q, %d runs) for a mail that cannot be sent", s.service, e.runs)
			}
		})
	}
}

// TestSends: the application's own mailer runs in the container that serves
// it, the address on its standard input (never in its arguments), and what it
// said comes back trimmed.
func TestSends(t *testing.T) {
	st := redmine(t)
	s, e := &fakeStack{}, &fakeExec{out: "  Test mail sent to admin@example.org\n"}
	got, err := Test(context.Background(), s, e, st, &catalog.SMTP{Host: "mail.example.org", Port: 587}, "admin@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got != "Test mail sent to admin@example.org" {
		t.Errorf("said %q", got)
	}
	if s.service != st.MailTest.Service || e.container != "c-"+st.MailTest.Service {
		t.Errorf("ran in %q (service %q), want the container of %q", e.container, s.service, st.MailTest.Service)
	}
	if !slices.Equal(e.cmd, st.MailTest.Command) {
		t.Errorf("ran %q, want the stack's mail test %q", e.cmd, st.MailTest.Command)
	}
	if e.stdin != "admin@example.org" {
		t.Errorf("stdin = %q, want the address", e.stdin)
	}
	if slices.ContainsFunc(e.cmd, func(a string) bool { return strings.Contains(a, "admin@example.org") }) {
		t.Errorf("the address is in the command line %q", e.cmd)
	}
}

// TestSendFails: a stack that does not run says so as it is; a mailer that
// fails is ErrRefused naming the address, the server and its own message; an
// interrupted send is the interruption, not a refusal.
func TestSendFails(t *testing.T) {
	smtp := &catalog.SMTP{Host: "mail.example.org", Port: 465}
	for _, tc := range []struct {
		name      string
		stackErr  error
		execErr   error
		interrupt bool
		is        error
		not       error
		want      []string
	}{
		{name: "not running", stackErr: fmt.Errorf("%w: service redmine of stack redmine is not running", errs.ErrNotRunning), is: errs.ErrNotRunning, not: ErrRefused,
			want: []string{"service redmine of stack redmine is not running"}},
		{name: "server refuses", execErr: errors.New("rails exited with 1: 535 5.7.8 Authentication credentials invalid"), is: ErrRefused,
			want: []string{"to admin@example.org through mail.example.org:465", "535 5.7.8 Authentication credentials invalid"}},
		{name: "interrupted", execErr: errors.New("rails in c-redmine: context canceled"), interrupt: true, is: context.Canceled, not: ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, e := &fakeStack{err: tc.stackErr}, &fakeExec{err: tc.execErr}
			if tc.interrupt {
				e.cancel = cancel
			}
			out, err := Test(ctx, s, e, redmine(t), smtp, "admin@example.org")
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			if tc.not != nil && errors.Is(err, tc.not) {
				t.Errorf("err = %v, must not be %v", err, tc.not)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to say %q", err, w)
				}
			}
			if out != "" {
				t.Errorf("a failed send said %q", out)
			}
		})
	}
}
