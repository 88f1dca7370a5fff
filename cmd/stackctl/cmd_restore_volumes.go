package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/stack"
)

type restoreVolumesOptions struct {
	stack      string
	yes        bool
	only       []string
	identities []string
	trust      trustOptions
	files      []string
	profile    string
	listen     string
	mirror     string
	timeout    time.Duration
	dryRun     bool
	json       bool
}

func (o *restoreVolumesOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.stack, "stack", "redmine", "the stack to restore into; an archive of another stack is refused")
	fs.BoolVarP(&o.yes, "yes", "y", false, "restore without asking, on a stack that has data (needed without a terminal)")
	// --force replaced the data before generations; it now means --yes.
	fs.BoolVar(&o.yes, "force", false, "same as --yes")
	_ = fs.MarkDeprecated("force", "a restore no longer replaces data; use --yes")
	fs.StringSliceVar(&o.only, "only", nil, "restore only these volumes from the archive (comma-separated or repeated), copying the stack's others from its active generation")
	fs.StringArrayVarP(&o.identities, "identity", "i", nil, "age identity file (yours, mode 0600) that opens an encrypted archive; repeatable")
	o.trust.AddFlags(fs)
	fs.StringSliceVar(&o.files, "files-volume", nil, "on a swarm whose files are on shared storage: the local driver's options (KEY=VALUE,…) of new storage for the restored files")
	profileFlag(fs, &o.profile, envProfile(), profileUsage)
	fs.StringVar(&o.listen, "listen", "", "host address:port to publish the stack on (default: as last time, else "+catalog.DefaultListen+")")
	mirrorFlag(fs, &o.mirror)
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for each start to become healthy")
	fs.BoolVar(&o.dryRun, "dry-run", false, "check the archive's manifest as the restore would, then print what it would do (the generation it makes, each volume and where its content comes from, the switch, the outage, what serves after); change nothing")
	fs.BoolVar(&o.json, "json", false, "print the result (with --dry-run, the plan) as JSON on stdout, and progress as JSON lines on stderr")
}

