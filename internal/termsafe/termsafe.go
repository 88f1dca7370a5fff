package termsafe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// unsafe says whether a terminal must not be given r as it is: the C0
// controls (ESC among them), DEL, the C1 controls (CSI among them), the line
// and paragraph separators, and the bidirectional controls, which reorder
// what is shown (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069).
func unsafe(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

// String is s as a terminal may be given it: s itself when it holds nothing
// unsafe, else s quoted and escaped as Go writes a string ("\x1b[2J",
// "\r", "\u202e"), so that what was escaped is plain to see. A tab and a
// line break are escaped too: a value is shown on its line, in its column.
func String(s string) string {
	if !strings.ContainsFunc(s, unsafe) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	escape(&b, s, true)
	b.WriteByte('"')
	return b.String()
}

// Text is a message a terminal may be given: what is unsafe in it escaped
// in place, its line breaks and tabs kept, since a message of stackctl's own
// may span lines. A value from outside in a message should be String's.
func Text(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && r != '\t' && unsafe(r) }) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	escape(&b, s, false)
	return b.String()
}

// escape writes s to b, each unsafe rune and invalid byte escaped. Quoted,
// a quote and a backslash are escaped too; not, a line break and a tab are
// kept as they are.
func escape(b *strings.Builder, s string, quoted bool) {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(b, `\x%02x`, s[i])
		case quoted && (r == '"' || r == '\\'):
			b.WriteByte('\\')
			b.WriteRune(r)
		case !quoted && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case unsafe(r):
			writeEscape(b, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
}

// writeEscape writes r as Go escapes it in a string.
func writeEscape(b *strings.Builder, r rune) {
	switch r {
	case '\a':
		b.WriteString(`\a`)
	case '\b':
		b.WriteString(`\b`)
	case '\f':
		b.WriteString(`\f`)
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	case '\v':
		b.WriteString(`\v`)
	default:
		if r < 0x80 {
			fmt.Fprintf(b, `\x%02x`, r)
		} else {
			fmt.Fprintf(b, `\u%04x`, r)
		}
	}
}

// JSON is encoded JSON with what encoding/json leaves as it is but a
// terminal obeys (DEL, the C1 and bidirectional controls) written as \u
// escapes, and an invalid byte as \ufffd, as encoding/json writes one: the
// same value, still valid JSON. Valid JSON holds none of them outside a
// string, so each is in a string, where \u is its escape.
func JSON(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			out = append(out, `\ufffd`...)
		case unsafe(r) && r >= 0x20:
			out = fmt.Appendf(out, `\u%04x`, r)
		default:
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}
