package backup

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Without a terminal, progress is plain lines a log keeps: one per entry,
// the bytes every so often, and the total at the end of a run that worked.
func TestLineProgress(t *testing.T) {
	var out bytes.Buffer
	p := &lineProgress{w: &out}
	p.Start("backup redmine", 4<<20)
	p.Entry("db-data.pgdump")
	p.Add(1 << 20)
	p.Done(nil)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, want := range []string{
		`^backup redmine: db-data.pgdump, at \d+\.\ds$`,
		`^backup redmine: 1MiB of ~4MiB, .+/s, about \d+s left$`,
		`^backup redmine: 1MiB read in \d+\.\ds$`,
	} {
		if i >= len(lines) || !regexp.MustCompile(want).MatchString(lines[i]) {
			t.Fatalf("lines %q: line %d does not match %s", lines, i, want)
		}
	}

	out.Reset()
	p = &lineProgress{w: &out, every: time.Hour}
	p.Start("verify x", 0)
	p.Add(10)
	p.Done(errors.New("damaged"))
	if out.Len() != 0 {
		t.Errorf("printed %q: no line before the interval, and no total for a failed run", &out)
	}
	if s := (&lineProgress{n: 5 << 20, total: 4 << 20, start: time.Now()}).status(); strings.Contains(s, "of ~") || strings.Contains(s, "left") {
		t.Errorf("status %q past its estimate: it claims a total it has passed", s)
	}
}

// On a terminal, a bar; an estimate that proves short never shows the bar
// full before the run ends.
func TestBarProgress(t *testing.T) {
	var out bytes.Buffer
	p, ok := NewProgress(&out, true).(*barProgress)
	if !ok {
		t.Fatal("a terminal gets no bar")
	}
	p.Start("restore redmine", 100)
	p.Entry("redmine-files.tar")
	p.Add(150)
	if s := p.bar.State(); s.CurrentNum != 150 || s.Max <= s.CurrentNum {
		t.Errorf("bar at %d of %d: past the estimate, the bar must not be full", s.CurrentNum, s.Max)
	}
	p.Done(nil)
	if !strings.Contains(out.String(), "restore redmine") {
		t.Errorf("bar output %q does not name the run", &out)
	}
	if _, ok := NewProgress(&out, false).(*lineProgress); !ok {
		t.Error("no terminal: want plain lines")
	}
}
