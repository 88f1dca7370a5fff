// Package retention decides which backup archives a calendar policy keeps,
// with restic's meaning of --keep-last/daily/weekly/monthly/yearly, and never
// lets a policy remove the newest archive, one still being written, or the
// newest one whose restore test passed. It only decides: callers remove.
package retention
