package backup

import "testing"

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
