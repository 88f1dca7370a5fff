package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/patch"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/status"
	"github.com/stackctl/stackctl/internal/termsafe"
)

type statusOptions struct {
	json      bool
	backupDir string
	mirror    string
	noUpdates bool
}

func (o *statusOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print the status as JSON, for scripts")
	fs.StringVar(&o.backupDir, "backup-dir", os.Getenv("STACKCTL_BACKUP_DIR"), "where the stack's backups are (env STACKCTL_BACKUP_DIR; default: backups/ under --state-dir)")
	mirrorFlag(fs, &o.mirror)
	fs.BoolVar(&o.noUpdates, "no-updates", false, "do not read the mirror's indexes for the fixes pending")
}

func newStatusCommand(g *globalOptions) *cobra.Command {
	o := &statusOptions{}
	cmd := &cobra.Command{
		Use:   "status STACK",
		Short: "What a stack runs, its active generation, its last backup and the upgrades on offer",
		Long: `Show what a stack runs and where it stands: the Redmine, PostgreSQL, Ruby and
Rails versions read from its running containers; its profile and what its images
build on (a Debian suite, or pinned official tags); the active generation; whether
it is closed for maintenance; its last backup and how old it is; and the upgrades
the available bases (debian) or pinned tags (upstream) offer, with the command
that makes each; and the URL to open: with HTTPS on, the site's url, else
https:// and the stack's address. Changes nothing.`,
		Example: `  stackctl status redmine
  stackctl status redmine --json | jq .last_backup.age_seconds`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runStatus(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runStatus(ctx context.Context, g *globalOptions, o *statusOptions, args []string) error {
	sk, err := g.open(ctx, args, stack.Read, "status")
	if err != nil {
		return err
	}
	defer sk.Close()
	dir := g.backupDir(o.backupDir)
	s, err := status.Read(ctx, sk, status.Options{BackupDirs: []string{dir}, Updates: patch.Options{Mirror: o.mirror}, NoUpdates: o.noUpdates}, time.Now())
	if err != nil {
		return err
	}
	if o.json {
		return writeJSON(g.stdout, s)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	// A value holds what the containers and the backups' names say: escaped,
	// a row that needs it is quoted whole.
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, termsafe.String(v)) }
	row("stack", s.Stack+" at "+s.URL)
	state := "running"
	switch {
	case !s.Running:
		state = "not running: 'stackctl up " + s.Stack + "' starts it"
	case s.Maintenance:
		state = "closed for maintenance (nginx answers 503 and our page)"
	}
	row("state", state)
	if s.Upgrading != "" {
		row("upgrade", s.Upgrading+": the next changing stackctl command on the stack sorts it out")
	}
	if s.Running {
		row("redmine", s.Redmine)
		row("postgresql", s.Postgres)
		row("ruby, rails", s.Ruby+", "+s.Rails)
	}
	row("release", fmt.Sprintf("%s on profile %s: %s (%s)", s.Release, s.Profile, s.Base, strings.Join(s.Images, ", ")))
	row("generation", fmt.Sprintf("%d active, of %d: see 'stackctl generations %s'", s.Generation, s.Generations, s.Stack))
	if b := s.LastBackup; b != nil {
		row("last backup", fmt.Sprintf("%s, %s ago (%s)", b.Taken.Local().Format("2006-01-02 15:04"), (time.Duration(b.AgeSeconds)*time.Second).String(), b.Path))
	} else {
		row("last backup", fmt.Sprintf("none in %s: 'stackctl backup-volumes %s' takes one", dir, s.Stack))
	}
	if len(s.Upgrades) == 0 {
		row("upgrades", "none: this is the newest release stackctl offers")
	}
	for _, u := range s.Upgrades {
		built := "bases built"
		if !u.Built {
			built = "bases to build first"
		}
		row("upgrade to", fmt.Sprintf("Redmine %s with PostgreSQL %d (%s): %s", u.Redmine, u.Postgres, built, u.Command))
	}
	switch {
	case s.UpdatesError != "":
		row("updates", "not read: "+s.UpdatesError)
	case s.Updates != nil:
		now := time.Now()
		for _, im := range s.Updates.Running {
			row("fixes pending", strings.Join(im.Services, ", ")+": "+pendingSummary(im, now))
			if im.Redmine != "" {
				row("redmine package", redminePackage(im))
			}
		}
		if n := s.Updates.Count(); n > 0 {
			row("apply them", fmt.Sprintf("'stackctl update %s' (--dry-run lists them and what closes the tracker)", s.Stack))
		}
	}
	return tw.Flush()
}

// redminePackage says which Debian Redmine an image holds, and the newer one
// pending, if any.
func redminePackage(im patch.Image) string {
	s := "Debian's " + im.Redmine + ", with Debian's backported fixes"
	for _, u := range im.Updates {
		if u.Package == "redmine" {
			s += "; " + u.Available + " is available in " + u.Suite
		}
	}
	return s
}
