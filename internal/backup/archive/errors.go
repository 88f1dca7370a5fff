package archive

import (
	"errors"
	"fmt"

	"github.com/stackctl/stackctl/internal/termsafe"
)

// Sentinel errors; the CLI maps each to its own exit code.
var (
	// ErrDamaged: the archive is truncated, altered or not a stackctl backup.
	ErrDamaged = errors.New("backup archive damaged")
	// ErrEncrypted: the archive is encrypted and no given identity opens it.
	ErrEncrypted = errors.New("backup archive cannot be decrypted")
)

// damaged reports damage found in entry (empty when no entry is known yet).
// The entry's name is the archive's, escaped as any string from outside.
func damaged(entry, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if entry == "" {
		return fmt.Errorf("%w: %s", ErrDamaged, msg)
	}
	return fmt.Errorf("%w: entry %s: %s", ErrDamaged, termsafe.String(entry), msg)
}
