package patch

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/updates"
)

// seenFile, in a stack's state directory, records when a check first found
// each fix pending: how long a fix has waited when the mirror does not date
// its packages (no Last-Modified), counted from the first check that saw it.
const seenFile = "fixes-seen.json"

// maxSeenBytes bounds the record read.
const maxSeenBytes = 4 << 20

// seenKept is how long a fix not found pending stays recorded.
const seenKept = 90 * 24 * time.Hour

// seenKey names a fix by what it fixes: the package as installed, so that a
// newer fix of a package still pending does not restart its wait.
func seenKey(u updates.Update) string {
	return u.Package + ":" + u.Architecture + " " + u.Installed
}

// firstSeen dates p's images' waits by when a check first saw their fixes,
// where the mirror gave no date, and records the fixes pending now in dir.
// The record is for the operator's information: a file that cannot be read
// or written costs the dates, never the check.
func firstSeen(dir string, p *Pending, now time.Time) {
	path := filepath.Join(dir, seenFile)
	seen := map[string]time.Time{}
	if b, err := os.ReadFile(path); err == nil && len(b) <= maxSeenBytes {
		_ = json.Unmarshal(b, &seen)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return
	}
	keep := map[string]time.Time{}
	// A fix not found now may be in a suite not checked (--security-only):
	// kept for a while rather than forgotten at once.
	for k, at := range seen {
		if now.Sub(at) < seenKept {
			keep[k] = at
		}
	}
	for _, list := range [][]Image{p.Running, p.Bases} {
		for i := range list {
			im := &list[i]
			for _, u := range im.Updates {
				k := seenKey(u)
				at, ok := seen[k]
				if !ok || at.After(now) {
					at = now
				}
				keep[k] = at
				if im.WaitingFrom != WaitingMirror && (im.Waiting.IsZero() || at.Before(im.Waiting)) {
					im.Waiting, im.WaitingFrom = at, WaitingFirstSeen
				}
			}
		}
	}
	if b, err := json.Marshal(keep); err == nil {
		_ = atomicfile.WriteFile(path, b, 0o644)
	}
}

// Where an image's Waiting comes from.
const (
	// WaitingMirror: the mirror's date of the oldest fix's package file.
	WaitingMirror = "mirror"
	// WaitingFirstSeen: the first check that found the oldest fix pending
	// (the mirror dates none of them).
	WaitingFirstSeen = "first_seen"
)
