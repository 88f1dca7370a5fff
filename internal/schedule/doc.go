// Package schedule makes a stack's backups and updates run by themselves: it
// generates a systemd service and timer (or, where systemd does not run, a
// cron entry) per job that run 'stackctl schedule run', installs, lists and
// removes them, and holds that wrapper's work: run the backup or the update,
// pass its exit status on, and report a failed run to a webhook and by mail.
package schedule
