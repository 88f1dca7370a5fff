package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/state"
)

type signingKeyOptions struct {
	json bool
}

func (o *signingKeyOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.json, "json", false, "print the key, its fingerprint and its file as JSON")
}

func newSigningKeyCommand(g *globalOptions) *cobra.Command {
	o := &signingKeyOptions{}
	cmd := &cobra.Command{
		Use:   "signing-key",
		Short: "Print the public key this state directory signs its backup archives with",
		Long: `Print the public half of the key this state directory signs its backup archives
with (made now if no backup has made it yet), and its fingerprint.

Every archive backup-volumes writes is signed over its manifest, which names
every entry's SHA-256; verify-backup and restore-volumes accept only archives
signed by a key trusted here. To restore on another host (or under another
state directory) archives made here, put the line this prints into that state
directory's trusted-keys file, or pass it, or its fingerprint, with --trust-key
there. The private key stays in the state directory (signing-key, mode 0600);
back it up with the rest of the state directory's secrets.

The signature is OpenSSH's (SSHSIG, namespace stackctl-backup), so that standard
tools check it too:

  zstd -dc ARCHIVE | tar -x manifest.json manifest.sig
  echo "backup namespaces=\"stackctl-backup\" $(stackctl signing-key)" > allowed
  ssh-keygen -Y verify -f allowed -I backup -n stackctl-backup -s manifest.sig < manifest.json`,
		Example: `  stackctl signing-key
  stackctl signing-key --json | jq -r .fingerprint
  ssh backup@old-host stackctl signing-key >> "$STACKCTL_STATE_DIR/trusted-keys"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSigningKey(g, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSigningKey(g *globalOptions, o *signingKeyOptions) error {
	if _, err := g.state(); err != nil {
		return err
	}
	k, err := g.signingKey("")
	if err != nil {
		return err
	}
	trusted := state.Dir(g.stateDir).TrustedKeysPath()
	if o.json {
		return writeJSON(g.stdout, signingKeyResult{Key: k.Public.String(), Fingerprint: k.Public.Fingerprint(), File: k.Path, TrustedKeys: trusted})
	}
	g.rep.Printf("%s (%s), trusted here with the keys in %s", k.Public.Fingerprint(), k.Path, trusted)
	fmt.Fprintln(g.stdout, k.Public.String())
	return nil
}

// signingKeyResult is what signing-key prints with --json.
type signingKeyResult struct {
	Key         string `json:"key"`
	Fingerprint string `json:"fingerprint"`
	File        string `json:"file"`
	TrustedKeys string `json:"trusted_keys"`
}
