package main

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/termsafe"
)

// writeJSONArray prints items as an indented JSON array for --json: [] when
// there are none, never null.
func writeJSONArray[T any](w io.Writer, items []T) error {
	if items == nil {
		items = []T{}
	}
	return writeJSON(w, items)
}

// writeJSON prints v as indented JSON for --json. A value may come from an
// archive or a server: what a terminal would obey in it is \u-escaped, the
// same JSON value (termsafe.JSON).
func writeJSON(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(termsafe.JSON(b.Bytes()))
	return err
}

// writePlan prints what a command would do, for --dry-run: as its text, or
// with asJSON as JSON.
func writePlan(w io.Writer, p stack.Plan, asJSON bool) error {
	if asJSON {
		return writeJSON(w, p)
	}
	return p.WriteText(w)
}
