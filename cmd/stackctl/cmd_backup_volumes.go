package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/errs"
)

type backupVolumesOptions struct {
	out       string
	keep      int
	encryptTo []string
}

func (o *backupVolumesOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.out, "out", os.Getenv("STACKCTL_BACKUP_DIR"), "directory the archive is written to (env STACKCTL_BACKUP_DIR; default: backups/ under --state-dir)")
	fs.IntVar(&o.keep, "keep", 0, "keep only the N newest archives of the stack in --out, removing older ones (0 keeps all)")
	fs.StringArrayVar(&o.encryptTo, "encrypt-to", nil, "encrypt to this age recipient (age1…), or to every recipient in this file; repeatable")
}

func newBackupVolumesCommand(g *globalOptions) *cobra.Command {
	o := &backupVolumesOptions{}
	cmd := &cobra.Command{
		Use:   "backup-volumes [STACK]",
		Short: "Back up a running stack's database and volumes into one verified archive",
		Long: `Back up a running stack's persistent state while it keeps serving.

The archive holds the database as a pg_dump snapshot (custom format), every other
named volume of the stack as a tar stream that keeps owners, modes and times, and a
manifest with the stack, its profile, the Redmine and PostgreSQL versions, the time,
and the size and SHA-256 of every entry. It is compressed with zstd and, with
--encrypt-to, encrypted to age recipients. It is written under a temporary name,
synced, then renamed, with mode 0600: an interrupted backup never leaves a file
that looks complete. STACK defaults to redmine.

Standard tools open it too: zstd -dc FILE | tar -t (age -d first when encrypted).
Check an archive with 'stackctl verify-backup', restore it with 'stackctl restore-volumes'.`,
		Example: `  stackctl backup-volumes
  stackctl backup-volumes redmine --out /srv/backups --keep 7
  stackctl backup-volumes --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  stackctl backup-volumes --encrypt-to ~/.config/stackctl/backup-recipients.txt`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackupVolumes(cmd.Context(), g, o, args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runBackupVolumes(ctx context.Context, g *globalOptions, o *backupVolumesOptions, args []string) error {
	st, err := stackArg(defaultStack(args))
	if err != nil {
		return err
	}
	if o.keep < 0 {
		return fmt.Errorf("%w: --keep %d: give a number of archives, 1 or more (0 keeps all)", errUsage, o.keep)
	}
	recipients, err := parseRecipients(o.encryptTo)
	if err != nil {
		return err
	}
	dir := g.backupDir(o.out)
	r, e, release, err := g.changing(ctx, st, "backup-volumes")
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	res, err := backup.Backup(ctx, r, e, st, backup.Options{
		Dir: dir, Keep: o.keep, Recipients: recipients, Progress: backup.NewProgress(g.stderr, g.stderrIsTerminal()),
	})
	if err != nil {
		return err
	}
	for _, en := range res.Manifest.Entries {
		fmt.Fprintf(g.stderr, "  %-24s %10s  sha256:%.16s…\n", en.Name, backup.Bytes(en.Size), en.SHA256)
	}
	fmt.Fprintf(g.stderr, "backed up %s of stack %s into %s in %s\n",
		backup.Bytes(res.Manifest.Size()), st.Name, backup.Bytes(res.Written), time.Since(start).Round(100*time.Millisecond))
	for _, p := range res.Pruned {
		fmt.Fprintf(g.stderr, "removed older backup %s\n", p)
	}
	fmt.Fprintln(g.stdout, res.Path)
	return nil
}

// defaultStack is args, or redmine when no stack is named: the stack with data.
func defaultStack(args []string) []string {
	if len(args) == 0 {
		return []string{"redmine"}
	}
	return args
}

// parseRecipients reads age recipients: each value is a recipient or a file of them.
func parseRecipients(values []string) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, v := range values {
		if strings.HasPrefix(v, "age1") {
			r, err := age.ParseX25519Recipient(v)
			if err != nil {
				return nil, fmt.Errorf("%w: --encrypt-to %s: %v", errs.InvalidInput, v, err)
			}
			out = append(out, r)
			continue
		}
		f, err := os.Open(v)
		if err != nil {
			return nil, fmt.Errorf("%w: --encrypt-to %s: neither an age recipient (age1…) nor a readable file: %v", errs.InvalidInput, v, err)
		}
		rs, err := age.ParseRecipients(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: --encrypt-to %s: %v", errs.InvalidInput, v, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

// parseIdentities reads age identity files, as age -i does.
func parseIdentities(files []string) ([]age.Identity, error) {
	var out []age.Identity
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("%w: --identity: %v", errs.InvalidInput, err)
		}
		ids, err := age.ParseIdentities(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: --identity %s: %v", errs.InvalidInput, p, err)
		}
		out = append(out, ids...)
	}
	return out, nil
}
