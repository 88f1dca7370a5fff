// Package archive is stackctl's backup archive format, with no engine and no
// stack in sight: a tar stream of 8 MiB parts, each its own zstd frame with a
// checksum, a manifest of every entry's size and SHA-256, optionally encrypted
// to age recipients; its Writer, its checking Reader (fuzzed), and the member
// walker that refuses volume members a restore would write outside the volume.
package archive
