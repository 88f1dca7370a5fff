package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/retention"
)

// scheduledBackupFlags are the flags of backup-volumes that 'schedule backup'
// takes and passes on to every scheduled run, in this order: the one list of
// them. A flag backup-volumes defines is offered with its definition; one it
// does not define yet (issue 18: --to and the --keep-* rules) with the one in
// pendingBackupFlags, and refused until backup-volumes takes it, since every
// scheduled run would fail on it. Adding one to backup-volumes needs no
// change here but removing it from pendingBackupFlags.
var scheduledBackupFlags = []string{
	"out", "keep", "encrypt-to",
	"to", "keep-last", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly",
}

// pathBackupFlags name files or directories: made absolute before they go
// into a unit, which runs from /. An age recipient (age1…) is not a path.
var pathBackupFlags = map[string]bool{"out": true, "encrypt-to": true}

// checkBackupFlag checks a value backup-volumes would refuse at every run,
// before it goes into a unit.
var checkBackupFlag = map[string]func(string) error{
	"encrypt-to": func(v string) error { _, err := parseRecipients([]string{v}); return err },
}

// pendingBackupFlags defines the flags of scheduledBackupFlags that
// backup-volumes does not define yet.
func pendingBackupFlags(fs *pflag.FlagSet) {
	var to string
	fs.StringVar(&to, "to", "", "where the archive goes: a directory, sftp://user@host[:port]/path or s3://bucket/prefix")
	retentionFlags(fs, &retention.Policy{})
}

// retentionFlags registers the calendar retention rules into p, with
// restic's meaning (see internal/retention).
func retentionFlags(fs *pflag.FlagSet, p *retention.Policy) {
	fs.IntVar(&p.Last, "keep-last", 0, "keep the N newest archives")
	fs.IntVar(&p.Daily, "keep-daily", 0, "keep the newest archive of each of the last N days (UTC) that have one")
	fs.IntVar(&p.Weekly, "keep-weekly", 0, "keep the newest archive of each of the last N ISO weeks (Monday to Sunday, UTC) that have one")
	fs.IntVar(&p.Monthly, "keep-monthly", 0, "keep the newest archive of each of the last N months (UTC) that have one")
	fs.IntVar(&p.Yearly, "keep-yearly", 0, "keep the newest archive of each of the last N years (UTC) that have one")
}

// addScheduledBackupFlags adds scheduledBackupFlags to fs: backup-volumes'
// own definitions (bv, its flag set), else the pending ones.
func addScheduledBackupFlags(fs, bv *pflag.FlagSet) {
	pending := pflag.NewFlagSet("pending", pflag.ContinueOnError)
	pendingBackupFlags(pending)
	for _, name := range scheduledBackupFlags {
		f := bv.Lookup(name)
		if f == nil {
			f = pending.Lookup(name)
		}
		fs.AddFlag(f)
	}
}

// scheduledBackupArgs are the scheduledBackupFlags given on fs, as
// backup-volumes' arguments ("--keep=7"), with paths made absolute. It
// refuses a flag backup-volumes (bv) does not take, and a retention policy
// that it would refuse.
func scheduledBackupArgs(fs, bv *pflag.FlagSet) ([]string, error) {
	var args []string
	for _, name := range scheduledBackupFlags {
		f := fs.Lookup(name)
		if !f.Changed {
			continue
		}
		if bv.Lookup(name) == nil {
			return nil, fmt.Errorf("%w: --%s: backup-volumes does not take it yet, so every scheduled run would fail: schedule without it until it does", errs.InvalidInput, name)
		}
		values := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			values = sv.GetSlice()
		}
		for _, v := range values {
			if pathBackupFlags[name] && !strings.HasPrefix(v, "age1") {
				abs, err := filepath.Abs(v)
				if err != nil {
					return nil, err
				}
				v = abs
			}
			if check := checkBackupFlag[name]; check != nil {
				if err := check(v); err != nil {
					return nil, err
				}
			}
			args = append(args, "--"+name+"="+v)
		}
	}
	// The rules as backup-volumes will read them, checked now rather than at 2 a.m.
	var p retention.Policy
	check := pflag.NewFlagSet("retention", pflag.ContinueOnError)
	check.ParseErrorsAllowlist.UnknownFlags = true
	retentionFlags(check, &p)
	if err := check.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", errs.InvalidInput, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return args, nil
}
