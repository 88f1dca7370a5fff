package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/stack"
)

type renewOptions struct {
	force bool
}

func (o *renewOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.force, "force", false, "make or have issued a new certificate however long the one served has left (modes self-signed and acme)")
}

func newRenewCommand(g *globalOptions) *cobra.Command {
	o := &renewOptions{}
	cmd := &cobra.Command{
		Use:   "renew STACK",
		Short: "Renew the stack's HTTPS certificate when it is due, and reload nginx without an outage",
		Long: `Renew the certificate nginx serves, as the site's tls settings say, when it
is due: fewer than 30 days left (a third of its lifetime, for a certificate
that lives less than 90 days), or a name of url and tls.names it does not
cover. Mode self-signed makes a new one; mode acme has the ACME CA issue one
through HTTP-01, which nginx serves on the plain HTTP port; mode files puts
the operator's files in place again once checked (after they were replaced).
nginx then reloads gracefully: its old workers finish the requests they hold,
no connection is refused. A certificate not due changes nothing.

It changes nothing else of the stack, which must be running: run it from a
timer (a systemd timer or cron, daily). up does the same on every run.`,
		Example: `  stackctl renew redmine
  stackctl renew redmine --force`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRenew(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runRenew(ctx context.Context, g *globalOptions, o *renewOptions, args []string) error {
	set, err := g.settings()
	if err != nil {
		return err
	}
	if err := set.CheckFiles(); err != nil {
		return err
	}
	s, err := g.open(ctx, args, stack.Apply, "renew")
	if err != nil {
		return err
	}
	defer s.Close()
	st := s.Def
	res, err := s.ApplyHTTPS(ctx, o.force)
	if err != nil {
		return err
	}
	switch {
	case res.Mode == "off":
		fmt.Fprintf(g.stderr, "stack %s serves no HTTPS (tls.mode off): nothing to renew\n", st.Name)
	case res.Renewed:
		fmt.Fprintf(g.stderr, "stack %s: renewed; nginx serves a certificate valid until %s\n", st.Name, res.NotAfter)
	case res.Reloaded:
		fmt.Fprintf(g.stderr, "stack %s: nginx serves the certificate again, valid until %s\n", st.Name, res.NotAfter)
	default:
		fmt.Fprintf(g.stderr, "stack %s: the certificate is valid until %s and not due: nothing changed\n", st.Name, res.NotAfter)
	}
	return nil
}
