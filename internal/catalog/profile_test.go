package catalog

import (
	"errors"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
)

func TestParseProfile(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Profile
		wantErr bool
	}{
		{"", ProfileAuto, false},
		{"auto", ProfileAuto, false},
		{"debian", ProfileDebian, false},
		{" Upstream ", ProfileUpstream, false},
		{"alpine", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseProfile(tc.in)
			if tc.wantErr {
				if !errors.Is(err, errs.ErrInvalidInput) {
					t.Fatalf("ParseProfile(%q) error = %v, want errs.ErrInvalidInput", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseProfile(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
