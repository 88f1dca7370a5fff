package stack

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
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

func TestChooseProfile(t *testing.T) {
	st, _ := catalog.LookupStack("nginx")
	up := st.Bases()[0].Upstream
	for _, tc := range []struct {
		name      string
		requested catalog.Profile
		recorded  catalog.Profile
		avail     availability
		want      catalog.Profile
		reason    string
		wantErr   bool
	}{
		{name: "explicit debian", requested: catalog.ProfileDebian, want: catalog.ProfileDebian, reason: "requested"},
		{name: "explicit upstream", requested: catalog.ProfileUpstream, want: catalog.ProfileUpstream, reason: "requested"},
		{name: "recorded wins over auto", requested: catalog.ProfileAuto, recorded: catalog.ProfileDebian,
			avail: availability{present: map[string]bool{up: true}}, want: catalog.ProfileDebian, reason: "recorded"},
		{name: "same as recorded", requested: catalog.ProfileUpstream, recorded: catalog.ProfileUpstream, want: catalog.ProfileUpstream, reason: "recorded"},
		{name: "contradicts record", requested: catalog.ProfileUpstream, recorded: catalog.ProfileDebian, wantErr: true},
		{name: "auto, upstream present", requested: catalog.ProfileAuto,
			avail: availability{present: map[string]bool{up: true}}, want: catalog.ProfileUpstream, reason: "present or can be pulled"},
		{name: "auto, upstream pullable", requested: catalog.ProfileAuto,
			avail: availability{pullable: map[string]bool{up: true}}, want: catalog.ProfileUpstream, reason: "present or can be pulled"},
		{name: "auto, nothing reachable", requested: catalog.ProfileAuto, want: catalog.ProfileDebian, reason: "registry unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChooseProfile(context.Background(), st, tc.requested, tc.recorded, tc.avail)
			if tc.wantErr {
				if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "--profile "+string(tc.recorded)) {
					t.Fatalf("error = %v, want errs.ErrInvalidInput naming --profile %s", err, tc.recorded)
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
