package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/mail"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/termsafe"
)

func newMailCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mail",
		Short: "Prove the Redmine stack's mail",
		Long: `Commands about Redmine's mail, which the site's settings configure (mail.smtp
for notifications out, mail.imap for issues made from mails in; docs/mail.md).`,
	}
	cmd.AddCommand(newMailTestCommand(g))
	return cmd
}

type mailTestOptions struct {
	stack string
}

func (o *mailTestOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.stack, "stack", "redmine", "the stack whose application sends the mail")
}

func newMailTestCommand(g *globalOptions) *cobra.Command {
	o := &mailTestOptions{}
	cmd := &cobra.Command{
		Use:   "test ADDRESS",
		Short: "Send Redmine's test mail to ADDRESS through the SMTP server of the site's settings",
		Long: `Send Redmine's own test mail (the one of Administration, Settings, Email
notifications) to ADDRESS, through Redmine's mailer in the container that
serves, with the SMTP server, security and login that up gave it from the
site's settings (mail.smtp). It proves what Redmine's notifications use: run
'stackctl up redmine' after changing mail.smtp, then this.

A server that refuses the mail (a wrong password, a refused sender or
recipient, no STARTTLS where security is starttls) fails it with the server's
own message (exit 1). The stack must be running.`,
		Example: `  stackctl mail test admin@example.org
  stackctl --dir ~/tracker mail test admin@example.org`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMailTest(cmd.Context(), g, o, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runMailTest(ctx context.Context, g *globalOptions, o *mailTestOptions, address string) error {
	s, err := g.open(ctx, []string{o.stack}, stack.Read, "mail test")
	if err != nil {
		return err
	}
	defer s.Close()
	st := s.Def
	r, err := s.OnEngine(ctx, stack.VerbMailTest)
	if err != nil {
		return err
	}
	g.rep.Printf("stack %s: Redmine sends its test mail to %s (it loads Redmine first: this takes a while)", st.Name, address)
	said, err := mail.Test(ctx, r, r.Engine, st, r.Overrides.Mail.SMTP, address)
	if err != nil {
		return err
	}
	// What Redmine and the SMTP server said, its lines kept, escaped.
	fmt.Fprintln(g.stdout, termsafe.Text(said))
	return nil
}
