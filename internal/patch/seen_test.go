package patch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFirstSeen: where the mirror dates no fix, an image waits since the
// first check that found its oldest fix; a mirror's date wins; a fix no
// longer pending is forgotten.
func TestFirstSeen(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)
	pending := func() *Pending {
		return &Pending{Running: []Image{
			{Services: []string{"db"}, Updates: fixes("trixie-security", "libpq5")},
			{Services: []string{"nginx"}, Updates: fixes("trixie-security", "nginx"), Waiting: t0.Add(-72 * time.Hour), WaitingFrom: WaitingMirror},
		}}
	}
	p := pending()
	firstSeen(dir, p, t0)
	if db := p.Running[0]; !db.Waiting.Equal(t0) || db.WaitingFrom != WaitingFirstSeen {
		t.Errorf("first check: db waits since %s (%s), want %s (first_seen)", db.Waiting, db.WaitingFrom, t0)
	}
	if ng := p.Running[1]; !ng.Waiting.Equal(t0.Add(-72*time.Hour)) || ng.WaitingFrom != WaitingMirror {
		t.Errorf("nginx: %s (%s), want the mirror's date", ng.Waiting, ng.WaitingFrom)
	}
	p = pending()
	p.Running[0].Updates = append(p.Running[0].Updates, fixes("trixie-updates", "tzdata")...)
	firstSeen(dir, p, t0.Add(24*time.Hour))
	if db := p.Running[0]; !db.Waiting.Equal(t0) {
		t.Errorf("a day later: db waits since %s, want %s", db.Waiting, t0)
	}
	// libpq5 fixed: only tzdata is left, seen first a day later.
	p = &Pending{Running: []Image{{Services: []string{"db"}, Updates: fixes("trixie-updates", "tzdata")}}}
	firstSeen(dir, p, t0.Add(48*time.Hour))
	if db := p.Running[0]; !db.Waiting.Equal(t0.Add(24 * time.Hour)) {
		t.Errorf("after libpq5's fix: db waits since %s, want %s", db.Waiting, t0.Add(24*time.Hour))
	}
	// A fix not found for 90 days is forgotten.
	firstSeen(dir, &Pending{}, t0.Add(91*24*time.Hour))
	b, err := os.ReadFile(filepath.Join(dir, seenFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "libpq5") {
		t.Errorf("a fix not pending for 90 days is still recorded: %s", b)
	}
	// A damaged record costs the dates it held, not the check.
	os.WriteFile(filepath.Join(dir, seenFile), []byte("{not json"), 0o644)
	p = pending()
	firstSeen(dir, p, t0.Add(96*time.Hour))
	if db := p.Running[0]; !db.Waiting.Equal(t0.Add(96 * time.Hour)) {
		t.Errorf("after a damaged record: db waits since %s, want now", db.Waiting)
	}
}
