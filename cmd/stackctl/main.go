// Command stackctl generates, validates and runs stackctl's Docker Compose stacks
// (Redmine behind nginx, and nginx alone) through the Compose SDK, on official base
// images or on base images it builds from a Debian mirror.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/registry"
	"github.com/stackctl/stackctl/internal/swarm"
	"github.com/stackctl/stackctl/internal/theme"
	"github.com/stackctl/stackctl/internal/upgrade"
	"github.com/stackctl/stackctl/internal/validate"
)

// Exit codes, documented in the root command's help and docs/reference/exit-codes.md.
const (
	exitOK          = 0
	exitFailure     = 1
	exitInvalid     = 2
	exitNotFound    = 3
	exitUnavailable = 4
	exitBusy        = 5
	// check-theme: the layer that failed.
	exitThemeSource     = 10
	exitThemeImage      = 11
	exitThemeStale      = 12
	exitThemeLogin      = 13
	exitThemeNotOffered = 14
	exitThemeNotApplied = 15
	exitThemeScreenshot = 16
	// backups
	exitBackupDamaged   = 20
	exitBackupEncrypted = 21
	exitRestoreRefused  = 22
	exitRegistryAuth    = 23
	// upgrades
	exitUpgradeRefused = 24
	exitUpgradeFailed  = 25
	// off-site backup targets
	exitOffsiteAuth    = 26
	exitOffsiteHostKey = 27
	exitRestoreTest    = 28
	exitSwarmRefused   = 29
	exitSwarmDeploy    = 30
	exitInterrupted    = 130
)

const exitCodeHelp = `Exit codes:
  0    success
  1    failure (anything not listed below)
  2    invalid input (unknown stack, base profile or flag value, a bad settings file, init
       into a directory that holds a site), or validate found problems
  3    not running or not found: the stack has no containers, an archive or image is missing,
       an off-site target's directory or bucket is missing, or no stackctl site was found
  4    unavailable: the Docker engine, the Debian mirror, mmdebstrap, a registry or an off-site
       backup target cannot be reached or is missing
  5    busy: another stackctl command is changing the stack, and --no-wait-lock was given
  10   check-theme: the theme folder is not a valid Redmine theme
  11   check-theme: the theme is not in the Redmine image, or Redmine's user cannot read it
  12   check-theme: the theme in the Redmine image differs from its source (stale image)
  13   check-theme: cannot log in to Redmine as administrator
  14   check-theme: the theme is not offered in Administration > Settings > Display
  15   check-theme: the theme did not apply
  16   check-theme: the screenshot failed
  20   backup archive damaged: truncated, altered or not a stackctl backup
  21   backup archive cannot be decrypted: no or wrong --identity
  22   restore refused, nothing changed: another stack's archive, one without every
       volume of the stack, a newer Redmine or PostgreSQL than the images, too little
       free space, or a stack with data, no --yes and no terminal to ask on
  23   push: the registry wants credentials that are missing, or refuses them
  24   upgrade refused, nothing changed: an unknown version, a downgrade, a plugin that does
       not declare support for the target, too little free space, a stack not serving
  25   upgrade failed after it began: the old version serves again (the message names the
       step and the pre-upgrade backup)
  26   off-site backup target: it refuses the credentials, or there are none (no SSH key,
       no S3 keys in the environment or the credentials file)
  27   off-site backup target: the SFTP server's host key is not in known_hosts, differs from
       the one recorded there, or from the pinned host-key fingerprint
  28   backup-volumes --test-restore: the archive was written, but restoring it into a
       throwaway generation failed (the message names the step); no older archive was pruned
  29   swarm refused, nothing changed: the engine is no swarm manager, no node or several
       carry the data label, or a setting the swarm form does not support yet (tls)
  30   swarm deploy did not converge: a service's tasks did not run healthy in time, or
       Swarm rolled its update back (the message gives the last task error)
  130  interrupted`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stackctl:", err)
	}
	os.Exit(exitCode(err, interrupted))
}

// exitCode maps an error to the documented exit code.
func exitCode(err error, interrupted bool) int {
	var passed *exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &passed):
		// A scheduled run's own code, passed on by schedule run.
		return passed.code
	case interrupted || errors.Is(err, context.Canceled):
		return exitInterrupted
	// Before the causes they wrap: what counts is that the upgrade failed or was refused.
	case errors.Is(err, upgrade.ErrFailed):
		return exitUpgradeFailed
	case errors.Is(err, upgrade.ErrRefused):
		return exitUpgradeRefused
	case errors.Is(err, offsite.ErrAuth):
		return exitOffsiteAuth
	case errors.Is(err, offsite.ErrHostKey):
		return exitOffsiteHostKey
	case errors.Is(err, backup.ErrRestoreTest):
		return exitRestoreTest
	case errors.Is(err, swarm.ErrRefused):
		return exitSwarmRefused
	case errors.Is(err, swarm.ErrNotConverged):
		return exitSwarmDeploy
	case errors.Is(err, errs.InvalidInput), errors.Is(err, errUsage), errors.Is(err, validate.ErrFindings):
		return exitInvalid
	case errors.Is(err, errs.NotRunning), errors.Is(err, errs.NotFound):
		return exitNotFound
	case errors.Is(err, errs.Unavailable):
		return exitUnavailable
	case errors.Is(err, errs.Busy):
		return exitBusy
	case errors.Is(err, theme.ErrSource):
		return exitThemeSource
	case errors.Is(err, theme.ErrImage):
		return exitThemeImage
	case errors.Is(err, theme.ErrStale):
		return exitThemeStale
	case errors.Is(err, theme.ErrLogin):
		return exitThemeLogin
	case errors.Is(err, theme.ErrNotOffered):
		return exitThemeNotOffered
	case errors.Is(err, theme.ErrNotApplied):
		return exitThemeNotApplied
	case errors.Is(err, theme.ErrScreenshot):
		return exitThemeScreenshot
	case errors.Is(err, archive.ErrDamaged):
		return exitBackupDamaged
	case errors.Is(err, archive.ErrEncrypted):
		return exitBackupEncrypted
	case errors.Is(err, backup.ErrRefused):
		return exitRestoreRefused
	case errors.Is(err, registry.ErrAuth):
		return exitRegistryAuth
	default:
		return exitFailure
	}
}
