package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/retention"
)

// scheduledBackupFlags are the flags of backup-volumes that 'schedule backup'
// takes, with backup-volumes' own definitions, and passes on to every
// scheduled run, in this order: the one list of them.
var scheduledBackupFlags = []string{
	"out", "keep", "encrypt-to", "signing-key",
	"to", "keep-last", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly",
	"test-restore", "identity", "timeout",
}

// pathBackupFlags may name files or directories: made absolute before they go
// into a unit, which runs from /. An age recipient (age1…) and a URL are not paths.
var pathBackupFlags = map[string]bool{"out": true, "to": true, "encrypt-to": true, "identity": true, "signing-key": true}

// retentionFlags registers the calendar retention rules into p, with
// restic's meaning (see internal/retention).
func retentionFlags(fs *pflag.FlagSet, p *retention.Policy) {
	fs.IntVar(&p.Last, "keep-last", 0, "keep the N newest archives")
	fs.IntVar(&p.Daily, "keep-daily", 0, "keep the newest archive of each of the last N days (UTC) that have one")
	fs.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest archive of each of the last N ISO weeks (Monday to Sunday, UTC) that have one")
	fs.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest archive of each of the last N months (UTC) that have one")
	fs.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest archive of each of the last N years (UTC) that have one")
}

// addScheduledBackupFlags adds scheduledBackupFlags to fs, as backup-volumes
// (bv, its flag set) defines them.
func addScheduledBackupFlags(fs, bv *pflag.FlagSet) {
	for _, name := range scheduledBackupFlags {
		fs.AddFlag(bv.Lookup(name))
	}
}

// scheduledBackupArgs are the scheduledBackupFlags given on fs, as
// backup-volumes' arguments ("--keep=7"), with paths made absolute. It
// refuses what backup-volumes would refuse at every run, checked now rather
// than at 2 a.m.
func scheduledBackupArgs(fs *pflag.FlagSet) ([]string, error) {
	var args []string
	for _, name := range scheduledBackupFlags {
		f := fs.Lookup(name)
		// A signing key from the environment is the operator's choice as
		// much as one given: the unit does not have that environment.
		if !f.Changed && (name != "signing-key" || f.Value.String() == "") {
			continue
		}
		values := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
		}
		for _, v := range values {
			if pathBackupFlags[name] && !strings.HasPrefix(v, "age1") && !strings.Contains(v, "://") {
				abs, err := filepath.Abs(v)
				if err != nil {
					return nil, err
				}
				v = abs
			}
			args = append(args, "--"+name+"="+v)
		}
	}
	// The flags as backup-volumes will read them.
	var o backupVolumesOptions
	check := pflag.NewFlagSet("backup-volumes", pflag.ContinueOnError)
	o.AddFlags(check)
	if err := check.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", errs.ErrInvalidInput, err)
	}
	if _, _, err := o.check(check); err != nil {
		return nil, err
	}
	if o.signingKey != "" {
		if err := checkSigningKey(o.signingKey); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// backupTarget is where a stack's archives are: to, a directory or URL, when
// given, else the backup directory (see backupDir, with out its flag), made
// when missing; where is the target as written, for offsite.ArchiveLocation.
func (g *globalOptions) backupTarget(to, out string) (t offsite.Target, where string, err error) {
	if to != "" {
		t, err = offsite.Parse(to)
		return t, to, err
	}
	dir := g.backupDir(out)
	t, err = backup.LocalTarget(dir)
	return t, dir, err
}
