package main

import (
	"encoding/json"
	"io"

	"github.com/stackctl/stackctl/internal/stack"
)

// writeJSONArray prints items as an indented JSON array for --json: [] when
// there are none, never null.
func writeJSONArray[T any](w io.Writer, items []T) error {
	if items == nil {
		items = []T{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(items)
}

// writeJSON prints v as indented JSON for --json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writePlan prints what a command would do, for --dry-run: as its text, or
// with asJSON as JSON.
func writePlan(w io.Writer, p stack.Plan, asJSON bool) error {
	if asJSON {
		return writeJSON(w, p)
	}
	return p.WriteText(w)
}
