package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/stack"
)

type restoreVolumesOptions struct {
	stack      string
	force      bool
	identities []string
	profile    string
	listen     string
	mirror     string
	timeout    time.Duration
}

func (o *restoreVolumesOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.stack, "stack", "redmine", "the stack to restore into; an archive of another stack is refused")
	fs.BoolVar(&o.force, "force", false, "replace the stack's current data (its volumes and database) with the archive's")
	fs.StringArrayVarP(&o.identities, "identity", "i", nil, "age identity file that opens an encrypted archive; repeatable")
	profileFlag(fs, &o.profile, envProfile(), profileUsage)
	fs.StringVar(&o.listen, "listen", "", "host address:port to publish the stack on (default: as last time, else "+catalog.DefaultListen+")")
	mirrorFlag(fs, &o.mirror)
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for each start to become healthy")
}

func newRestoreVolumesCommand(g *globalOptions) *cobra.Command {
	o := &restoreVolumesOptions{}
	cmd := &cobra.Command{
		Use:   "restore-volumes ARCHIVE",
		Short: "Restore a stack's database and volumes from a backup archive",
		Long: `Restore a stack's database and volumes from an archive of 'stackctl backup-volumes'.

The whole archive is verified first. The restore is then refused, with nothing
changed, when the archive is of another stack, comes from a newer Redmine or
PostgreSQL than the images the stack would run, or when the stack still has data
(any of its volumes exists) and --force is not given. Otherwise the stack is stopped
and its volumes removed (with --force), its images built when missing, its volumes
filled from the archive with their owners, modes and times, the database restored
with pg_restore into a fresh PostgreSQL, and the stack started; stackctl waits
until it is healthy and answers, and prints its URL.`,
		Example: `  stackctl down -v redmine && stackctl restore-volumes backups/redmine-20261123T060000Z.tar.zst
  stackctl restore-volumes --force backups/redmine-20261123T060000Z.tar.zst
  stackctl restore-volumes -i ~/.config/age/key.txt redmine-20261123T060000Z.tar.zst.age`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestoreVolumes(cmd.Context(), g, o, args[0])
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runRestoreVolumes(ctx context.Context, g *globalOptions, o *restoreVolumesOptions, archive string) error {
	st, err := catalog.LookupStack(o.stack)
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
	r, e, release, err := g.changing(ctx, st, "restore-volumes")
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	res, err := backup.Restore(ctx, r, e, st, archive, backup.RestoreOptions{
		Force: o.force, Identities: ids, Progress: backup.NewProgress(g.stderr, g.stderrIsTerminal()),
		Up: stack.UpOptions{Profile: profile, Listen: o.listen, Mirror: o.mirror, Timeout: o.timeout},
	})
	if err != nil {
		return err
	}
	for _, v := range res.Replaced {
		fmt.Fprintf(g.stderr, "replaced the data in volume %s\n", v)
	}
	m := res.Manifest
	fmt.Fprintf(g.stderr, "restored stack %s from %s (taken %s, Redmine %s) in %s\n",
		st.Name, archive, m.Created.Format("2006-01-02 15:04:05 MST"), m.RedmineVersion, time.Since(start).Round(100*time.Millisecond))
	fmt.Fprintln(g.stdout, res.URL)
	return nil
}
