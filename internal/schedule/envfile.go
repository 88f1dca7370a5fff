package schedule

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// envName is a variable name an environment file may set.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// plainValue needs no quotes in an environment file.
var plainValue = regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_~?&#*!^\[\]{}-]*$`)

// ReadEnvFile reads a file of KEY=VALUE lines as systemd's EnvironmentFile=
// does (see parseEnv), so that a credential is what 'schedule backup' checked
// and what cron's 'schedule run --env-file' reads. The file holds
// credentials, so it must be private: a regular file of yours with mode 0600
// or stricter.
func ReadEnvFile(path string) ([]string, error) {
	content, err := state.ReadSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the environment file %s: %w", path, err)
	}
	return parseEnv(path, content)
}

// parseEnv reads content by systemd's rules (src/basic/env-file.c): a line
// starting with # or ; is a comment; a key and a value are stripped of the
// white space around them; in a value, \ takes the next character as it is,
// and \ at the end of a line joins the next; single quotes keep everything up
// to the next; double quotes too, but for \" and a \ ending the line; quoted
// and unquoted parts run together. What systemd would skip, or its versions
// read differently, is refused with its line instead:
//   - a line with no =, or a name that is not one (systemd skips them);
//   - a control character in a value but a tab (older systemd drops the
//     variable, newer keeps it), invalid UTF-8 or a NUL;
//   - a comment ending with \ (before 254 the next line is comment too);
//   - a \ inside quotes but for \" and a line's end (versions keep or drop it);
//   - a quote left open (systemd takes the rest of the file).
func parseEnv(path, content string) ([]string, error) {
	bad := func(line int, format string, args ...any) error {
		return fmt.Errorf("%w: %s:%d: "+format, append([]any{errs.ErrInvalidInput, path, line}, args...)...)
	}
	if i := strings.IndexByte(content, 0); i >= 0 {
		return nil, bad(lineAt(content, i), "a NUL byte, where systemd stops reading: remove it")
	}
	if !utf8.ValidString(content) {
		i := 0
		for i < len(content) {
			r, n := utf8.DecodeRuneInString(content[i:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			i += n
		}
		return nil, bad(lineAt(content, i), "not UTF-8, which systemd refuses: save the file as UTF-8")
	}
	const (
		preKey = iota
		inKey
		preValue
		inValue
		valueEscape
		singleQuoted
		doubleQuoted
		doubleEscape
		inComment
		commentEscape
	)
	var (
		env        []string
		key, value []byte
		// The white space a key or an unquoted value ends with starts here
		// (-1: none); an escaped space is not stripped.
		keyTrail, valueTrail = -1, -1
		state                = preKey
		line, start          = 1, 1 // start: the line the assignment starts on
		quoteLine            int
	)
	push := func() error {
		if keyTrail >= 0 {
			key = key[:keyTrail]
		}
		if state == inValue && valueTrail >= 0 {
			value = value[:valueTrail]
		}
		k, v := string(key), string(value)
		key, value, keyTrail, valueTrail = key[:0], value[:0], -1, -1
		if !envName.MatchString(k) {
			return bad(start, "%q is not a variable name (letters, digits and _, not first a digit), which systemd skips: correct it", k)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r != '\t' && (r < ' ' || r == 0x7f) }) {
			return bad(start, "the value of %s holds a line break or another control character, which systemd versions read differently: put it on one line", k)
		}
		env = append(env, k+"="+v)
		return nil
	}
	for i := 0; i < len(content); i++ {
		c := content[i]
		newline := c == '\n' || c == '\r'
		space := newline || c == ' ' || c == '\t'
		switch state {
		case preKey:
			switch {
			case c == '#' || c == ';':
				state = inComment
			case !space:
				state, start, keyTrail = inKey, line, -1
				key = append(key, c)
			}
		case inKey:
			switch {
			case newline:
				return nil, bad(start, "want KEY=VALUE (systemd skips a line with no =)")
			case c == '=':
				state, valueTrail = preValue, -1
			default:
				if !space {
					keyTrail = -1
				} else if keyTrail < 0 {
					keyTrail = len(key)
				}
				key = append(key, c)
			}
		case preValue, inValue:
			switch {
			case newline:
				if err := push(); err != nil {
					return nil, err
				}
				state = preKey
			case c == '\\':
				state, valueTrail = valueEscape, -1
			case state == preValue && c == '\'':
				state, quoteLine = singleQuoted, line
			case state == preValue && c == '"':
				state, quoteLine = doubleQuoted, line
			case state == preValue && space:
			default:
				if !space {
					valueTrail = -1
				} else if valueTrail < 0 {
					valueTrail = len(value)
				}
				state = inValue
				value = append(value, c)
			}
		case valueEscape:
			state = inValue
			if !newline {
				value = append(value, c)
			}
		case singleQuoted:
			switch c {
			case '\'':
				state = preValue
			case '\\':
				return nil, bad(line, "a \\ inside single quotes, which systemd versions read differently: write the value unquoted, each \\ as \\\\")
			default:
				value = append(value, c)
			}
		case doubleQuoted:
			switch c {
			case '"':
				state = preValue
			case '\\':
				state = doubleEscape
			default:
				value = append(value, c)
			}
		case doubleEscape:
			state = doubleQuoted
			switch c {
			case '"':
				value = append(value, c)
			case '\n':
			default:
				return nil, bad(line, "a \\ inside double quotes before anything but \" or the line's end, which systemd versions read differently (the \\ kept or dropped): write the value unquoted, each \\ as \\\\")
			}
		case inComment:
			switch {
			case c == '\\':
				state = commentEscape
			case newline:
				state = preKey
			}
		case commentEscape:
			if newline {
				return nil, bad(line, "a comment ends with \\, which continues it onto the next line for systemd before 254, not after: remove the \\")
			}
			state = inComment
		}
		if c == '\n' {
			line++
		}
	}
	switch state {
	case singleQuoted, doubleQuoted, doubleEscape:
		return nil, bad(quoteLine, "a quote is left open, and systemd would take the rest of the file into the value: close it")
	case inKey:
		return nil, bad(start, "want KEY=VALUE (systemd skips a line with no =)")
	case preValue, inValue, valueEscape:
		if err := push(); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// lineAt is the number of the line holding content[i].
func lineAt(content string, i int) int { return strings.Count(content[:i], "\n") + 1 }

// writeEnv writes KEY=VALUE lines that ReadEnvFile and systemd read back
// unchanged: a value beyond plainValue is single-quoted, which neither
// expands; one holding a quote, a backslash or a control character cannot be
// written so.
func writeEnv(w io.Writer, vars [][2]string) error {
	for _, kv := range vars {
		k, v := kv[0], kv[1]
		if !plainValue.MatchString(v) {
			if strings.ContainsFunc(v, func(r rune) bool { return r == '\'' || r == '\\' || r < ' ' || r == 0x7f }) {
				return fmt.Errorf("%w: the value of %s holds a quote, a backslash or a control character: percent-encode it", errs.ErrInvalidInput, k)
			}
			v = "'" + v + "'"
		}
		if _, err := fmt.Fprintf(w, "%s=%s\n", k, v); err != nil {
			return err
		}
	}
	return nil
}
