package validate

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Sentinel errors, mapped to exit codes by the CLI.
var (
	// ErrFindings: validation ran and found something to fix.
	ErrFindings = errors.New("validation findings")
	// ErrUnreadable: a file to validate cannot be read at all.
	ErrUnreadable = errors.New("unreadable file")
)

// Severity says how sure a rule is that a finding is a defect.
type Severity string

const (
	// Error: the file breaks the rule.
	Error Severity = "error"
	// Warning: the file most likely breaks the rule; a reviewer should look.
	Warning Severity = "warning"
)

// Finding is one problem, placed at a file and line.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Service  string   `json:"service,omitempty"`
	File     string   `json:"file"`
	// Line is 1-based; 0 when the finding concerns the file as a whole.
	Line    int    `json:"line"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
	// Profiles names the base profiles a stack shows the finding under, when
	// it shows under some of them only.
	Profiles []string `json:"profiles,omitempty"`
}

func (f Finding) key() string {
	return strings.Join([]string{f.File, fmt.Sprint(f.Line), f.Rule, f.Service, f.Message}, "\x00")
}

// Report is every finding of one validation run, in file and line order.
type Report struct {
	Findings []Finding `json:"findings"`
}

func (r *Report) sort() {
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Service, b.Service), cmp.Compare(a.Message, b.Message))
	})
}

// Err is nil for a clean report, else an ErrFindings that counts them.
func (r Report) Err() error {
	if len(r.Findings) == 0 {
		return nil
	}
	var errs, warns int
	for _, f := range r.Findings {
		if f.Severity == Error {
			errs++
		} else {
			warns++
		}
	}
	return fmt.Errorf("%w: %s, %s: fix them, or opt a service out of a rule with a reason (see 'stackctl validate --help')",
		ErrFindings, count(errs, "error"), count(warns, "warning"))
}

// WriteText prints one finding per paragraph: where, what, how to fix. Paths
// are shown relative to dir when they are under it.
func (r Report) WriteText(w io.Writer, dir string) error {
	for _, f := range r.Findings {
		where := relTo(dir, f.File)
		if f.Line > 0 {
			where += fmt.Sprintf(":%d", f.Line)
		}
		subject := ""
		if f.Service != "" {
			subject = "service " + f.Service + ": "
		}
		profiles := ""
		if len(f.Profiles) > 0 {
			profiles = " [" + strings.Join(f.Profiles, ", ") + " profile]"
		}
		if _, err := fmt.Fprintf(w, "%s: %s %s: %s%s%s\n    fix: %s\n", where, f.Severity, f.Rule, subject, f.Message, profiles, f.Fix); err != nil {
			return err
		}
	}
	return nil
}

// WriteJSON prints the report as one JSON object, paths as WriteText shows them.
func (r Report) WriteJSON(w io.Writer, dir string) error {
	out := Report{Findings: make([]Finding, len(r.Findings))}
	for i, f := range r.Findings {
		f.File = relTo(dir, f.File)
		out.Findings[i] = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func relTo(dir, path string) string {
	if dir == "" || !filepath.IsAbs(path) {
		return path
	}
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(os.PathSeparator)) {
		return path
	}
	return rel
}

func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
