package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/stack"
)

type renewOptions struct {
	force bool
	json  bool
}

func (o *renewOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.force, "force", false, "make or have issued a new certificate however long the one served has left (modes self-signed and acme)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON on stdout, and progress as JSON lines on stderr")
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
  stackctl renew redmine --force
  stackctl renew redmine --json | jq -r .not_after`,
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
	if o.json {
		return writeJSON(g.stdout, renewResult{Stack: st.Name, HTTPSResult: res})
	}
	switch {
	case res.Mode == "off":
		g.rep.Printf("stack %s serves no HTTPS (tls.mode off): nothing to renew", st.Name)
	case res.Renewed:
		g.rep.Printf("stack %s: renewed; nginx serves a certificate valid until %s", st.Name, res.NotAfter)
	case res.Reloaded:
		g.rep.Printf("stack %s: nginx serves the certificate again, valid until %s", st.Name, res.NotAfter)
	default:
		g.rep.Printf("stack %s: the certificate is valid until %s and not due: nothing changed", st.Name, res.NotAfter)
	}
	return nil
}

// renewResult is what renew prints with --json.
type renewResult struct {
	Stack string `json:"stack"`
	stack.HTTPSResult
}
