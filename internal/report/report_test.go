package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/compose/v5/pkg/api"
)

// clock is a fixed clock a test moves forward by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// As text, a message is written as it is, a warning and an error begin with
// "stackctl: ", and a tool's own output passes through untouched.
func TestText(t *testing.T) {
	var out bytes.Buffer
	r := New(&out, Options{Command: "up"})
	r.Printf("stack %s: building %s", "redmine", "stackctl/redmine:debian")
	r.Warnf("the settings file is not applied")
	r.Fail(errors.New("the engine does not answer"), 4)
	_, _ = r.Writer().Write([]byte("#5 [2/3] RUN make\r#5 done\n"))
	want := "stack redmine: building stackctl/redmine:debian\n" +
		"stackctl: the settings file is not applied\n" +
		"stackctl: the engine does not answer\n" +
		"#5 [2/3] RUN make\r#5 done\n"
	if out.String() != want {
		t.Errorf("text report:\n%q\nwant\n%q", out.String(), want)
	}
}

// As JSON, every line is one event a script can decode, and a tool's output
// becomes one event a line, a partial line waiting for its end.
func TestJSONLines(t *testing.T) {
	var out bytes.Buffer
	c := &clock{time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	r := New(&out, Options{Format: JSON, Command: "restore-volumes", Now: c.now})
	r.Printf("stack %s: generation %d starts", "redmine", 2)
	r.Warnf("careful")
	w := r.Writer()
	_, _ = w.Write([]byte("step 1\nstep"))
	_, _ = w.Write([]byte(" 2\r\n\n"))
	r.Fail(errors.New("refused"), 22)

	var got []Event
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q is not a JSON event: %v", line, err)
		}
		got = append(got, e)
	}
	want := []Event{
		{Level: Info, Msg: "stack redmine: generation 2 starts"},
		{Level: Warn, Msg: "careful"},
		{Level: Info, Source: "output", Msg: "step 1"},
		{Level: Info, Source: "output", Msg: "step 2"},
		{Level: Error, Msg: "refused", Exit: 22},
	}
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d:\n%s", len(got), len(want), &out)
	}
	for i := range want {
		want[i].Time, want[i].Command = c.t, "restore-volumes"
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// What a terminal would obey in a message (one quoting an archive or a
// server) is escaped, as text and as JSON; the message's own line breaks
// and ordinary text of any script stay as they are.
func TestEscapes(t *testing.T) {
	const hostile = "stack red\x1b[2J\rall good\u009b\u202e"
	var out bytes.Buffer
	r := New(&out, Options{})
	r.Printf("%s\n    fix: пароль 🚀", hostile)
	r.Fail(errors.New("535 auth failed\x1b]0;owned\x07"), 1)
	want := "stack red\\x1b[2J\\rall good\\u009b\\u202e\n    fix: пароль 🚀\n" +
		"stackctl: 535 auth failed\\x1b]0;owned\\a\n"
	if out.String() != want {
		t.Errorf("text:\n%q\nwant\n%q", out.String(), want)
	}

	out.Reset()
	r = New(&out, Options{Format: JSON})
	r.Warnf("%s", hostile)
	m := r.Meter()
	m.Start("verify", 0)
	m.Entry("db\x1b[2J.pgdump")
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var e Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("line %q is not a JSON event: %v", line, err)
		}
		if strings.ContainsFunc(line, func(r rune) bool { return r < ' ' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x202e }) {
			t.Errorf("line %q holds a raw control character", line)
		}
		if e.Level == Warn && e.Msg != hostile || e.Level == Progress && e.Entry != "db\x1b[2J.pgdump" {
			t.Errorf("event %+v: the value changed", e)
		}
	}

	out.Reset()
	lm := New(&out, Options{}).Meter()
	lm.Start("verify", 0)
	lm.Entry("db\nall good")
	if got := out.String(); got != `verify: "db\nall good", at 0.0s`+"\n" {
		t.Errorf("an entry's name forged a line: %q", got)
	}
	out.Reset()
	b := New(&out, Options{Terminal: true}).Meter()
	b.Start("restore", 10)
	b.Entry("x\x1b[2J")
	b.Add(1)
	b.Done(nil)
	if strings.Contains(out.String(), "x\x1b[2J") || !strings.Contains(out.String(), `x\x1b[2J`) {
		t.Errorf("the bar shows the name raw: %q", &out)
	}
}

