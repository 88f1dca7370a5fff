package backup

import (
	"errors"
	"fmt"
)

var (
	// ErrDamaged: the archive is truncated, altered or not a stackctl backup.
	ErrDamaged = errors.New("backup archive damaged")
	// ErrEncrypted: the archive is encrypted and no given identity opens it.
	ErrEncrypted = errors.New("backup archive cannot be decrypted")
	// ErrRefused: a restore that would lose or mismatch data, refused before any change.
	ErrRefused = errors.New("restore refused")
)

// damaged reports damage found in entry (empty when no entry is known yet).
func damaged(entry, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if entry == "" {
		return fmt.Errorf("%w: %s", ErrDamaged, msg)
	}
	return fmt.Errorf("%w: entry %s: %s", ErrDamaged, entry, msg)
}
