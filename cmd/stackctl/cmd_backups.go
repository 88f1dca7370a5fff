package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/retention"
	"github.com/stackctl/stackctl/internal/termsafe"
)

type backupsOptions struct {
	to     string
	policy retention.Policy
	prune  bool
	dryRun bool
	json   bool
}

func (o *backupsOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.to, "to", "", "where the archives are: a directory, sftp://user@host[:port]/path?options or s3://bucket/prefix?options (default: $STACKCTL_BACKUP_DIR, else backups/ under --state-dir, as for backup-volumes)")
	retentionFlags(fs, &o.policy)
	fs.BoolVar(&o.prune, "prune", false, "remove the archives the --keep-* rules do not keep, listing every decision")
	fs.BoolVar(&o.dryRun, "dry-run", false, "list what the --keep-* rules keep, and why, and what they would remove; remove nothing")
	fs.BoolVar(&o.json, "json", false, "print the archives as a JSON array, for scripts")
}

func newBackupsCommand(g *globalOptions) *cobra.Command {
	o := &backupsOptions{}
	cmd := &cobra.Command{
		Use:   "backups [STACK]",
		Short: "List a stack's backup archives on a target, with their restore tests; prune them by calendar rules",
		Long: `List the stack's backup archives on a target (a local directory, an SFTP server or an
S3 bucket, as 'backup-volumes --to' writes them), oldest first: the name, the size,
when the backup was taken (UTC, from the name), and the restore test recorded in the
archive's sidecar ("not tested" when none ran, "no sidecar" for an archive taken
before stackctl wrote them). An upload still in progress is not an archive and is
not listed. STACK defaults to redmine.

With --keep-* rules, --dry-run lists every archive with the decision on it and the
rules that keep it (restic's meaning, in UTC), and --prune carries the same
decisions out: it removes exactly what --dry-run lists as removed, with their
sidecars. No rule removes the newest archive or the newest whose restore test
passed. No stack is touched and no lock taken: only the target is read, and with
--prune changed.`,
		Example: `  stackctl backups
  stackctl backups redmine --to sftp://backup@nas.example.org/srv/backups
  stackctl backups --to 's3://team-backups/redmine?region=eu-west-1' --json | jq -r '.[] | select(.sidecar.restore_test.passed) | .name'
  stackctl backups --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run
  stackctl backups --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackups(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// deciding says whether the command applies the rules rather than lists.
func (o *backupsOptions) deciding() bool { return o.prune || o.dryRun }

func (o *backupsOptions) check() error {
	switch {
	case o.prune && o.dryRun:
		return fmt.Errorf("%w: --prune and --dry-run: give one (--dry-run shows what --prune removes)", errUsage)
	case o.deciding() && o.policy.Empty():
		return fmt.Errorf("%w: --prune and --dry-run apply the --keep-* rules, and none is given: give at least one, say --keep-daily 7", errUsage)
	case !o.deciding() && !o.policy.Empty():
		return fmt.Errorf("%w: the --keep-* rules need --dry-run (to see what they keep) or --prune (to remove the rest)", errUsage)
	}
	return o.policy.Validate()
}

func runBackups(ctx context.Context, g *globalOptions, o *backupsOptions, args []string) error {
	st, err := g.stackArg(defaultStack(args))
	if err != nil {
		return err
	}
	if err := o.check(); err != nil {
		return err
	}
	target, _, err := g.backupTarget(o.to, os.Getenv("STACKCTL_BACKUP_DIR"))
	if err != nil {
		return err
	}
	defer target.Close()
	listed, err := backup.List(ctx, target, st.Name)
	if err != nil {
		return err
	}
	if !o.deciding() {
		if o.json {
			return writeJSONArray(g.stdout, listed)
		}
		if len(listed) == 0 {
			g.rep.Printf("no backups of stack %s on %s", st.Name, target)
			return nil
		}
		return printBackups(g.stdout, listed)
	}

	plan, err := backup.PlanRetention(listed, o.policy)
	if err != nil {
		return err
	}
	var removed []string
	if o.prune {
		removed, err = backup.Prune(ctx, target, plan, "")
	}
	// The decisions are printed even when a removal failed: they say what was meant.
	if perr := printDecisions(g.stdout, o.json, listed, plan); perr != nil {
		return perr
	}
	if err != nil {
		return fmt.Errorf("removed %d of the %d archives to remove from %s, then: %w", len(removed), len(plan.Remove()), target, err)
	}
	verb := "would remove"
	if o.prune {
		verb = "removed"
	}
	g.rep.Printf("stack %s on %s: %s: %s %d of %d archives", st.Name, target, o.policy, verb, len(plan.Remove()), len(plan))
	return nil
}

// printBackups prints the listing as a table.
func printBackups(w io.Writer, listed []backup.Listed) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tTAKEN\tRESTORE TEST")
	for _, l := range listed {
		// A name is the target's, a summary the sidecar's: escaped, a tab in one breaks no column.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", termsafe.String(l.Name), backup.Bytes(l.Size), l.Taken.UTC().Format(takenLayout), termsafe.String(restoreTestSummary(l)))
	}
	return tw.Flush()
}

const takenLayout = "2006-01-02 15:04:05 UTC"

// restoreTestSummary is what the listing says of an archive's restore test.
func restoreTestSummary(l backup.Listed) string {
	rt := l.RestoreTest()
	switch {
	case l.Problem != "":
		return "sidecar unreadable: " + l.Problem
	case l.Sidecar == nil:
		return "no sidecar"
	case rt == nil:
		return "not tested"
	case rt.Passed:
		return "passed " + rt.At.UTC().Format(takenLayout)
	}
	return fmt.Sprintf("FAILED %s: %s: %s", rt.At.UTC().Format(takenLayout), rt.FailedStep, rt.Message)
}

// backupsDecision is one archive as --dry-run and --prune print it in JSON:
// the listing, and the plan's decision on it.
type backupsDecision struct {
	backup.Listed
	Keep    bool               `json:"keep"`
	Reasons []retention.Reason `json:"reasons,omitempty"`
}

// printDecisions prints the plan's decision on every archive, oldest first
// as the listing: a line each (retention.Decision's), or JSON.
func printDecisions(w io.Writer, asJSON bool, listed []backup.Listed, plan retention.Plan) error {
	byName := map[string]retention.Decision{}
	for _, d := range plan {
		byName[d.Name] = d
	}
	rows := make([]backupsDecision, len(listed))
	for i, l := range listed {
		d := byName[l.Name]
		rows[i] = backupsDecision{Listed: l, Keep: d.Keep, Reasons: d.Reasons}
	}
	if asJSON {
		return writeJSONArray(w, rows)
	}
	for _, l := range listed {
		if _, err := fmt.Fprintln(w, termsafe.String(byName[l.Name].String())); err != nil {
			return err
		}
	}
	return nil
}