func newRestoreVolumesCommand(g *globalOptions) *cobra.Command {
	o := &restoreVolumesOptions{}
	cmd := &cobra.Command{
		Use:   "restore-volumes ARCHIVE",
		Short: "Restore a stack's database and volumes from a backup archive, here or off-site",
		Long: `Restore a stack's database and volumes from an archive of 'stackctl backup-volumes',
as a new generation of its data, beside the running stack, which keeps serving.

The restore is refused, with nothing changed, when the archive is of another
stack, lacks one of the stack's volumes, comes from a newer Redmine or PostgreSQL
than the images the stack would run, or, by the sizes its manifest records, would
not fit in the free space where the new volumes go, less a margin left for the
serving generation (a twentieth, at most 1 GiB). Otherwise the archive is read
once and checked as it is written into new volumes (the database through a
PostgreSQL of the new generation, never the running one), each within that room,
measured just before: a file whose size would pass it is refused before a byte of
it is written, and a database that outgrows it is stopped, an encrypted archive's
too, whose sizes are not known before it is read (exit 22, the new generation
removed). The new generation starts beside the current one, and once it is
healthy and answers a smoke check, nginx is pointed at it (requests under way
finish) and the old generation's containers stop.

Nothing is destroyed: the generation that served before stays, with its volumes,
reachable with 'stackctl rollback' until 'stackctl prune' removes it, and so do
the writes it took during the restore. Any failure before nginx is pointed over
removes the new generation and leaves the stack exactly as it was; so does a
stackctl killed half way, at the next stackctl command on the stack.

An archive must be signed by a key trusted here, as verify-backup checks it: the
state directory's own, one listed in its trusted-keys file, or one given with
--trust-key; an unsigned archive (made before archives were signed) only with
--trust-unsigned. The signature, over the manifest of every part's checksum, is
read from the archive's end and checked before anything is written: an archive
another key signed, or whose signature fails, is refused (exit 31, naming the
key); every part is then checked against its signed checksum before it is used.

An archive that lacks some of the stack's volumes is refused unless --only names
the volumes to take from it: the others are then copied into the new generation
from the active one (the database as a pg_dump snapshot). --only also restores
part of a whole archive, say the attachments alone.

ARCHIVE is a file, or an archive on an off-site target, read straight from there
with no copy on the local disk: the target's URL as 'backup-volumes --to' takes
it, with the archive's name at the end of its path (backup-volumes prints it so).
The target is reached, and must let stackctl in, before the stack is touched.

On a stack with data, the restore asks for confirmation on a terminal; pass --yes
where there is none.

On a stack deployed on a swarm ('up --on swarm'), the new generation is made on
the data node: its volumes there, the database filled through a PostgreSQL of the
stack's image run there alone, while the stack serves; then Redmine's tasks stop,
the stack is deployed on the new volumes and Redmine starts on them: the tracker
does not answer for that while. Files on shared storage go to new storage named
with --files-volume (empty): the storage that serves is never written. --profile,
--listen and --mirror do not apply there: the swarm runs what its last deploy pushed.

With --dry-run, restore-volumes reads the archive's header and the manifest at its
end, refuses what the restore would refuse before it changes anything (with the
same exit codes), and prints its plan instead: what a stopped stackctl left and
is finished or undone first, the generation it makes (its number), each volume
created and filled from the archive or copied (--only), the private start and
checks, where nginx is pointed, the old generation's containers stopped and kept
for a rollback, whether and how long the tracker would not answer, and what
serves after. It takes no lock, asks nothing and writes nothing; the content's
checksums and the room are checked by the restore itself, as it writes ('stackctl
verify-backup' reads an archive whole). The restore then does what it printed.`,
		Example: `  stackctl restore-volumes --dry-run backups/redmine-20261123T060000Z.tar.zst   # what it would do
  stackctl restore-volumes backups/redmine-20261123T060000Z.tar.zst
  stackctl restore-volumes --yes backups/redmine-20261123T060000Z.tar.zst   # from a script
  stackctl restore-volumes -i ~/.config/age/key.txt redmine-20261123T060000Z.tar.zst.age
  stackctl restore-volumes --trust-key old-host-signing-key.pub redmine-20261123T060000Z.tar.zst   # made by another host's stackctl
  stackctl restore-volumes --only redmine-files backups/redmine-20261123T060000Z.tar.zst   # the attachments alone
  stackctl restore-volumes sftp://backup@nas.example.org/srv/backups/redmine-20261123T060000Z.tar.zst
  stackctl rollback redmine   # back to the data from before the restore
  stackctl restore-volumes --yes --files-volume type=nfs,o=addr=10.0.0.5,device=:/export/redmine-files-2 redmine-20261123T060000Z.tar.zst   # on a swarm with shared files`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestoreVolumes(cmd.Context(), g, o, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runRestoreVolumes(ctx context.Context, g *globalOptions, o *restoreVolumesOptions, archive string) error {
	st, err := g.stackArg([]string{o.stack})
	if err != nil {
		return err
	}
	profile, err := profileAndListen(o.profile, o.listen)
	if err != nil {
		return err
	}
	ids, err := parseIdentities(o.identities)
	if err != nil {
		return err
	}
	loc, err := offsite.ParseLocation(archive)
	if err != nil {
		return err
	}
	defer loc.Close()
	// An off-site target that refuses us fails before the stack's lock.
	if err := loc.Check(ctx); err != nil {
		return err
	}
	files, err := parseDriverOpts(o.files)
	if err != nil {
		return err
	}
	trust, err := g.trust(o.trust)
	if err != nil {
		return err
	}
	opts := backup.RestoreOptions{
		Identities: ids, Trust: trust, Only: o.only, Progress: g.rep.Meter(), FilesVolume: files,
		Up: stack.UpOptions{Profile: profile, Listen: o.listen, Mirror: o.mirror, Timeout: o.timeout},
	}
	if o.dryRun {
		// Looks only: no lock, nothing finished, asked or written.
		s, err := g.open(ctx, []string{st.Name}, stack.Read, "restore-volumes --dry-run")
		if err != nil {
			return err
		}
		defer s.Close()
		plan, err := backup.PlanRestore(ctx, s, loc, opts)
		if err != nil {
			return err
		}
		return writePlan(g.stdout, plan, o.json)
	}
	s, err := g.open(ctx, []string{st.Name}, stack.Apply, "restore-volumes")
	if err != nil {
		return err
	}
	defer s.Close()
	if !o.yes {
		has, err := backup.HasData(ctx, s)
		if err != nil {
			return err
		}
		if has {
			q := fmt.Sprintf("stack %s has data: restore %s as a new generation of it (the current one stays, for 'stackctl rollback')?", st.Name, loc)
			if err := g.confirm(q, "--yes", backup.ErrRefused); err != nil {
				return err
			}
		}
	}
	start := time.Now()
	res, err := backup.Restore(ctx, s, loc, opts)
	if err != nil {
		return err
	}
	prune := ""
	if s.Supports(stack.VerbPrune) == nil {
		prune = fmt.Sprintf(", 'stackctl prune %s' removes it", st.Name)
	}
	return restored(g, st, loc, res, start, prune, o.json)
}

// restored reports a restore that took since start; prune says how the
// generation that served is removed, where it can be.
func restored(g *globalOptions, st catalog.Stack, loc offsite.Location, res backup.RestoreResult, start time.Time, prune string, asJSON bool) error {
	m := res.Manifest
	g.rep.Printf("restored stack %s from %s (taken %s, Redmine %s) as generation %d in %s",
		st.Name, loc, m.Created.Format("2006-01-02 15:04:05 MST"), m.RedmineVersion, res.Gen, time.Since(start).Round(100*time.Millisecond))
	if res.From != 0 {
		g.rep.Printf("generation %d, which served before, is kept: 'stackctl rollback %s' returns to it%s", res.From, st.Name, prune)
	}
	if asJSON {
		return writeJSON(g.stdout, restoreResult{
			Stack: st.Name, Archive: loc.String(), Generation: res.Gen, From: res.From, URL: res.URL,
			Seconds: time.Since(start).Round(100 * time.Millisecond).Seconds(), Manifest: m,
		})
	}
	fmt.Fprintln(g.stdout, res.URL)
	return nil
}

// restoreResult is what restore-volumes prints with --json.
type restoreResult struct {
	Stack   string `json:"stack"`
	Archive string `json:"archive"`
	// Generation serves now; From served before and is kept (0: none).
	Generation int              `json:"generation"`
	From       int              `json:"from,omitempty"`
	URL        string           `json:"url"`
	Seconds    float64          `json:"seconds"`
	Manifest   archive.Manifest `json:"manifest"`
}
