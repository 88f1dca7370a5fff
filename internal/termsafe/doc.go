// Package termsafe escapes text that comes from outside stackctl (an
// archive's manifest and entry names, a sidecar, a server's error or an HTTP
// body) before it reaches a terminal, which would obey a control character or
// an escape sequence in it: clear the screen, move the cursor, reorder a line
// or forge one. Ordinary text of any script is left as it is.
package termsafe
