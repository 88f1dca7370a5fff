package backup

import "errors"

// ErrRefused: a restore that would lose or mismatch data, refused before any change.
var ErrRefused = errors.New("restore refused")

// ErrRestoreTest: a backup was written, but its restore test failed (the
// archive is kept, and recorded as not restoring).
var ErrRestoreTest = errors.New("restore test failed")
