package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/site"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/validate"
)

type validateOptions struct {
	files     []string
	profile   string
	json      bool
	listRules bool
}

func (o *validateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.files, "file", "f", nil, "a compose file to validate instead of a stack (repeat to merge several, as docker compose -f does)")
	profileFlag(fs, &o.profile, "", "validate a stack under one base profile, upstream or debian (default: both)")
	fs.BoolVar(&o.json, "json", false, "print the findings as JSON, for scripts")
	fs.BoolVar(&o.listRules, "list-rules", false, "list the rules and exit")
}

func newValidateCommand(g *globalOptions) *cobra.Command {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Annotations: map[string]string{annotSiteFree: ""},
		Use:         "validate [STACK... | -f FILE...]",
		Short:       "Check compose files, their Dockerfiles and the site's settings file against stackctl's rules",
		Long: `Check compose files, and the Dockerfiles their services build, against what makes
a stack safe and durable. A stack (default: every stack) is loaded as stackctl runs it,
under both base profiles unless --profile picks one; -f loads files as 'docker compose -f'
does. Nothing is pulled or run: no Docker engine is needed.

Without -f, the site's settings file (stackctl.yaml) is checked too: every unknown
key, bad value, inconsistency and secret given inline (rule Settings), then the
files it names (rule SettingsFiles: a secret's must be yours, mode 0600 or stricter).

Every finding is reported at once, with its rule, file:line, what is wrong and how to
fix it. Exit status: 0 when clean, 2 on findings, 1 when a file cannot be read.

Rules:
` + ruleHelp() + `
Dockerfiles are also checked by BuildKit's linter ('docker build --check'); its findings
carry its rule names (e.g. JSONArgsRecommended) and are skipped the BuildKit way, with a
'# check=skip=RULE' line at the top of the Dockerfile (stackctl's Dockerfile rules too).

Where a rule cannot apply to a service, opt the service out of it in the compose file,
with the reason; an opt-out without a reason is itself a finding:

  services:
    redmine:
      x-stackctl-validate:
        ignore:
          ReadOnlyRootfs: "the entrypoint writes config/database.yml when a container first starts"`,
		Example: `  stackctl validate
  stackctl validate redmine --profile debian
  stackctl validate -f compose.yaml -f compose.override.yaml --json
  stackctl validate --list-rules`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func ruleHelp() string {
	var b strings.Builder
	for _, r := range validate.Rules {
		fmt.Fprintf(&b, "  %-22s %s\n", r.ID, r.Doc)
	}
	return b.String()
}

func runValidate(ctx context.Context, g *globalOptions, o *validateOptions, args []string) error {
	if o.listRules {
		for _, r := range validate.Rules {
			fmt.Fprintf(g.stdout, "%s\t%s\t%s\t%s\n", r.ID, r.Kind, r.Severity, r.Doc)
		}
		return nil
	}
	if len(o.files) > 0 && (len(args) > 0 || o.profile != "") {
		return fmt.Errorf("%w: name stacks (with --profile) or pass -f files, not both", errUsage)
	}
	var report validate.Report
	var err error
	if len(o.files) > 0 {
		report, err = validate.Files(ctx, o.files)
	} else {
		report, err = validateStacks(ctx, g, o, args)
	}
	if err != nil {
		return err
	}
	wd, _ := os.Getwd()
	if o.json {
		err = report.WriteJSON(g.stdout, wd)
	} else {
		err = report.WriteText(g.stdout, wd)
	}
	if err != nil {
		return err
	}
	if err := report.Err(); err != nil {
		return err
	}
	if !o.json {
		g.rep.Printf("validate: no findings")
	}
	return nil
}

func validateStacks(ctx context.Context, g *globalOptions, o *validateOptions, args []string) (validate.Report, error) {
	if len(args) == 0 {
		args = catalog.StackNames()
	}
	var sts []catalog.Stack
	for _, name := range args {
		st, err := catalog.LookupStack(name)
		if err != nil {
			return validate.Report{}, err
		}
		sts = append(sts, st)
	}
	profiles := []catalog.Profile{catalog.ProfileUpstream, catalog.ProfileDebian}
	if o.profile != "" {
		p, err := catalog.ParseProfile(o.profile)
		if err != nil {
			return validate.Report{}, err
		}
		if p != catalog.ProfileAuto {
			profiles = []catalog.Profile{p}
		}
	}
	s, err := g.site()
	if err != nil {
		return validate.Report{}, err
	}
	report, err := validate.Stacks(ctx, stack.BuildDir(s.Root()), sts, profiles)
	if err != nil {
		return validate.Report{}, err
	}
	set, err := validate.Settings(filepath.Join(s.Dir, site.SettingsFile))
	report.Add(set)
	return report, err
}
