// Package upgrade moves a stack's data to a newer release (Redmine and
// PostgreSQL) as a new generation, behind a maintenance page, with a
// pre-upgrade backup, checks before anything changes and after the switch,
// and the old generation serving again on any failure.
package upgrade