// A nil reporter, as code under test has, says nothing and fails nothing.
func TestNil(t *testing.T) {
	var r *Reporter
	r.Printf("x")
	r.Warnf("x")
	r.Fail(errors.New("x"), 1)
	m := r.Meter()
	m.Start("x", 1)
	m.Add(1)
	m.Done(nil)
	if _, err := r.Writer().Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	r.Compose().On(api.Resource{ID: "x", Status: api.Done})
	if r.JSON() || r.Terminal() {
		t.Error("a nil reporter claims a format")
	}
}

// Without a terminal, a long read is plain lines a log keeps: one per entry,
// the bytes every so often, and the total at the end of a run that worked.
func TestLineMeter(t *testing.T) {
	var out bytes.Buffer
	c := &clock{time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	m := New(&out, Options{Now: c.now}).Meter()
	m.Start("backup redmine", 4<<20)
	m.Entry("db-data.pgdump")
	c.t = c.t.Add(6 * time.Second)
	m.Add(1 << 20)
	m.Done(nil)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, want := range []string{
		`^backup redmine: db-data.pgdump, at 0\.0s$`,
		`^backup redmine: 1MiB of ~4MiB, .+/s, about 18s left$`,
		`^backup redmine: 1MiB read in 6\.0s$`,
	} {
		if i >= len(lines) || !regexp.MustCompile(want).MatchString(lines[i]) {
			t.Fatalf("lines %q: line %d does not match %s", lines, i, want)
		}
	}

	out.Reset()
	m = New(&out, Options{Now: c.now}).Meter()
	m.Start("verify x", 0)
	m.Add(10)
	m.Done(errors.New("damaged"))
	if out.Len() != 0 {
		t.Errorf("printed %q: no line before the interval, and no total for a failed run", &out)
	}
	l := &lineMeter{r: New(&out, Options{Now: c.now}), n: 5 << 20, total: 4 << 20, start: c.t.Add(-time.Second)}
	if s := l.status(); strings.Contains(s, "of ~") || strings.Contains(s, "left") {
		t.Errorf("status %q past its estimate: it claims a total it has passed", s)
	}
}

// As JSON, a long read's lines carry its bytes as numbers.
func TestJSONMeter(t *testing.T) {
	var out bytes.Buffer
	c := &clock{time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	m := New(&out, Options{Format: JSON, Now: c.now, Terminal: true}).Meter()
	m.Start("backup redmine", 4<<20)
	c.t = c.t.Add(6 * time.Second)
	m.Add(1 << 20)
	var e Event
	if err := json.Unmarshal(out.Bytes(), &e); err != nil {
		t.Fatalf("%q: %v", &out, err)
	}
	if e.Level != Progress || e.What != "backup redmine" || e.Done != 1<<20 || e.Total != 4<<20 {
		t.Errorf("progress event %+v", e)
	}
}

// On a terminal, a bar; an estimate that proves short never shows the bar
// full before the run ends.
func TestBarMeter(t *testing.T) {
	var out bytes.Buffer
	b, ok := New(&out, Options{Terminal: true}).Meter().(*barMeter)
	if !ok {
		t.Fatal("a terminal gets no bar")
	}
	b.Start("restore redmine", 100)
	b.Entry("redmine-files.tar")
	b.Add(150)
	if s := b.bar.State(); s.CurrentNum != 150 || s.Max <= s.CurrentNum {
		t.Errorf("bar at %d of %d: past the estimate, the bar must not be full", s.CurrentNum, s.Max)
	}
	b.Done(nil)
	if !strings.Contains(out.String(), "restore redmine") {
		t.Errorf("bar output %q does not name the run", &out)
	}
}

// The SDK's events become JSON events: outcomes only, a task's failure a
// warning (the command's own error is the one error event).
func TestComposeJSON(t *testing.T) {
	var out bytes.Buffer
	r := New(&out, Options{Format: JSON})
	p := r.Compose()
	p.On(api.Resource{ID: "Container redmine-1", Status: api.Working, Text: "Starting"},
		api.Resource{ID: "Container redmine-1", Status: api.Done, Text: "Started"},
		api.Resource{ID: "Container db-1", Status: api.Error, Text: "Error", Details: "exit 1"})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("events %q: want the two outcomes", lines)
	}
	var e Event
	_ = json.Unmarshal([]byte(lines[1]), &e)
	if e.Level != Warn || e.Source != "compose" || e.Msg != "Container db-1 Error exit 1" {
		t.Errorf("failed task event %+v", e)
	}
}
