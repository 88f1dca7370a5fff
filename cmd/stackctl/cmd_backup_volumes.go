package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/retention"
	"github.com/stackctl/stackctl/internal/signing"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
)

type backupVolumesOptions struct {
	out       string
	to        string
	keep      int
	policy    retention.Policy
	encryptTo []string
	// signingKey is the operator's own key to sign with, when given.
	signingKey string
	// testRestore proves the new archive restores; identities open it when encrypted.
	testRestore bool
	identities  []string
	timeout     time.Duration
	json        bool
}

func (o *backupVolumesOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.to, "to", "", "where the archive goes: a directory (which must exist), sftp://user@host[:port]/path?options or s3://bucket/prefix?options (default: --out)")
	fs.StringVar(&o.out, "out", os.Getenv("STACKCTL_BACKUP_DIR"), "directory the archive is written to when there is no --to, created if missing (env STACKCTL_BACKUP_DIR; default: backups/ under --state-dir)")
	fs.IntVar(&o.keep, "keep", 0, "same as --keep-last: keep only the N newest archives of the stack on the target (0 keeps all)")
	retentionFlags(fs, &o.policy)
	fs.StringArrayVar(&o.encryptTo, "encrypt-to", nil, "encrypt to this age recipient (age1…), or to every recipient in this file; repeatable")
	fs.StringVar(&o.signingKey, "signing-key", os.Getenv("STACKCTL_SIGNING_KEY"), "sign the archive with this OpenSSH ed25519 private key (yours, mode 0600, no passphrase) instead of the state directory's own (env STACKCTL_SIGNING_KEY)")
	fs.BoolVar(&o.testRestore, "test-restore", false, "then restore the archive into a throwaway generation beside the running stack, start it privately, "+
		"log in, read the newest issue and the newest attachment, remove it, and record the result beside the archive")
	fs.StringArrayVarP(&o.identities, "identity", "i", nil, "age identity file (yours, mode 0600) that opens the encrypted archive for --test-restore; repeatable")
	fs.DurationVar(&o.timeout, "timeout", 0, "how long --test-restore waits for the throwaway generation to be healthy (default 5m)")
	fs.BoolVar(&o.json, "json", false, "print the archive's location, manifest and checksum as JSON on stdout, and progress as JSON lines on stderr")
}

// check refuses, before anything is read or written, what every run would
// refuse (schedule backup checks a schedule's flags with it too), and returns
// the retention policy and the recipients the flags give. flags are the flags
// as parsed, which say whether --out was given or came from the environment.
func (o *backupVolumesOptions) check(flags *pflag.FlagSet) (retention.Policy, []age.Recipient, error) {
	p := o.policy
	switch {
	case o.keep < 0:
		return p, nil, fmt.Errorf("%w: --keep %d: give a number of archives, 1 or more (0 keeps all)", errUsage, o.keep)
	case o.keep > 0 && flags.Changed("keep-last") && p.Last != o.keep:
		return p, nil, fmt.Errorf("%w: --keep %d and --keep-last %d: --keep is --keep-last's old name: give one", errUsage, o.keep, p.Last)
	case o.keep > 0:
		p.Last = o.keep
	}
	if err := p.Validate(); err != nil {
		return p, nil, err
	}
	if flags.Changed("out") && flags.Changed("to") {
		return p, nil, fmt.Errorf("%w: --out and --to both say where the archive goes: give one (--to takes a directory too)", errUsage)
	}
	if o.to != "" {
		// Parsing connects to nothing: a URL that cannot work is refused here.
		if _, err := offsite.Parse(o.to); err != nil {
			return p, nil, err
		}
	}
	recipients, err := parseRecipients(o.encryptTo)
	if err == nil && o.testRestore && len(recipients) > 0 && len(o.identities) == 0 {
		err = fmt.Errorf("%w: --test-restore of an encrypted archive needs an --identity that opens it", errUsage)
	}
	if err == nil && !o.testRestore && (len(o.identities) > 0 || flags.Changed("timeout")) {
		err = fmt.Errorf("%w: --identity and --timeout are --test-restore's: add it, or leave them out", errUsage)
	}
	return p, recipients, err
}

