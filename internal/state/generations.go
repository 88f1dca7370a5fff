package state

import (
	"slices"
	"time"
)

// Generation is the record of one generation of a stack's data: its volumes
// (named after its number, see catalog.VolumeName) and what made it.
type Generation struct {
	N int `json:"n"`
	// Made says what made it: MadeFirstStart, MadeRestore, MadeUpgrade or MadeFound.
	Made string `json:"made"`
	// Source is the archive a restore read.
	Source string    `json:"source,omitempty"`
	At     time.Time `json:"at"`
	// Release is the release of the stack it runs (catalog.Release; "": the
	// default one, which every generation ran before releases existed).
	Release string `json:"release,omitempty"`
	// Images are the images (service → ID) it last ran on.
	Images map[string]string `json:"images,omitempty"`
	// Ready is set once it is whole and has started healthy: a generation
	// that is not ready was interrupted while being made, and the next command
	// removes it.
	Ready bool `json:"ready"`
	// ActivatedAt is when it last became the active generation, and
	// ActivatedBy what made it so (its restore, a rollback from another).
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	ActivatedBy string    `json:"activated_by,omitempty"`
	// Slot is the slot its application runs in (see catalog.SlotA): a changed
	// image or setting starts in the other one, beside it, and takes over.
	Slot int `json:"slot,omitempty"`
}

// What made a generation.
const (
	MadeFirstStart = "first start"
	MadeRestore    = "restore"
	// MadeUpgrade is a copy of the active generation on a newer release.
	MadeUpgrade = "upgrade"
	// MadeTrial is a restore test's throwaway generation: never active, and
	// removed by the command that made it or, killed, by the next one.
	MadeTrial = "restore test"
	// MadeFound is data stackctl found but had no record of: a stack started
	// before generations existed, or whose state was lost.
	MadeFound = "found"
)

// Switch is a change of what the front serves under way: recorded before the
// front is pointed at To's application in ToSlot, cleared once To is active in
// it. Found by the next command, it is finished (the front serves To) or
// undone. From == To is a change of the application's image or settings on
// the same data: from one slot to the other.
type Switch struct {
	From     int       `json:"from"`
	FromSlot int       `json:"from_slot,omitempty"`
	To       int       `json:"to"`
	ToSlot   int       `json:"to_slot,omitempty"`
	Why      string    `json:"why"`
	At       time.Time `json:"at"`
}

// SameData says whether sw keeps the data and changes only the application: a slot change.
func (sw Switch) SameData() bool { return sw.From == sw.To }

// ReleaseOf is the release generation n runs ("": the default one).
func (s State) ReleaseOf(n int) string {
	g, _ := s.Gen(n)
	return g.Release
}

// SlotOf is the slot generation n's application runs in.
func (s State) SlotOf(n int) int {
	g, _ := s.Gen(n)
	return g.Slot
}

// Upgrade is an upgrade under way: recorded before it changes anything,
// cleared when it ends, either way. Found by the next command, the stack is
// opened again (out of maintenance) and the operator told where it stands.
type Upgrade struct {
	// From is the generation upgraded, FromVersion and ToVersion the Redmine
	// versions (and PostgreSQL majors) it goes between.
	From        int    `json:"from"`
	FromVersion string `json:"from_version"`
	ToVersion   string `json:"to_version"`
	// Backup is the pre-upgrade backup, once written.
	Backup string `json:"backup,omitempty"`
	// Step is the step under way.
	Step string    `json:"step"`
	At   time.Time `json:"at"`
}

// Gen returns the record of generation n.
func (s State) Gen(n int) (Generation, bool) {
	i := slices.IndexFunc(s.Generations, func(g Generation) bool { return g.N == n })
	if i < 0 {
		return Generation{}, false
	}
	return s.Generations[i], true
}

// PutGen records g, replacing the record of the same number.
func (s *State) PutGen(g Generation) {
	i := slices.IndexFunc(s.Generations, func(x Generation) bool { return x.N == g.N })
	if i < 0 {
		s.Generations = append(s.Generations, g)
		slices.SortFunc(s.Generations, func(a, b Generation) int { return a.N - b.N })
		return
	}
	s.Generations[i] = g
}

// DropGen forgets generation n.
func (s *State) DropGen(n int) {
	s.Generations = slices.DeleteFunc(s.Generations, func(g Generation) bool { return g.N == n })
}

// NextGen is the number a new generation gets: above every recorded one.
func (s State) NextGen() int {
	n := 1
	for _, g := range s.Generations {
		n = max(n, g.N+1)
	}
	return n
}
