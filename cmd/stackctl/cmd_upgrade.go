package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/upgrade"
)

type upgradeOptions struct {
	to        string
	postgres  int
	backupDir string
	yes       bool
	mirror    string
	timeout   time.Duration
	dryRun    bool
	json      bool
}

func (o *upgradeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.to, "to", "", "the Redmine version to upgrade to: "+upgradeTargets()+" (required)")
	fs.IntVar(&o.postgres, "postgres", 0, "the PostgreSQL major expected with it (default: the one the version comes with)")
	fs.StringVar(&o.backupDir, "backup-dir", os.Getenv("STACKCTL_BACKUP_DIR"), "backup directory; the pre-upgrade backup goes to its pre-upgrade/ (env STACKCTL_BACKUP_DIR; default: backups/ under --state-dir)")
	fs.BoolVarP(&o.yes, "yes", "y", false, "upgrade without asking (needed without a terminal)")
	mirrorFlag(fs, &o.mirror)
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "how long to wait for each start to become healthy (the first start of a new version migrates)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "run the checks that refuse an upgrade, then print what it would do (the backup, the maintenance, the new generation and its migrations, the checks, what serves after); change nothing")
	fs.BoolVar(&o.json, "json", false, "print the result (with --dry-run, the plan) as JSON on stdout, and progress as JSON lines on stderr")
}

// upgradeTargets lists the versions 'upgrade --to' takes, per profile.
func upgradeTargets() string {
	var out []string
	for _, rel := range catalog.Releases() {
		out = append(out, fmt.Sprintf("%s (debian) or %s (upstream), with PostgreSQL %d", rel.Version(catalog.ProfileDebian), rel.Version(catalog.ProfileUpstream), rel.Postgres))
	}
	return strings.Join(out, "; ")
}

func newUpgradeCommand(g *globalOptions) *cobra.Command {
	o := &upgradeOptions{}
	cmd := &cobra.Command{
		Use:   "upgrade STACK --to VERSION",
		Short: "Upgrade Redmine and PostgreSQL, behind a maintenance page, with automatic rollback",
		Long: `Upgrade a stack to a newer Redmine and the PostgreSQL it comes with, as a new
generation of its data: the generation that serves now stays, and 'stackctl
rollback' returns to it (its version and its data).

Refused before anything changes: an unknown version, a downgrade, a plugin in the
plugins volume whose requires_redmine excludes the target, too little free space
for the copy or the pre-upgrade backup, a stack that does not serve. Then, each
step reported as it runs:

  1. checks (above), and a sample read through nginx: the newest issue, an
     attachment, the theme the pages use
  2. a backup, kept in the backup directory's pre-upgrade/ (no rotation removes it)
  3. maintenance: nginx answers every route but /healthz with our page, HTTP 503
     and Retry-After, once the requests under way have finished
  4. the data copied into a new generation on the new release: PostgreSQL by
     dump and restore into the new major's cluster, files and plugins copied;
     Redmine's and its plugins' migrations run at its first start; a private
     smoke check; nginx pointed at it
  5. a check through nginx, past the maintenance page: a login through the form,
     and the same newest issue, attachment and theme as in step 1
  6. maintenance off

On any failure the old generation serves again, maintenance ends, and stackctl
exits 25 naming the step and the pre-upgrade backup. A stackctl killed half way
is sorted out by the next stackctl command on the stack, which says where the
stack stands.

With --dry-run, upgrade runs the checks of step 1 that refuse (exit 24, the same
words), then prints its plan instead of asking: the steps above with the new
generation's number, the images it would build, the volumes copied, the
migrations, where nginx is pointed, how long the tracker would show the
maintenance page, and what serves after. It builds nothing, reads nothing through
nginx, takes no lock and writes nothing.`,
		Example: `  stackctl upgrade redmine --to 6.1.5 --dry-run       # the plan, changing nothing
  stackctl upgrade redmine --to 6.1.5                 # debian profile
  stackctl upgrade redmine --to 6.1.5 --postgres 18 --yes
  stackctl rollback redmine                            # back to the version and data before`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpgrade(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runUpgrade(ctx context.Context, g *globalOptions, o *upgradeOptions, args []string) error {
	if o.to == "" {
		return fmt.Errorf("%w: --to VERSION is required: %s", errUsage, upgradeTargets())
	}
	dir := g.backupDir(o.backupDir)
	opts := upgrade.Options{
		To: o.to, Postgres: o.postgres, BackupDir: dir, Report: g.rep,
		Up:       stack.UpOptions{Mirror: o.mirror, Timeout: o.timeout},
		Progress: g.rep.Meter(),
	}
	mode, purpose := stack.Apply, "upgrade"
	if o.dryRun {
		// Looks only: no lock, nothing finished, built or recorded.
		mode, purpose = stack.Read, "upgrade --dry-run"
	} else {
		// The pre-upgrade backup is signed as every backup is; a dry run
		// makes no key.
		key, err := g.signingKey("")
		if err != nil {
			return err
		}
		opts.Key = key
	}
	s, err := g.open(ctx, args, mode, purpose)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Supports(stack.VerbUpgrade); err != nil {
		return err
	}
	if o.dryRun {
		plan, err := upgrade.Plan(ctx, s, opts)
		if err != nil {
			return err
		}
		return writePlan(g.stdout, plan, o.json)
	}
	st := s.Def
	if !o.yes {
		q := fmt.Sprintf("upgrade stack %s to Redmine %s? It answers with a maintenance page while its data is copied and migrated", st.Name, o.to)
		if err := g.confirm(q, "--yes", upgrade.ErrRefused); err != nil {
			return err
		}
	}
	start := time.Now()
	res, err := upgrade.Run(ctx, s, opts)
	if err != nil {
		return err
	}
	g.rep.Printf("upgraded stack %s from %s to %s in %s (maintenance %s); generation %d is kept: 'stackctl rollback %s' returns to it",
		st.Name, res.FromVersion, res.ToVersion, time.Since(start).Round(100*time.Millisecond), res.Window.Round(100*time.Millisecond), res.From, st.Name)
	g.rep.Printf("pre-upgrade backup: %s", res.Backup)
	if o.json {
		return writeJSON(g.stdout, upgradeResult{
			Stack: st.Name, FromVersion: res.FromVersion, ToVersion: res.ToVersion, Generation: res.Gen, From: res.From,
			Backup: res.Backup, MaintenanceSeconds: res.Window.Round(100 * time.Millisecond).Seconds(), URL: res.URL,
		})
	}
	fmt.Fprintln(g.stdout, res.URL)
	return nil
}

// upgradeResult is what upgrade prints with --json.
type upgradeResult struct {
	Stack       string `json:"stack"`
	FromVersion string `json:"from_version"`
	ToVersion   string `json:"to_version"`
	// Generation serves the new version; From, the old, is kept.
	Generation int    `json:"generation"`
	From       int    `json:"from"`
	Backup     string `json:"backup"`
	// MaintenanceSeconds is how long the maintenance page answered.
	MaintenanceSeconds float64 `json:"maintenance_seconds"`
	URL                string  `json:"url"`
}
