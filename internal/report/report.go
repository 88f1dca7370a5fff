package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/internal/termsafe"
)

// Format is how a Reporter writes.
type Format int

const (
	// Text is for a person: the messages as they are.
	Text Format = iota
	// JSON is one Event a line, for a script.
	JSON
)

// Level says what kind of event a line is.
type Level string

const (
	Info  Level = "info"
	Warn  Level = "warn"
	Error Level = "error"
	// Progress is a count of bytes read or written so far.
	Progress Level = "progress"
)

// Event is one line of a JSON report.
type Event struct {
	Time    time.Time `json:"time"`
	Level   Level     `json:"level"`
	Command string    `json:"command,omitempty"`
	// Source is who said it when not stackctl itself: "compose" (the SDK's
	// events), "output" (lines of a tool stackctl runs, such as a build).
	Source string `json:"source,omitempty"`
	Msg    string `json:"msg"`
	// What, Entry, Done and Total follow a long read (Level progress):
	// Done bytes of Total (0: not known), Entry the part being read.
	What  string `json:"what,omitempty"`
	Entry string `json:"entry,omitempty"`
	Done  int64  `json:"done,omitempty"`
	Total int64  `json:"total,omitempty"`
	// Exit is the exit status a failed command ends with (Level error).
	Exit int `json:"exit,omitempty"`
}

// Options configure a Reporter.
type Options struct {
	Format Format
	// Terminal says the writer is a terminal: progress is drawn in place.
	Terminal bool
	// Command names the command in every JSON event.
	Command string
	// Now is the clock (tests fix it); nil: time.Now.
	Now func() time.Time
}

// Reporter writes a command's events. A nil Reporter discards them, so that
// code under test needs none.
type Reporter struct {
	w  io.Writer
	o  Options
	mu *sync.Mutex
}

// New returns a Reporter writing to w.
func New(w io.Writer, o Options) *Reporter {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Reporter{w: w, o: o, mu: &sync.Mutex{}}
}

// JSON says events are written as JSON lines.
func (r *Reporter) JSON() bool { return r != nil && r.o.Format == JSON }

// Terminal says events go to a terminal, and are written as text.
func (r *Reporter) Terminal() bool { return r != nil && r.o.Terminal && r.o.Format == Text }

// Printf reports progress: what stackctl is doing, or has done.
func (r *Reporter) Printf(format string, args ...any) {
	r.emit(Event{Level: Info, Msg: fmt.Sprintf(format, args...)})
}

// Warnf reports something the operator should know that does not stop the
// command. As text it starts with "stackctl: ", as every such line always has.
func (r *Reporter) Warnf(format string, args ...any) {
	r.emit(Event{Level: Warn, Msg: fmt.Sprintf(format, args...)})
}

// Fail reports the error a command ends with and the exit status it gives.
func (r *Reporter) Fail(err error, exit int) {
	r.emit(Event{Level: Error, Msg: err.Error(), Exit: exit})
}

// Emit writes e, filling in its time and command.
func (r *Reporter) Emit(e Event) { r.emit(e) }

func (r *Reporter) emit(e Event) {
	if r == nil || r.w == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.o.Format == JSON {
		e.Time, e.Command = r.o.Now().UTC(), r.o.Command
		b, err := json.Marshal(e)
		if err != nil {
			return // an Event always marshals; nothing else could be said
		}
		_, _ = r.w.Write(append(termsafe.JSON(b), '\n'))
		return
	}
	msg := e.Msg
	if e.Level == Warn || e.Level == Error {
		msg = "stackctl: " + msg
	}
	// A message may quote an archive, a server or a tool: what a terminal
	// would obey in it is escaped.
	_, _ = io.WriteString(r.w, termsafe.Text(strings.TrimSuffix(msg, "\n"))+"\n")
}

// Writer is for a tool that prints its own lines (a build's output, a
// scheduled command's): as text they pass through as they are, so a
// terminal still draws them; as JSON each line becomes an info event from
// "output".
func (r *Reporter) Writer() io.Writer {
	if r == nil || r.w == nil {
		return io.Discard
	}
	if r.o.Format == Text {
		return lockedWriter{r}
	}
	return &lineWriter{r: r}
}

type lockedWriter struct{ r *Reporter }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	return l.r.w.Write(p)
}

// lineWriter turns written lines into events; a partial line waits for its end.
type lineWriter struct {
	r   *Reporter
	mu  sync.Mutex
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexAny(l.buf, "\n\r")
		if i < 0 {
			return len(p), nil
		}
		if line := strings.TrimSpace(string(l.buf[:i])); line != "" {
			l.r.emit(Event{Level: Info, Source: "output", Msg: line})
		}
		l.buf = l.buf[i+1:]
	}
}
