package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/patch"
	"github.com/stackctl/stackctl/internal/stack"
)

type updateOptions struct {
	securityOnly bool
	backupDir    string
	signingKey   string
	mirror       string
	timeout      time.Duration
	dryRun       bool
	json         bool
}

func (o *updateOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.securityOnly, "security-only", false, "act on security fixes alone: a base whose only fixes are stable updates is left as it is (a base rebuilt takes both, as every base build does)")
	fs.StringVar(&o.backupDir, "backup-dir", os.Getenv("STACKCTL_BACKUP_DIR"), "backup directory; the backup taken first goes to its "+patch.BackupSubdir+"/ (env STACKCTL_BACKUP_DIR; default: backups/ under --state-dir)")
	fs.StringVar(&o.signingKey, "signing-key", os.Getenv("STACKCTL_SIGNING_KEY"), "the OpenSSH ed25519 private key that signs that backup (env STACKCTL_SIGNING_KEY; default: the state directory's signing-key)")
	mirrorFlag(fs, &o.mirror)
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "how long to wait for each new container to become healthy")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print what is pending and what the update would do (the bases rebuilt, the images built on them, what is handed over and what closes the tracker); change nothing")
	fs.BoolVar(&o.json, "json", false, "print the result (with --dry-run, the plan) as JSON on stdout, and progress as JSON lines on stderr")
}

func newUpdateCommand(g *globalOptions) *cobra.Command {
	o := &updateOptions{}
	cmd := &cobra.Command{
		Use:   "update STACK",
		Short: "Apply Debian's security and stable updates to a running stack, without an outage where it can",
		Long: `Apply the fixes Debian has published since a stack's images were built: the
packages its images hold that have a newer version in the suite's security
archive (trixie-security, from the mirror's debian-security) or its stable
updates (trixie-updates), read from the mirror's signed indexes.

Each debian base with fixes pending is built again from the mirror, the stack's
images are built on it, and each changed one is handed over as 'stackctl up'
hands any change over: Redmine beside the one that serves, then nginx on the
same port, with no failed request; PostgreSQL only when its own packages
changed, behind the maintenance page (HTTP 503 with Retry-After) for as long
as its restart takes. A backup is taken first, into the backup directory's
` + patch.BackupSubdir + `/. A base or image that fails to build, or a new container that fails
its health check, leaves the old ones serving. A stackctl stopped half way
leaves the old images serving; the next command finishes or undoes what it left.

Nothing pending: nothing changes, exit 0. 'stackctl status' shows what is
pending, and 'stackctl schedule update' runs this on a timer. A stack on the
official images (upstream profile) gets its fixes with the images Docker Hub
rebuilds: see docs/updates.md.`,
		Example: `  stackctl update redmine --dry-run
  stackctl update redmine
  stackctl update redmine --security-only --json | jq .after.running`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpdate(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// updateResult is what update prints with --json.
type updateResult struct {
	Stack string `json:"stack"`
	// Rebuilt are the bases built again, with why.
	Rebuilt map[string]string `json:"rebuilt"`
	// Moved are the official images' tags that had moved (upstream).
	Moved  []string      `json:"moved,omitempty"`
	Backup string        `json:"backup,omitempty"`
	Before patch.Pending `json:"before"`
	After  patch.Pending `json:"after"`
	URL    string        `json:"url,omitempty"`
}

func runUpdate(ctx context.Context, g *globalOptions, o *updateOptions, args []string) error {
	opts := patch.Options{
		Mirror: o.mirror, SecurityOnly: o.securityOnly, BackupDir: g.backupDir(o.backupDir),
		Timeout: o.timeout, Report: g.rep, Progress: g.rep.Meter(),
	}
	mode, purpose := stack.Apply, "update"
	if o.dryRun {
		// Looks only: no lock, nothing finished, built or recorded.
		mode, purpose = stack.Read, "update --dry-run"
	} else {
		key, err := g.signingKey(o.signingKey)
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
	if err := s.Supports(stack.VerbUpdate); err != nil {
		return err
	}
	st := s.Def
	if o.dryRun {
		// A stack on the official images has nothing to check before a pull.
		pending, err := patch.Check(ctx, s, opts)
		upstream := errors.Is(err, patch.ErrUpstream)
		if err != nil && !upstream {
			return err
		}
		plan, err := patch.Plan(ctx, s, opts, pending)
		if err != nil {
			return err
		}
		if o.json {
			// The plan, as every --dry-run prints it; status --json lists the fixes.
			return writeJSON(g.stdout, plan)
		}
		if !upstream {
			if err := writePending(g.stdout, pending); err != nil {
				return err
			}
		}
		if len(plan.Steps) == 0 {
			fmt.Fprintf(g.stdout, "\nnothing to do: stack %s is up to date with %s\n", st.Name, pending.SuiteNames())
			return nil
		}
		fmt.Fprintln(g.stdout)
		return plan.WriteText(g.stdout)
	}
	start := time.Now()
	res, err := patch.Run(ctx, s, opts)
	if err != nil {
		return err
	}
	if len(res.Rebuilt) > 0 {
		g.rep.Printf("updated stack %s in %s: %d fixes applied, %d pending; bases rebuilt: %v; backup taken first: %s",
			st.Name, time.Since(start).Round(time.Second), res.Before.Count()-res.After.Count(), res.After.Count(),
			slices.Sorted(maps.Keys(res.Rebuilt)), res.Backup)
	}
	if len(res.Moved) > 0 {
		g.rep.Printf("updated stack %s in %s: moved tags %v pulled and handed over; backup taken first: %s", st.Name, time.Since(start).Round(time.Second), res.Moved, res.Backup)
	}
	if o.json {
		return writeJSON(g.stdout, updateResult{Stack: st.Name, Rebuilt: res.Rebuilt, Moved: res.Moved, Backup: res.Backup, Before: res.Before, After: res.After, URL: res.URL})
	}
	if len(res.After.Suites) == 0 {
		return nil
	}
	return writePending(g.stdout, res.After)
}
