package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/termsafe"
	"github.com/stackctl/stackctl/internal/theme"
)

type checkThemeOptions struct {
	theme             string
	apply             bool
	screenshot        string
	json              bool
	adminPasswordFile string
}

func (o *checkThemeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.theme, "theme", "", "the theme to check, by id (default: every theme under themes/)")
	fs.BoolVar(&o.apply, "apply", false, "make the theme Redmine's default through the Display settings, and check a page shows it")
	fs.StringVar(&o.screenshot, "screenshot", "", "with --apply: write a PNG of Redmine rendered with the theme (needs Chromium)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON, for scripts")
	fs.StringVar(&o.adminPasswordFile, "admin-password-file", "", "file holding the administrator's password (default: the one stackctl generated)")
}

func newCheckThemeCommand(g *globalOptions) *cobra.Command {
	o := &checkThemeOptions{}
	cmd := &cobra.Command{
		Use:   "check-theme",
		Short: "Prove a theme is offered in Redmine's Administration → Settings → Display",
		Long: `Prove a theme is offered in Redmine's Administration → Settings → Display, checking
in layers and stopping at the first that fails:

  source      themes/<id> is a theme Redmine will list (stylesheets/application.css)
  image       the built Redmine image holds it, identical and readable by Redmine
  settings    logged in as administrator, the Display settings offer it
  apply       (--apply) it is made the default, and a page links it and carries its class
  screenshot  (--screenshot FILE) Chromium renders a page with it into FILE

The settings and apply layers reach Redmine through nginx on the stack's
address, over HTTPS when the site's tls.mode is not off, verifying the
certificate for the site's host name against the system's roots and the chain
stackctl gave nginx. Chromium, for --screenshot, then trusts only the public key
of the certificate stackctl verified there (--ignore-certificate-errors-spki-list).

Each failure has its own exit code (10 to 16, listed in 'stackctl --help').`,
		Example: `  stackctl check-theme
  stackctl check-theme --theme harbor --apply --screenshot harbor.png
  stackctl check-theme --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheckTheme(cmd.Context(), g, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runCheckTheme(ctx context.Context, g *globalOptions, o *checkThemeOptions) error {
	if o.screenshot != "" && !o.apply {
		return fmt.Errorf("%w: --screenshot shows the theme applied: add --apply", errUsage)
	}
	// The site's own themes/: what the next build bakes into the image.
	where, err := g.site()
	if err != nil {
		return err
	}
	themesDir := where.Themes()
	var themes []theme.Theme
	if o.theme != "" {
		t, err := theme.Find(themesDir, o.theme)
		if err != nil {
			return finishCheck(g, o, nil, err)
		}
		themes = []theme.Theme{t}
	} else if themes, err = theme.Discover(themesDir); err != nil {
		// No theme to check: --json says so with no result.
		return finishCheck(g, o, nil, err)
	}

	var results []theme.Result
	report := func(r theme.Result) {
		results = append(results, r)
		if !o.json {
			state := "ok"
			if !r.OK {
				state = "FAILED"
			}
			// The detail quotes the pages Redmine served: escaped.
			fmt.Fprintf(g.stdout, "%-12s %-11s %-7s %s\n", r.Theme, r.Layer, state, termsafe.String(r.Detail))
		}
	}
	release := func() {}
	defer func() { release() }()
	check := theme.Check{Themes: themes, Apply: o.apply, Screenshot: o.screenshot, Report: report,
		Connect: func(ctx context.Context) (theme.Backend, error) {
			// It may change the stack: the default theme, a forced password change.
			st, err := g.open(ctx, []string{"redmine"}, stack.Change, "check-theme")
			if err != nil {
				return theme.Backend{}, err
			}
			release = st.Close
			access, err := st.Access(ctx, "redmine")
			if err != nil {
				return theme.Backend{}, err
			}
			s := redmineLogin{access: access, passwordFile: o.adminPasswordFile}
			if s.passwordFile == "" {
				s.passwordFile, s.managed = access.AdminPasswordFile, true
			}
			return theme.Backend{
				Image:  access.Engine,
				Target: theme.ImageTarget{Image: access.Image, ThemesDir: catalog.RedmineThemesDir, UID: catalog.ImageUID, GID: catalog.ImageUID},
				Site:   s,
			}, nil
		},
	}
	return finishCheck(g, o, results, check.Run(ctx))
}

// finishCheck prints JSON results when asked, and passes err on for the exit code.
func finishCheck(g *globalOptions, o *checkThemeOptions, results []theme.Result, err error) error {
	if o.json {
		if encErr := writeJSONArray(g.stdout, results); encErr != nil {
			return encErr
		}
	}
	return err
}

// redmineLogin reaches the running Redmine with the administrator's password from a file.
type redmineLogin struct {
	access       stack.Access
	passwordFile string
	// managed: the file is stackctl's, so a forced password change may rewrite it.
	managed bool
}

func (s redmineLogin) Client(context.Context) (*theme.Client, string, error) {
	pw, err := state.ReadSecretFile(s.passwordFile)
	if err != nil {
		return nil, "", fmt.Errorf("%w: reading the administrator's password: %v", theme.ErrLogin, err)
	}
	// Over HTTPS when nginx serves it, trusting the certificate stackctl gave it.
	rt, err := s.access.Front.Transport()
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", theme.ErrLogin, err)
	}
	c, err := theme.NewClient(s.access.Front.URL, rt, "admin", pw)
	if err != nil {
		return nil, "", err
	}
	if s.managed {
		c.Passwords = state.SecretKeeper{Path: s.passwordFile, Generate: catalog.NewAdminPassword}
	}
	return c, s.access.Front.URL, nil
}
