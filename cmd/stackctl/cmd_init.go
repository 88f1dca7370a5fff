package main

import (
	"cmp"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stackctl/stackctl/internal/site"
)

func newInitCommand(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Annotations: map[string]string{annotSiteFree: ""},
		Use:         "init [DIR]",
		Short:       "Create a site: a directory of your own with stackctl.yaml, themes/ and plugins/",
		Long: `Create a site in DIR (default: --dir, else the working directory), creating DIR
when missing:

  stackctl.yaml  the site's settings, every one documented in a comment and
                 commented out but version (docs/reference/settings.md); every
                 stackctl command run in the site, or below it, finds the site
                 by this file
  themes/        Redmine themes, baked into the Redmine image by 'stackctl up redmine';
                 starts with stackctl's own theme, harbor
  plugins/       Redmine plugins, one folder each

init refuses a DIR that holds any of the three already, and changes nothing there.
The stacks themselves come with stackctl: the first command that needs them writes
them under DIR/.stackctl/ (see docs/site.md). Prints the site's directory.`,
		Example: `  stackctl init /srv/tracker
  cd /srv/tracker && stackctl up redmine
  stackctl --dir /srv/tracker ps redmine`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInit(cmd.Context(), g, args)
		},
	}
}

func runInit(_ context.Context, g *globalOptions, args []string) error {
	if len(args) > 1 {
		return fmt.Errorf("%w: init takes one directory, got %v", errUsage, args)
	}
	var dir string
	if len(args) == 1 {
		dir = args[0]
	}
	s, err := site.Init(cmp.Or(dir, g.dir, "."))
	if err != nil {
		return err
	}
	g.rep.Printf("site %s created: %s, themes/ (with harbor), plugins/; next: cd %s && stackctl up redmine",
		s.Dir, site.SettingsFile, s.Dir)
	fmt.Fprintln(g.stdout, s.Dir)
	return nil
}
