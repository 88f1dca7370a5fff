package backup

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	names := []string{
		"redmine-20261121T010000Z.tar.zst",
		"redmine-20261122T010000Z.tar.zst.age",
		"redmine-20261123T010000Z.tar.zst",
		"redmine-20261123T020000Z.tar.zst",
		// not archives of the stack: never touched
		"nginx-20261120T010000Z.tar.zst",
		"redmine-notes.txt",
		".redmine-20261123T030000Z.tar.zst.partial-123",
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := prune(dir, "redmine", 2, "redmine-20261123T020000Z.tar.zst")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, names[0]), filepath.Join(dir, names[1])}
	if !slices.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != len(names)-2 {
		t.Fatalf("%d files left, want %d", len(left), len(names)-2)
	}
}

func TestNewer(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"6.0.10", "6.0.5", true},
		{"6.0.5", "6.0.10", false},
		{"6.0.5", "6.0.5", false},
		{"7.0.0", "6.1.3", true},
		{"6.1", "6.1.0", false},
		{"18", "17", true},
		{"6.0.5.stable", "6.0.5", false},
	} {
		if got := newer(tc.a, tc.b); got != tc.want {
			t.Errorf("newer(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