func newBackupVolumesCommand(g *globalOptions) *cobra.Command {
	o := &backupVolumesOptions{}
	cmd := &cobra.Command{
		Use:   "backup-volumes [STACK]",
		Short: "Back up a running stack's database and volumes into one verified archive, here or off-site",
		Long: `Back up a running stack's persistent state while it keeps serving.

The archive holds the database as a pg_dump snapshot (custom format), every other
named volume of the stack as a tar stream that keeps owners, modes and times, and a
manifest with the stack, its profile, the Redmine and PostgreSQL versions, the time,
and the size and SHA-256 of every entry. It is compressed with zstd and, with
--encrypt-to, encrypted to age recipients. STACK defaults to redmine.

The archive streams to its target, --to: a local directory, a directory on an
SFTP server (key authentication, the host key checked against known_hosts or a
pinned fingerprint) or a prefix of an S3 bucket (credentials from the standard
AWS environment variables or a credentials file, never from the URL), with no
copy on the local disk. It is written under a temporary name that becomes final
only once the target is shown to hold every byte: an interrupted backup never
leaves an archive that looks complete. Before the stack is read, the target is
checked: wrong credentials (exit 26), an unknown host key (exit 27), a missing
directory or bucket (exit 3) fail at once, naming the target. Without --to the
archive goes to --out, a directory made if missing. A local archive has mode 0600.

Beside the archive goes its sidecar, <archive>.json: the manifest, the archive's
size and SHA-256, and later the result of a restore test. Once the archive is
written, the --keep-* rules (restic's meaning, in UTC; --keep N is --keep-last N)
prune the stack's older archives on the target, naming each one removed; no rule
removes the new archive, the newest, or the newest whose restore test passed.
'stackctl backups' lists them and shows what the rules would remove.

Standard tools open an archive too: zstd -dc FILE | tar -t (age -d first when
encrypted). Check one with 'stackctl verify-backup', restore it with 'stackctl
restore-volumes': both take the path or URL this command prints.`,
		Example: `  stackctl backup-volumes
  stackctl backup-volumes redmine --out /srv/backups --keep 7
  stackctl backup-volumes --to sftp://backup@nas.example.org/srv/backups --keep-daily 7 --keep-weekly 4 --keep-monthly 12
  AWS_PROFILE=backup stackctl backup-volumes --to 's3://team-backups/redmine?region=eu-west-1' --keep-daily 14
  stackctl backup-volumes --to 's3://backups/redmine?endpoint=https://minio.example.org:9000&path-style=true'
  stackctl backup-volumes --encrypt-to age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
  stackctl backup-volumes --encrypt-to ~/.config/stackctl/backup-recipients.txt
  stackctl backup-volumes redmine --json | jq -r .archive`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackupVolumes(cmd.Context(), g, o, cmd.Flags(), args)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runBackupVolumes(ctx context.Context, g *globalOptions, o *backupVolumesOptions, flags *pflag.FlagSet, args []string) error {
	st, err := g.stackArg(defaultStack(args))
	if err != nil {
		return err
	}
	policy, recipients, err := o.check(flags)
	if err != nil {
		return err
	}
	target, where, err := g.backupTarget(o.to, o.out)
	if err != nil {
		return err
	}
	defer target.Close()
	// Before the stack's lock and anything that touches the stack: wrong
	// credentials, an unknown host key or a missing bucket fail here.
	if err := target.Check(ctx); err != nil {
		return err
	}
	s, err := g.open(ctx, []string{st.Name}, stack.Change, "backup-volumes")
	if err != nil {
		return err
	}
	defer s.Close()
	start := time.Now()
	key, err := g.signingKey(o.signingKey)
	if err != nil {
		return err
	}
	opts := backup.Options{Target: target, Keep: policy, Recipients: recipients, Key: key, Progress: g.rep.Meter()}
	if o.testRestore {
		if err := s.Supports(stack.VerbTrial); err != nil {
			return err
		}
		ids, err := parseIdentities(o.identities)
		if err != nil {
			return err
		}
		// The archive is signed with key: that key alone is trusted for it.
		trust := signing.NewTrust(&key.Public, "", nil)
		opts.TestRestore = func(ctx context.Context, t offsite.Target, name string) backup.RestoreTest {
			return testRestore(ctx, g, s, offsite.Location{Target: t, Name: name}, backup.RestoreOptions{
				Identities: ids, Trust: trust, Progress: g.rep.Meter(), Up: stack.UpOptions{Timeout: o.timeout},
			})
		}
	}
	res, err := backup.Backup(ctx, s, opts)
	if res.Name == "" {
		return err
	}
	for _, en := range res.Manifest.Entries {
		g.rep.Printf("  %-24s %10s  sha256:%.16s…", en.Name, backup.Bytes(en.Size), en.SHA256)
	}
	g.rep.Printf("backed up %s of stack %s into %s on %s in %s",
		backup.Bytes(res.Manifest.Size()), st.Name, backup.Bytes(res.Written), target, time.Since(start).Round(100*time.Millisecond))
	for _, name := range res.Pruned {
		g.rep.Printf("removed older backup %s", name)
	}
	// Printed even when what follows the commit failed: the archive is there.
	loc := offsite.ArchiveLocation(where, res.Name)
	if o.json {
		if jerr := writeJSON(g.stdout, backupResult{Archive: loc, Result: res}); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
	fmt.Fprintln(g.stdout, loc)
	return err
}

// backupResult is what backup-volumes prints with --json.
type backupResult struct {
	// Archive is where the archive is, as restore-volumes takes it.
	Archive string `json:"archive"`
	backup.Result
}

// testRestore runs the restore test of the archive at loc, saying what it
// does and how it ended, as the sidecar records it.
func testRestore(ctx context.Context, g *globalOptions, s *stack.Stack, loc offsite.Location, o backup.RestoreOptions) backup.RestoreTest {
	st := s.Def
	g.rep.Printf("stack %s: testing that %s restores, in a throwaway generation beside the one that serves", st.Name, loc.Name)
	start := time.Now()
	res, err := backup.TrialRestore(ctx, s, loc, o)
	rt := backup.RestoreTest{Passed: err == nil, At: time.Now().UTC().Truncate(time.Second), DurationSeconds: time.Since(start).Round(100 * time.Millisecond).Seconds()}
	var te *stack.TrialError
	switch {
	case err == nil:
		rt.Message = strings.Join(res.Steps, "; ")
		g.rep.Printf("stack %s: the restore test passed in %.1fs: %s", st.Name, rt.DurationSeconds, rt.Message)
	case errors.As(err, &te):
		rt.FailedStep, rt.Message = te.Step, te.Err.Error()
	default:
		rt.FailedStep, rt.Message = stack.StepRestore, err.Error()
	}
	return rt
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
				return nil, fmt.Errorf("%w: --encrypt-to %s: %v", errs.ErrInvalidInput, v, err)
			}
			out = append(out, r)
			continue
		}
		f, err := os.Open(v)
		if err != nil {
			return nil, fmt.Errorf("%w: --encrypt-to %s: neither an age recipient (age1…) nor a readable file: %v", errs.ErrInvalidInput, v, err)
		}
		rs, err := age.ParseRecipients(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: --encrypt-to %s: %v", errs.ErrInvalidInput, v, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}

// parseIdentities reads age identity files, as age -i does, once each is
// found private as any other secret file (state.ReadSecretFile).
func parseIdentities(files []string) ([]age.Identity, error) {
	var out []age.Identity
	for _, p := range files {
		content, err := state.ReadSecretFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: --identity: %s", errs.ErrInvalidInput, strings.TrimPrefix(err.Error(), errs.ErrInvalidInput.Error()+": "))
		}
		ids, err := age.ParseIdentities(strings.NewReader(content))
		if err != nil {
			return nil, fmt.Errorf("%w: --identity %s: %v", errs.ErrInvalidInput, p, err)
		}
		out = append(out, ids...)
	}
	return out, nil
}
