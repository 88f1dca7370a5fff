package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/registry"
	"github.com/stackctl/stackctl/internal/signing"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/theme"
	"github.com/stackctl/stackctl/internal/upgrade"
	"github.com/stackctl/stackctl/internal/validate"
)

// Exit codes by name, for the code and tests that choose one directly.
const (
	exitOK              = 0
	exitFailure         = 1
	exitInvalid         = 2
	exitNotFound        = 3
	exitUnavailable     = 4
	exitBusy            = 5
	exitThemeSource     = 10
	exitThemeImage      = 11
	exitThemeStale      = 12
	exitThemeLogin      = 13
	exitThemeNotOffered = 14
	exitThemeNotApplied = 15
	exitThemeScreenshot = 16
	exitBackupDamaged   = 20
	exitBackupEncrypted = 21
	exitRestoreRefused  = 22
	exitRegistryAuth    = 23
	exitUpgradeRefused  = 24
	exitUpgradeFailed   = 25
	exitOffsiteAuth     = 26
	exitOffsiteHostKey  = 27
	exitRestoreTest     = 28
	exitSwarmRefused    = 29
	exitSwarmDeploy     = 30
	exitBackupUntrusted = 31
	exitInterrupted     = 130
)

// exitCodeEntry is one row of the exit-code table: the code, the sentinel
// errors that choose it, and what it means, as the help and reference say.
type exitCodeEntry struct {
	code    int
	errs    []error
	meaning string
	// outcome marks a code that names the outcome of a whole step (an upgrade
	// failed, a target refused us): it wins over the cause it wraps.
	outcome bool
}

