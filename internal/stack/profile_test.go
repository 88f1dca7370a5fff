package stack

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// availability answers from fixed sets, standing in for the engine and a registry.
type availability struct {
	present  map[string]bool
	pullable map[string]bool
}

func (a availability) ImagePresent(_ context.Context, ref string) (bool, error) {
	return a.present[ref], nil
}

func (a availability) CanPull(_ context.Context, ref string) error {
	if a.pullable[ref] {
		return nil
	}
	return errors.New("registry unreachable")
}

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
				if !errors.Is(err, ErrInvalidInput) {
					t.Fatalf("ParseProfile(%q) error = %v, want ErrInvalidInput", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseProfile(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestChooseProfile(t *testing.T) {
	st, _ := LookupStack("nginx")
	up := nginxBase.Upstream
	for _, tc := range []struct {
		name      string
		requested Profile
		recorded  Profile
		avail     availability
		want      Profile
		reason    string
		wantErr   bool
	}{
		{name: "explicit debian", requested: ProfileDebian, want: ProfileDebian, reason: "requested"},
		{name: "explicit upstream", requested: ProfileUpstream, want: ProfileUpstream, reason: "requested"},
		{name: "recorded wins over auto", requested: ProfileAuto, recorded: ProfileDebian,
			avail: availability{present: map[string]bool{up: true}}, want: ProfileDebian, reason: "recorded"},
		{name: "same as recorded", requested: ProfileUpstream, recorded: ProfileUpstream, want: ProfileUpstream, reason: "recorded"},
		{name: "contradicts record", requested: ProfileUpstream, recorded: ProfileDebian, wantErr: true},
		{name: "auto, upstream present", requested: ProfileAuto,
			avail: availability{present: map[string]bool{up: true}}, want: ProfileUpstream, reason: "present or can be pulled"},
		{name: "auto, upstream pullable", requested: ProfileAuto,
			avail: availability{pullable: map[string]bool{up: true}}, want: ProfileUpstream, reason: "present or can be pulled"},
		{name: "auto, nothing reachable", requested: ProfileAuto, want: ProfileDebian, reason: "registry unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChooseProfile(context.Background(), st, tc.requested, tc.recorded, tc.avail)
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "--base "+string(tc.recorded)) {
					t.Fatalf("error = %v, want ErrInvalidInput naming --base %s", err, tc.recorded)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Profile != tc.want || !strings.Contains(got.Reason, tc.reason) {
				t.Fatalf("got %+v, want profile %s with a reason mentioning %q", got, tc.want, tc.reason)
			}
		})
	}
}
