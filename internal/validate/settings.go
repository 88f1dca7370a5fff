package validate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stackctl/stackctl/internal/settings"
)

// Settings checks a site's settings file at path: every problem of its keys
// and values (rule Settings) or, when it has none, of the files it names
// (rule SettingsFiles), each a finding at its line. A path that does not
// exist (a checkout need not have a settings file) gives no finding.
func Settings(path string) (Report, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Report{}, fmt.Errorf("%w: %s: %v", ErrUnreadable, path, err)
	}
	b, err := os.ReadFile(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return Report{}, nil
	}
	if err != nil {
		return Report{}, fmt.Errorf("%w: %v: check the path and its permissions", ErrUnreadable, err)
	}
	var r Report
	l, err := settings.Parse(abs, b)
	rule := ruleSettings
	if err == nil {
		err, rule = l.CheckFiles(), ruleSettingsFiles
	}
	var se *settings.Error
	if errors.As(err, &se) {
		for _, p := range se.Problems {
			msg := p.Message
			if p.Key != "" {
				msg = p.Key + ": " + msg
			}
			r.Findings = append(r.Findings, Finding{Rule: rule, Severity: Error, File: se.File, Line: p.Line, Message: msg, Fix: p.Fix})
		}
	} else if err != nil {
		return Report{}, err
	}
	r.sort()
	return r, nil
}

// Add adds o's findings to r, keeping r in file and line order.
func (r *Report) Add(o Report) {
	r.Findings = append(r.Findings, o.Findings...)
	r.sort()
}
