package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/signing"
	"github.com/stackctl/stackctl/internal/state"
)

// trustOptions are the flags by which an operator trusts an archive's origin
// for one command, beyond the state directory's own key and trusted-keys file.
type trustOptions struct {
	keys     []string
	unsigned bool
}

func (o *trustOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.keys, "trust-key", nil, "also accept archives signed by this key: its fingerprint (SHA256:…, as a refusal prints it), its public key line, or a .pub file; repeatable")
	fs.BoolVar(&o.unsigned, "trust-unsigned", false, "accept an archive that is not signed (made before stackctl signed its archives): it is still checked for damage")
}

// trust is whose archives this command accepts: the state directory's own
// key, its trusted-keys file, and what o adds.
func (g *globalOptions) trust(o trustOptions) (*signing.Trust, error) {
	t, err := state.Dir(g.stateDir).Trust()
	if err != nil {
		return nil, err
	}
	for _, k := range o.keys {
		if err := t.Add(k); err != nil {
			return nil, err
		}
	}
	t.Unsigned = o.unsigned
	return t, nil
}

// signingKey is the key this command signs archives with: file, the
// operator's own, when given; else the state directory's, made on first use.
func (g *globalOptions) signingKey(file string) (*signing.Key, error) {
	if file != "" {
		return state.LoadSigningKey(file)
	}
	return state.Dir(g.stateDir).SigningKey()
}

// checkSigningKey refuses a --signing-key a schedule would pass on that
// cannot sign: missing, open to others, or not a key. Checked when the
// schedule is made, not at its first run.
func checkSigningKey(path string) error {
	_, err := state.LoadSigningKey(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: --signing-key %s: no such file: give your key's path, or leave out --signing-key (and STACKCTL_SIGNING_KEY) to sign with the state directory's own key",
			errs.ErrInvalidInput, path)
	case err != nil:
		return fmt.Errorf("--signing-key: %w", err)
	}
	return nil
}
