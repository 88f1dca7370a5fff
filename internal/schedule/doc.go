// Package schedule makes a stack's backups run by themselves: it generates a
// systemd service and timer (or, where systemd does not run, a cron entry)
// that run 'stackctl schedule run', installs, lists and removes them, and
// holds that wrapper's work: run the backup, pass its exit status on, and
// report a failed run to a webhook and by mail.
package schedule
