// Package archive is stackctl's backup archive format, with no engine and no
// stack in sight: a tar stream of 8 MiB parts, each its own zstd frame with a
// checksum, a manifest of every entry's size and SHA-256, optionally encrypted
// to age recipients; its Writer, its checking Reader (fuzzed), and the Gate,
// the one rule set for the members of a volume's tar stream that verify-backup
// passes and every volume writer writes.
package archive
