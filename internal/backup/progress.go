package backup

import "github.com/stackctl/stackctl/internal/report"

// Progress follows a long read of a stack or an archive: a command's
// reporter shows it (report.Reporter.Meter).
type Progress = report.Meter

type nopProgress struct{}

func (nopProgress) Start(string, int64) {}
func (nopProgress) Entry(string)        {}
func (nopProgress) Add(int64)           {}
func (nopProgress) Done(error)          {}

// Bytes formats a size in binary units, as du -h and the progress bar do: "3.4MiB".
func Bytes(n int64) string { return report.Bytes(n) }
