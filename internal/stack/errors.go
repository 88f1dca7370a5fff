package stack

import "errors"

// Sentinel errors. The CLI maps them to exit codes with errors.Is, so every error
// the domain returns wraps at most one of them.
var (
	// ErrInvalidInput: the operator asked for something that cannot be done as asked
	// (unknown stack, unknown profile, a profile that contradicts the recorded one).
	ErrInvalidInput = errors.New("invalid input")
	// ErrNotFound: a stack, image or project directory that should exist does not.
	ErrNotFound = errors.New("not found")
	// ErrNotRunning: the stack has no running containers.
	ErrNotRunning = errors.New("not running")
	// ErrUnavailable: something stackctl depends on cannot be reached or is missing
	// from the machine: the Docker engine, the Debian mirror, the mmdebstrap tool.
	ErrUnavailable = errors.New("unavailable")
)
