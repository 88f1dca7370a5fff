// Package backup writes, verifies and restores backups of a running stack's
// persistent state: the database as a pg_dump taken while the stack serves, every
// other named volume as a tar stream, and a manifest of checksums, in one zstd
// archive that can be encrypted to age recipients.
package backup
