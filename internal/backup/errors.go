package backup

import "errors"

// ErrRefused: a restore that would lose or mismatch data, refused before any change.
var ErrRefused = errors.New("restore refused")
