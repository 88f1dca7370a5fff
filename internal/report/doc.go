// Package report is the one way stackctl speaks while it works. Progress,
// warnings, byte counts and the Compose SDK's events go to one Reporter,
// which writes them as human text (drawn in place on a terminal, plain lines
// otherwise) or, for scripts, as JSON lines, one event a line (--json). A
// Reporter writes to stderr only: stdout carries a command's result alone.
package report
