// Package offsite keeps backup archives away from the data they protect: in a
// local directory, a directory on an SFTP server, or under a prefix of an S3
// bucket, all behind one Target. An archive streams to the target while it is
// written, under a temporary name that becomes final only once the target is
// shown to hold every byte, and is read back as a stream.
package offsite
