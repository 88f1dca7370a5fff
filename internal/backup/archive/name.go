package archive

import (
	"strings"
	"time"
)

// Suffix ends every archive's file name, before ".age" when it is encrypted.
const Suffix = ".tar.zst"

// stampLayout is the UTC time in an archive's file name: it sorts as the time does.
const stampLayout = "20060102T150405Z"

// FileName is the name an archive of stack taken at taken is stored under,
// wherever it is kept: <stack>-<UTC 20060102T150405Z>.tar.zst[.age].
func FileName(stack string, taken time.Time, encrypted bool) string {
	name := stack + "-" + taken.UTC().Format(stampLayout) + Suffix
	if encrypted {
		name += ".age"
	}
	return name
}

// ParseFileName reverses FileName; ok is false for a name that is no archive's.
// The stamp has a fixed length, so a stack whose name holds dashes parses too.
func ParseFileName(name string) (stack string, taken time.Time, ok bool) {
	rest, ok := strings.CutSuffix(strings.TrimSuffix(name, ".age"), Suffix)
	if !ok || len(rest) < len(stampLayout)+2 {
		return "", time.Time{}, false
	}
	cut := len(rest) - len(stampLayout)
	if rest[cut-1] != '-' {
		return "", time.Time{}, false
	}
	taken, err := time.Parse(stampLayout, rest[cut:])
	if err != nil {
		return "", time.Time{}, false
	}
	return rest[:cut-1], taken, true
}
