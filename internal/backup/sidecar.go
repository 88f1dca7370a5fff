package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
)

// SidecarFormat is the version of the sidecar's layout this stackctl writes and reads.
const SidecarFormat = 1

// Sidecar is the small JSON document kept beside an archive on its target
// (<archive>.json): what the archive holds and its checksum, known without
// reading it, and how its latest restore test went. The archive's own
// manifest stays the authority; the sidecar is for listing and retention.
type Sidecar struct {
	Format int `json:"format"`
	// Archive is the archive's name.
	Archive string `json:"archive"`
	// Size and SHA256 are of the archive's bytes, as the target was shown to hold them.
	Size      int64  `json:"size"`
	SHA256    string `json:"sha256,omitempty"`
	Encrypted bool   `json:"encrypted,omitempty"`
	// Manifest is the archive's manifest: stack, profile, versions, time, and
	// every entry's name, size and SHA-256. Only the sidecar a restore test
	// gave an archive taken before stackctl wrote them has none, and no SHA256.
	Manifest *archive.Manifest `json:"manifest,omitempty"`
	// RestoreTest is the latest restore test of the archive; nil when none ran.
	RestoreTest *RestoreTest `json:"restore_test,omitempty"`
}

// RestoreTest is what a restore test of an archive found.
type RestoreTest struct {
	Passed bool      `json:"passed"`
	At     time.Time `json:"at"`
	// FailedStep names the step that failed ("restore", "start", "log in", …); empty when it passed.
	FailedStep string `json:"failed_step,omitempty"`
	// Message says what went wrong, or what was checked.
	Message         string  `json:"message,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// newSidecar is the sidecar of the archive an upload committed.
func newSidecar(m archive.Manifest, c offsite.Committed, encrypted bool) Sidecar {
	return Sidecar{Format: SidecarFormat, Archive: c.Name, Size: c.Size, SHA256: c.SHA256, Encrypted: encrypted, Manifest: &m}
}

// ReadSidecar reads the sidecar of the archive called name on t; errs.ErrNotFound
// when it has none.
func ReadSidecar(ctx context.Context, t offsite.Target, name string) (Sidecar, error) {
	data, err := t.ReadSidecar(ctx, name)
	if err != nil {
		return Sidecar{}, err
	}
	var s Sidecar
	if err := json.Unmarshal(data, &s); err != nil {
		return Sidecar{}, fmt.Errorf("%s: the sidecar of %s is not stackctl's: %v", t, name, err)
	}
	switch {
	case s.Format > SidecarFormat:
		return Sidecar{}, fmt.Errorf("%s: the sidecar of %s is of format %d, newer than this stackctl's %d: upgrade stackctl", t, name, s.Format, SidecarFormat)
	case s.Archive != name:
		return Sidecar{}, fmt.Errorf("%s: the sidecar of %s describes %q", t, name, s.Archive)
	}
	return s, nil
}

func writeSidecar(ctx context.Context, t offsite.Target, s Sidecar) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return t.WriteSidecar(ctx, s.Archive, append(data, '\n'))
}

// RecordRestoreTest records what a restore test of the archive called name
// found in its sidecar on t, replacing any earlier result. An archive taken
// before stackctl wrote sidecars gets one that holds the result alone.
func RecordRestoreTest(ctx context.Context, t offsite.Target, name string, result RestoreTest) error {
	s, err := ReadSidecar(ctx, t, name)
	if errors.Is(err, errs.ErrNotFound) {
		// The archive must exist: a sidecar alone would describe nothing.
		r, oerr := t.Open(ctx, name)
		if oerr != nil {
			return oerr
		}
		s, err = Sidecar{Format: SidecarFormat, Archive: name, Size: r.Size()}, r.Close()
	}
	if err != nil {
		return fmt.Errorf("recording the restore test of %s: %w", name, err)
	}
	s.RestoreTest = &result
	if err := writeSidecar(ctx, t, s); err != nil {
		return fmt.Errorf("recording the restore test of %s: %w", name, err)
	}
	return nil
}
