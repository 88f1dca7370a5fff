// Package backup takes, verifies and restores backups of a running stack's
// persistent state: the database as a pg_dump taken while the stack serves and
// every other named volume as a tar stream, written in the format of package
// archive to an off-site target (package offsite), a sidecar beside each
// archive, older archives pruned by a retention policy (package retention). A
// restore verifies first, then seeds the runner's one start-up.
package backup
