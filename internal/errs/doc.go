// Package errs holds the sentinel errors every other package wraps, one per
// exit code of the CLI's table (invalid input, not found, not running,
// unavailable), and the one helper that shortens tool output for a message.
package errs
