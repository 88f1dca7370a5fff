// Package offsitetest runs the real servers that off-site targets are tested
// against, on loopback, for tests and benchmarks only: Debian's OpenSSH server
// as the current user, and versitygw, an S3 server, in process over a
// temporary directory. A missing sshd skips the test, unless STACKCTL_E2E=1.
package offsitetest
