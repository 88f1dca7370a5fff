package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stackctl/stackctl/internal/patch"
	"github.com/stackctl/stackctl/internal/termsafe"
)

// writePending lists, per image the stack runs, the fixes pending for it:
// what update and update --dry-run print.
func writePending(w io.Writer, p patch.Pending) error {
	fmt.Fprintf(w, "fixes pending in %s:\n", p.SuiteNames())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, im := range p.Running {
		fmt.Fprintf(tw, "%s\t%s\n", strings.Join(im.Services, ", "), pendingSummary(im, time.Now()))
		for _, u := range im.Updates {
			// What the mirror's indexes say: escaped.
			fmt.Fprintf(tw, "  %s\t%s -> %s\t%s\n", termsafe.String(u.Package), termsafe.String(u.Installed), termsafe.String(u.Available), termsafe.String(u.Suite))
		}
	}
	return tw.Flush()
}

// pendingSummary is one image's line: how many fixes, since when.
func pendingSummary(im patch.Image, now time.Time) string {
	if len(im.Updates) == 0 {
		return "none (base " + im.Base + ")"
	}
	s := fmt.Sprintf("%d (base %s)", len(im.Updates), im.Base)
	if im.Held != "" {
		s += ", left as it runs: " + im.Held
	}
	switch {
	case im.Waiting.IsZero():
	case im.WaitingFrom == patch.WaitingMirror:
		s += fmt.Sprintf(", the oldest on the mirror since %s (%s)", im.Waiting.Local().Format("2006-01-02 15:04"), waited(now.Sub(im.Waiting)))
	default:
		s += fmt.Sprintf(", the oldest pending since %s (%s; the mirror dates no package: since the first check that found it)",
			im.Waiting.Local().Format("2006-01-02 15:04"), waited(now.Sub(im.Waiting)))
	}
	return s
}

// waited says a wait in days, or hours under two days.
func waited(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}
