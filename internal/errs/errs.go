package errs

import (
	"errors"
	"strings"
)

// Sentinel errors. The CLI maps them to exit codes with errors.Is, so every error
// a package returns wraps at most one of them.
var (
	// ErrInvalidInput: the operator asked for something that cannot be done as asked
	// (unknown stack, unknown profile, a profile that contradicts the recorded one).
	ErrInvalidInput = errors.New("invalid input")
	// ErrNotFound: a stack, image, archive or project directory that should exist does not.
	ErrNotFound = errors.New("not found")
	// ErrNotRunning: the stack has no running containers.
	ErrNotRunning = errors.New("not running")
	// ErrUnavailable: something stackctl depends on cannot be reached or is missing
	// from the machine: the Docker engine, the Debian mirror, the mmdebstrap tool.
	ErrUnavailable = errors.New("unavailable")
	// ErrBusy: another stackctl command is changing the stack, and this one was
	// told not to wait for it.
	ErrBusy = errors.New("busy")
)

// LastLines keeps the last n lines of a long tool output, for an error message.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
