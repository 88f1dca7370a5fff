package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/registry"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/theme"
	"github.com/stackctl/stackctl/internal/upgrade"
	"github.com/stackctl/stackctl/internal/validate"
)

// wrapped is err under two layers of context, as commands return errors.
func wrapped(err error) error {
	return fmt.Errorf("stack redmine: %w", fmt.Errorf("the step: %w", err))
}

// TestExitCodeMapping: main's mapping of errors to exit codes, however deep
// the sentinel is wrapped; outcome codes win over the causes they wrap, and
// an interruption over everything but a scheduled run's own code.
func TestExitCodeMapping(t *testing.T) {
	for _, tc := range []struct {
		name        string
		err         error
		interrupted bool
		want        int
	}{
		{name: "success", want: exitOK},
		{name: "anything else", err: errors.New("disk full"), want: exitFailure},
		{name: "usage", err: wrapped(errUsage), want: exitInvalid},
		{name: "invalid input", err: wrapped(errs.ErrInvalidInput), want: exitInvalid},
		{name: "validate findings", err: wrapped(validate.ErrFindings), want: exitInvalid},
		{name: "address in use", err: wrapped(stack.ErrPortInUse), want: exitInvalid},
		{name: "not running", err: wrapped(errs.ErrNotRunning), want: exitNotFound},
		{name: "not found", err: wrapped(errs.ErrNotFound), want: exitNotFound},
		{name: "engine unavailable", err: wrapped(errs.ErrUnavailable), want: exitUnavailable},
		{name: "busy", err: wrapped(errs.ErrBusy), want: exitBusy},
		{name: "theme source", err: wrapped(theme.ErrSource), want: exitThemeSource},
		{name: "theme image", err: wrapped(theme.ErrImage), want: exitThemeImage},
		{name: "theme stale", err: wrapped(theme.ErrStale), want: exitThemeStale},
		{name: "theme login", err: wrapped(theme.ErrLogin), want: exitThemeLogin},
		{name: "theme not offered", err: wrapped(theme.ErrNotOffered), want: exitThemeNotOffered},
		{name: "theme not applied", err: wrapped(theme.ErrNotApplied), want: exitThemeNotApplied},
		{name: "screenshot", err: wrapped(theme.ErrScreenshot), want: exitThemeScreenshot},
		{name: "archive damaged", err: wrapped(archive.ErrDamaged), want: exitBackupDamaged},
		{name: "archive encrypted", err: wrapped(archive.ErrEncrypted), want: exitBackupEncrypted},
		{name: "restore refused", err: wrapped(backup.ErrRefused), want: exitRestoreRefused},
		{name: "registry credentials", err: wrapped(registry.ErrAuth), want: exitRegistryAuth},
		{name: "swarm refused", err: wrapped(stack.ErrSwarmRefused), want: exitSwarmRefused},
		{name: "unsupported on a swarm", err: wrapped(stack.ErrUnsupported), want: exitSwarmRefused},
		{name: "swarm did not converge", err: wrapped(stack.ErrSwarmNotConverged), want: exitSwarmDeploy},

		// An outcome names the whole step: it wins over the cause it wraps,
		// wherever that cause sits in the chain.
		{name: "upgrade refused for an unreachable engine", err: fmt.Errorf("%w: %w", upgrade.ErrRefused, errs.ErrUnavailable), want: exitUpgradeRefused},
		{name: "upgrade failed on a missing archive", err: wrapped(fmt.Errorf("%w: step 4: %w", upgrade.ErrFailed, errs.ErrNotFound)), want: exitUpgradeFailed},
		{name: "cause first, outcome second", err: fmt.Errorf("%w (then %w)", errs.ErrInvalidInput, upgrade.ErrFailed), want: exitUpgradeFailed},
		{name: "off-site credentials while unreachable", err: fmt.Errorf("%w: %w", offsite.ErrAuth, errs.ErrUnavailable), want: exitOffsiteAuth},
		{name: "host key on a missing directory", err: fmt.Errorf("%w: %w", errs.ErrNotFound, offsite.ErrHostKey), want: exitOffsiteHostKey},
		{name: "restore test of a damaged archive", err: fmt.Errorf("%w: %w", backup.ErrRestoreTest, archive.ErrDamaged), want: exitRestoreTest},
		{name: "swarm refused an invalid setting", err: fmt.Errorf("%w: %w", stack.ErrSwarmRefused, errs.ErrInvalidInput), want: exitSwarmRefused},

		// Two causes: the first row of the table that matches.
		{name: "invalid and not found", err: fmt.Errorf("%w: %w", errs.ErrNotFound, errs.ErrInvalidInput), want: exitInvalid},
		{name: "restore refused, archive damaged", err: fmt.Errorf("%w: %w", backup.ErrRefused, archive.ErrDamaged), want: exitBackupDamaged},

		{name: "interrupted", err: errors.New("signal: interrupt"), interrupted: true, want: exitInterrupted},
		{name: "interrupted during an upgrade", err: wrapped(upgrade.ErrFailed), interrupted: true, want: exitInterrupted},
		{name: "context canceled", err: wrapped(context.Canceled), want: exitInterrupted},
		{name: "scheduled run's own code", err: wrapped(&exitStatus{code: 23, msg: "failed"}), want: 23},
		{name: "scheduled run's own code, interrupted", err: &exitStatus{code: 26, msg: "failed"}, interrupted: true, want: 26},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := exitCode(tc.err, tc.interrupted); got != tc.want {
				t.Fatalf("exitCode(%v, interrupted=%v) = %d, want %d", tc.err, tc.interrupted, got, tc.want)
			}
		})
	}
}

// TestExitCodeTable: the table has one row per code, and each sentinel it
// lists chooses its own row's code: no row hides another's.
func TestExitCodeTable(t *testing.T) {
	seen := map[int]bool{}
	for _, e := range exitCodes {
		if seen[e.code] {
			t.Errorf("exit code %d has two rows", e.code)
		}
		seen[e.code] = true
		if e.meaning == "" {
			t.Errorf("exit code %d says nothing", e.code)
		}
		for _, s := range e.errs {
			if got := exitCode(wrapped(s), false); got != e.code {
				t.Errorf("%v maps to %d, but its row is %d", s, got, e.code)
			}
		}
	}
}
