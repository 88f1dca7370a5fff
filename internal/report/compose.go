package report

import (
	"context"
	"strings"

	"github.com/docker/compose/v5/cmd/display"
	"github.com/docker/compose/v5/pkg/api"
)

// Compose is how the Compose SDK's events are shown: its live display on a
// terminal, its plain lines otherwise, or as r's JSON events.
func (r *Reporter) Compose() api.EventProcessor {
	switch {
	case r == nil || r.w == nil:
		return display.Quiet()
	case r.JSON():
		return composeEvents{r}
	case r.Terminal():
		return display.Full(lockedWriter{r}, lockedWriter{r}, true)
	default:
		return display.Plain(lockedWriter{r})
	}
}

// composeEvents turns the SDK's events into JSON lines of r's own shape.
type composeEvents struct{ r *Reporter }

func (composeEvents) Start(context.Context, string) {}
func (composeEvents) Done(string, bool)             {}

func (c composeEvents) On(events ...api.Resource) {
	for _, e := range events {
		// Working events repeat while a task runs; the outcome is what a script reads.
		if e.Status == api.Working {
			continue
		}
		msg := strings.TrimSpace(strings.Join([]string{e.ID, e.Text, e.Details}, " "))
		// A task's failure is a warning here: the command's own error,
		// the one event of level error, follows it.
		lvl := Info
		if e.Status == api.Warning || e.Status == api.Error {
			lvl = Warn
		}
		c.r.emit(Event{Level: lvl, Source: "compose", Msg: msg, Done: e.Current, Total: e.Total})
	}
}
