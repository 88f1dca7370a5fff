package archive

import (
	"testing"
	"time"
)

func TestFileName(t *testing.T) {
	taken := time.Date(2026, 11, 23, 1, 2, 3, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		stack     string
		encrypted bool
		want      string
	}{
		{"plain", "redmine", false, "redmine-20261123T010203Z.tar.zst"},
		{"encrypted", "redmine", true, "redmine-20261123T010203Z.tar.zst.age"},
		{"stack with dashes", "redmine-dev", false, "redmine-dev-20261123T010203Z.tar.zst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FileName(tc.stack, taken, tc.encrypted)
			if got != tc.want {
				t.Fatalf("FileName = %q, want %q", got, tc.want)
			}
			stack, at, ok := ParseFileName(got)
			if !ok || stack != tc.stack || !at.Equal(taken) {
				t.Fatalf("ParseFileName(%q) = %q, %v, %v", got, stack, at, ok)
			}
		})
	}
}

func TestParseFileNameRefuses(t *testing.T) {
	for _, name := range []string{
		"redmine-notes.txt",
		"redmine-20261123T010203Z.tar.zst.sidecar",
		".redmine-20261123T010203Z.tar.zst.partial-123",
		"redmine20261123T010203Z.tar.zst",
		"-20261123T010203Z.tar.zst",
		"redmine-20261323T010203Z.tar.zst",
		"20261123T010203Z.tar.zst",
	} {
		t.Run(name, func(t *testing.T) {
			if stack, _, ok := ParseFileName(name); ok {
				t.Fatalf("ParseFileName(%q) took it as stack %q's archive", name, stack)
			}
		})
	}
}
