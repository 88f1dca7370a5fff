package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/signing"
	"github.com/stackctl/stackctl/internal/termsafe"
)

type verifyBackupOptions struct {
	identities []string
	trust      trustOptions
	json       bool
}

func (o *verifyBackupOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.identities, "identity", "i", nil, "age identity file (yours, mode 0600) that opens an encrypted archive; repeatable")
	o.trust.AddFlags(fs)
	fs.BoolVar(&o.json, "json", false, "print the checked manifest and its signer as JSON")
}

func newVerifyBackupCommand(g *globalOptions) *cobra.Command {
	o := &verifyBackupOptions{}
	cmd := &cobra.Command{
		Use:   "verify-backup ARCHIVE",
		Short: "Read a whole backup archive, here or off-site, and check every entry against its manifest, and its signature",
		Long: `Read a whole backup archive and check every entry's size and SHA-256 against the
manifest, and every compressed part's checksum, without touching any stack. A
damaged archive is reported with the entry that failed (exit 20); one that cannot
be decrypted exits 21.

Every archive is signed: its manifest, which names every entry's checksum, by the
key of the state directory that made it (or the operator's, backup-volumes
--signing-key). verify-backup accepts an archive signed by a key trusted here:
this state directory's own ('stackctl signing-key' prints it), the keys listed in
its trusted-keys file, and those given with --trust-key. Any other is refused,
naming the key that signed it (exit 31), and so is an unsigned archive (one made
before archives were signed) unless --trust-unsigned is given. restore-volumes
takes the same flags.

ARCHIVE is a file, or an archive on an off-site target, read straight from there
with no copy on the local disk: the target's URL as 'backup-volumes --to' takes
it, with the archive's name at the end of its path (backup-volumes prints it so).`,
		Example: `  stackctl verify-backup ~/.local/state/stackctl/backups/redmine-20261123T060000Z.tar.zst
  stackctl verify-backup -i ~/.config/age/key.txt redmine-20261123T060000Z.tar.zst.age --json
  stackctl verify-backup --trust-key SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s redmine-20261123T060000Z.tar.zst
  stackctl verify-backup sftp://backup@nas.example.org/srv/backups/redmine-20261123T060000Z.tar.zst
  stackctl verify-backup 's3://team-backups/redmine/redmine-20261123T060000Z.tar.zst?region=eu-west-1'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := parseIdentities(o.identities)
			if err != nil {
				return err
			}
			trust, err := g.trust(o.trust)
			if err != nil {
				return err
			}
			loc, err := offsite.ParseLocation(args[0])
			if err != nil {
				return err
			}
			defer loc.Close()
			m, signer, err := backup.Verify(cmd.Context(), loc, archive.ReadOptions{Identities: ids, Trust: trust}, g.rep.Meter())
			if err != nil {
				return err
			}
			if o.json {
				return writeJSON(g.stdout, verifyResult{Manifest: m, SignedBy: fingerprintOf(signer)})
			}
			// The manifest is the archive's word: each of its strings escaped.
			q := termsafe.String
			fmt.Fprintf(g.stdout, "%s: intact, %s\nstack %s, base %s, Redmine %s, PostgreSQL %s, taken %s\n",
				q(loc.String()), signedBy(signer), q(m.Stack), q(m.Profile), q(m.RedmineVersion), q(m.PostgresVersion), m.Created.Format("2006-01-02 15:04:05 MST"))
			for _, e := range m.Entries {
				fmt.Fprintf(g.stdout, "  %-24s %-14s %10s  sha256:%s\n", q(e.Name), q(string(e.Kind)), backup.Bytes(e.Size), q(e.SHA256))
			}
			return nil
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

// verifyResult is what verify-backup prints with --json: the checked
// manifest, and the fingerprint of the key that signed it (empty: unsigned).
type verifyResult struct {
	archive.Manifest
	SignedBy string `json:"signed_by"`
}

func fingerprintOf(k *signing.PublicKey) string {
	if k == nil {
		return ""
	}
	return k.Fingerprint()
}

// signedBy says who signed an archive, as verify-backup prints it.
func signedBy(k *signing.PublicKey) string {
	if k == nil {
		return "not signed (accepted with --trust-unsigned)"
	}
	return "signed by " + k.Name()
}
