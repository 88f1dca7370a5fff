package errs

import (
	"errors"
	"strings"
)

// Sentinel errors. The CLI maps them to exit codes with errors.Is, so every error
// a package returns wraps at most one of them.
var (
	// InvalidInput: the operator asked for something that cannot be done as asked
	// (unknown stack, unknown profile, a profile that contradicts the recorded one).
	InvalidInput = errors.New("invalid input")
	// NotFound: a stack, image, archive or project directory that should exist does not.
	NotFound = errors.New("not found")
	// NotRunning: the stack has no running containers.
	NotRunning = errors.New("not running")
	// Unavailable: something stackctl depends on cannot be reached or is missing
	// from the machine: the Docker engine, the Debian mirror, the mmdebstrap tool.
	Unavailable = errors.New("unavailable")
	// Busy: another stackctl command is changing the stack, and this one was
	// told not to wait for it.
	Busy = errors.New("busy")
)

// LastLines keeps the last n lines of a long tool output, for an error message.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