// exitCodes is the one table: main maps errors with it, --help and
// docs/reference/exit-codes.md print it.
var exitCodes = []exitCodeEntry{
	{code: exitOK, meaning: "success"},
	{code: exitFailure, meaning: "failure (anything not listed below)"},
	{code: exitInvalid, errs: []error{errs.ErrInvalidInput, errUsage, validate.ErrFindings, stack.ErrPortInUse},
		meaning: "invalid input (unknown stack, base profile or flag value, a bad settings file, an address to publish on that another process or container holds, init into a directory that holds a site), or validate found problems"},
	{code: exitNotFound, errs: []error{errs.ErrNotRunning, errs.ErrNotFound},
		meaning: "not running or not found: the stack has no containers, an archive or image is missing, an off-site target's directory or bucket is missing, or no stackctl site was found"},
	{code: exitUnavailable, errs: []error{errs.ErrUnavailable},
		meaning: "unavailable: the Docker engine, the Debian mirror, mmdebstrap, a registry or an off-site backup target cannot be reached or is missing"},
	{code: exitBusy, errs: []error{errs.ErrBusy},
		meaning: "busy: another stackctl command is changing the stack, and --no-wait-lock was given"},
	{code: exitThemeSource, errs: []error{theme.ErrSource}, meaning: "check-theme: the theme folder is not a valid Redmine theme"},
	{code: exitThemeImage, errs: []error{theme.ErrImage}, meaning: "check-theme: the theme is not in the Redmine image, or Redmine's user cannot read it"},
	{code: exitThemeStale, errs: []error{theme.ErrStale}, meaning: "check-theme: the theme in the Redmine image differs from its source (stale image)"},
	{code: exitThemeLogin, errs: []error{theme.ErrLogin}, meaning: "check-theme: cannot log in to Redmine as administrator"},
	{code: exitThemeNotOffered, errs: []error{theme.ErrNotOffered}, meaning: "check-theme: the theme is not offered in Administration > Settings > Display"},
	{code: exitThemeNotApplied, errs: []error{theme.ErrNotApplied}, meaning: "check-theme: the theme did not apply"},
	{code: exitThemeScreenshot, errs: []error{theme.ErrScreenshot}, meaning: "check-theme: the screenshot failed"},
	{code: exitBackupDamaged, errs: []error{archive.ErrDamaged}, meaning: "backup archive damaged: truncated, altered or not a stackctl backup"},
	{code: exitBackupEncrypted, errs: []error{archive.ErrEncrypted}, meaning: "backup archive cannot be decrypted: no or wrong --identity"},
	{code: exitRestoreRefused, errs: []error{backup.ErrRefused},
		meaning: "restore refused, nothing changed: another stack's archive, one without every volume of the stack, a newer Redmine or PostgreSQL than the images, too little free space, or a stack with data, no --yes and no terminal to ask on"},
	{code: exitRegistryAuth, errs: []error{registry.ErrAuth}, meaning: "push: the registry wants credentials that are missing, or refuses them"},
	{code: exitUpgradeRefused, errs: []error{upgrade.ErrRefused}, outcome: true,
		meaning: "upgrade refused, nothing changed: an unknown version, a downgrade, a plugin that does not declare support for the target, too little free space, a stack not serving"},
	{code: exitUpgradeFailed, errs: []error{upgrade.ErrFailed}, outcome: true,
		meaning: "upgrade failed after it began: the old version serves again (the message names the step and the pre-upgrade backup)"},
	{code: exitOffsiteAuth, errs: []error{offsite.ErrAuth}, outcome: true,
		meaning: "off-site backup target: it refuses the credentials, or there are none (no SSH key, no S3 keys in the environment or the credentials file)"},
	{code: exitOffsiteHostKey, errs: []error{offsite.ErrHostKey}, outcome: true,
		meaning: "off-site backup target: the SFTP server's host key is not in known_hosts, differs from the one recorded there, or from the pinned host-key fingerprint"},
	{code: exitRestoreTest, errs: []error{backup.ErrRestoreTest}, outcome: true,
		meaning: "backup-volumes --test-restore: the archive was written, but restoring it into a throwaway generation failed (the message names the step); no older archive was pruned"},
	{code: exitSwarmRefused, errs: []error{stack.ErrSwarmRefused, stack.ErrUnsupported}, outcome: true,
		meaning: "refused where the stack runs, nothing changed: the engine is no swarm manager, no node or several carry the data label, or a command or setting a stack on a swarm does not support yet (tls)"},
	{code: exitSwarmDeploy, errs: []error{stack.ErrSwarmNotConverged}, outcome: true,
		meaning: "swarm deploy did not converge: a service's tasks did not run healthy in time, or Swarm rolled its update back (the message gives the last task error)"},
	{code: exitBackupUntrusted, errs: []error{signing.ErrUntrusted},
		meaning: "backup archive not signed by a trusted key: signed by another key (the message names it: trust it with --trust-key or the state directory's trusted-keys file), or not signed (--trust-unsigned)"},
	{code: exitInterrupted, errs: []error{context.Canceled}, meaning: "interrupted"},
}

// exitCode maps an error to its code in exitCodes: a scheduled run's own code
// as it is, an interruption first, then the outcome codes, then the others in
// table order.
func exitCode(err error, interrupted bool) int {
	var passed *exitStatus
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &passed):
		return passed.code
	case interrupted || errors.Is(err, context.Canceled):
		return exitInterrupted
	}
	for _, outcome := range []bool{true, false} {
		for _, e := range exitCodes {
			if e.outcome == outcome && slices.ContainsFunc(e.errs, func(s error) bool { return errors.Is(err, s) }) {
				return e.code
			}
		}
	}
	return exitFailure
}

// exitCodeHelp is the table as --help and the reference show it.
var exitCodeHelp = func() string {
	var b strings.Builder
	b.WriteString("Exit codes:")
	for _, e := range exitCodes {
		for i, line := range wrapWords(e.meaning, 86) {
			if i == 0 {
				fmt.Fprintf(&b, "\n  %-4d %s", e.code, line)
			} else {
				fmt.Fprintf(&b, "\n       %s", line)
			}
		}
	}
	return b.String()
}()

// wrapWords breaks s into lines of at most width characters, at spaces.
func wrapWords(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
