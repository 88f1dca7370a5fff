package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
)

// Stack is what a test mail needs of the stack runner: the container that
// serves a service, and a program run in it.
type Stack interface {
	Container(ctx context.Context, service string) (string, error)
}

// Exec runs a program in a container; engine.Engine has it.
type Exec interface {
	Exec(ctx context.Context, container string, cmd []string, o engine.ExecOptions) error
}

// ErrRefused is a test mail the mail server (or the application) did not take.
var ErrRefused = errors.New("test mail not sent")

// Test sends the application's test mail to address through the SMTP
// server the site's settings name (smtp, nil when they name none), and
// returns what the application said. A refusal wraps ErrRefused and carries
// the server's own message.
func Test(ctx context.Context, s Stack, e Exec, st catalog.Stack, smtp *catalog.SMTP, address string) (string, error) {
	if st.MailTest == nil {
		return "", fmt.Errorf("%w: stack %s sends no mail", errs.ErrInvalidInput, st.Name)
	}
	if a, err := mail.ParseAddress(address); err != nil || a.Address != address {
		return "", fmt.Errorf("%w: %q is not an email address: give a bare one, e.g. admin@example.org", errs.ErrInvalidInput, address)
	}
	if smtp == nil {
		return "", fmt.Errorf("%w: the site's settings have no mail.smtp: add the SMTP server there (see 'stackctl init' or docs/mail.md), then run 'stackctl up %s'", errs.ErrInvalidInput, st.Name)
	}
	id, err := s.Container(ctx, st.MailTest.Service)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = e.Exec(ctx, id, st.MailTest.Command, engine.ExecOptions{Stdin: strings.NewReader(address), Stdout: &out})
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("%w to %s through %s:%d: %v", ErrRefused, address, smtp.Host, smtp.Port, err)
	}
	return strings.TrimSpace(out.String()), nil
}
