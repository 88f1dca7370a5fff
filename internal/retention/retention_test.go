package retention

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// stamp is an archive's time as its name writes it.
const stamp = "20060102T150405Z"

// clock is the simulation's fake clock: it only moves when told to.
type clock struct{ now time.Time }

func (c *clock) set(t time.Time) { c.now = t }

// year is a simulated year of scheduled backups, from Saturday 2024-12-28 to
// Wednesday 2025-12-31: one a day at 02:30 UTC, none from Monday 4 to Sunday
// 17 August (ISO weeks 32 and 33) nor on 25 and 26 December, and a few extra
// runs by hand: at 10:00 and 20:00 on 31 March, at 23:30 on 30 June (01:30 on
// 1 July in Central Europe), at 18:00 on 30 December and 13:00 on 31 December.
func year() []time.Time {
	var times []time.Time
	gap := func(t time.Time) bool {
		d := t.Format("2006-01-02")
		return (d >= "2025-08-04" && d <= "2025-08-17") || d == "2025-12-25" || d == "2025-12-26"
	}
	for t := time.Date(2024, 12, 28, 2, 30, 0, 0, time.UTC); t.Year() < 2026; t = t.AddDate(0, 0, 1) {
		if !gap(t) {
			times = append(times, t)
		}
	}
	for _, s := range []string{"20250331T100000Z", "20250331T200000Z", "20250630T233000Z", "20251230T180000Z", "20251231T130000Z"} {
		t, _ := time.Parse(stamp, s)
		times = append(times, t)
	}
	slices.SortFunc(times, time.Time.Compare)
	return times
}

func name(t time.Time) string { return "redmine-" + t.UTC().Format(stamp) + ".tar.zst" }

// simulate runs the year on a fake clock: at each backup's time the archive
// appears, and, when prune is set, the policy is applied at once and what it
// does not keep is removed, as a scheduled backup with --keep-* does. It
// returns the archives left at the end, by their time stamps, newest first.
func simulate(t *testing.T, p Policy, prune bool) []string {
	t.Helper()
	var c clock
	var have []Item
	keep := func() Plan {
		plan, err := Apply(p, have)
		if err != nil {
			t.Fatal(err)
		}
		return plan
	}
	for _, at := range year() {
		c.set(at)
		have = append(have, Item{Name: name(c.now), Time: c.now})
		if prune {
			have = kept(keep())
		}
	}
	var left []string
	for _, it := range kept(keep()) {
		left = append(left, strings.TrimSuffix(strings.TrimPrefix(it.Name, "redmine-"), ".tar.zst"))
	}
	return left
}

// TestYear: each policy keeps exactly the archives worked out by hand, whether
// it is applied once at the end of the year or after every backup.
func TestYear(t *testing.T) {
	if n := len(year()); n != 369-16+5 {
		t.Fatalf("the simulated year has %d backups, want 358", n)
	}
	for _, tc := range []struct {
		name   string
		policy Policy
		want   []string // newest first
	}{
		{
			name:   "last 3: the three newest, two of them on the same day",
			policy: Policy{Last: 3},
			want:   []string{"20251231T130000Z", "20251231T023000Z", "20251230T180000Z"},
		},
		{
			name:   "daily 7: the newest of each of the last 7 days with backups, skipping 25 and 26 December",
			policy: Policy{Daily: 7},
			want: []string{"20251231T130000Z", "20251230T180000Z", "20251229T023000Z", "20251228T023000Z",
				"20251227T023000Z", "20251224T023000Z", "20251223T023000Z"},
		},
		{
			name:   "weekly 4: ISO weeks end on Sunday; 31 December is in week 1 of 2026",
			policy: Policy{Weekly: 4},
			want:   []string{"20251231T130000Z", "20251228T023000Z", "20251221T023000Z", "20251214T023000Z"},
		},
		{
			name:   "weekly 22: the empty weeks 32 and 33 do not count",
			policy: Policy{Weekly: 22},
			want: []string{"20251231T130000Z",
				"20251228T023000Z", "20251221T023000Z", "20251214T023000Z", "20251207T023000Z",
				"20251130T023000Z", "20251123T023000Z", "20251116T023000Z", "20251109T023000Z", "20251102T023000Z",
				"20251026T023000Z", "20251019T023000Z", "20251012T023000Z", "20251005T023000Z",
				"20250928T023000Z", "20250921T023000Z", "20250914T023000Z", "20250907T023000Z",
				"20250831T023000Z", "20250824T023000Z",
				"20250803T023000Z", "20250727T023000Z"},
		},
		{
			name:   "monthly 6: the last archive of each month",
			policy: Policy{Monthly: 6},
			want: []string{"20251231T130000Z", "20251130T023000Z", "20251031T023000Z", "20250930T023000Z",
				"20250831T023000Z", "20250731T023000Z"},
		},
		{
			name:   "monthly 24: 13 months have archives, so the oldest archive is kept as well (restic's oldest rule)",
			policy: Policy{Monthly: 24},
			want: []string{"20251231T130000Z", "20251130T023000Z", "20251031T023000Z", "20250930T023000Z",
				"20250831T023000Z", "20250731T023000Z", "20250630T233000Z", "20250531T023000Z", "20250430T023000Z",
				"20250331T200000Z", "20250228T023000Z", "20250131T023000Z", "20241231T023000Z", "20241228T023000Z"},
		},
		{
			name:   "yearly 5: the last of 2025 and of 2024, and the oldest",
			policy: Policy{Yearly: 5},
			want:   []string{"20251231T130000Z", "20241231T023000Z", "20241228T023000Z"},
		},
		{
			name:   "last 2, daily 7, weekly 4, monthly 12, yearly 3: the union of what each keeps",
			policy: Policy{Last: 2, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 3},
			want: []string{"20251231T130000Z", "20251231T023000Z", "20251230T180000Z", "20251229T023000Z",
				"20251228T023000Z", "20251227T023000Z", "20251224T023000Z", "20251223T023000Z",
				"20251221T023000Z", "20251214T023000Z",
				"20251130T023000Z", "20251031T023000Z", "20250930T023000Z", "20250831T023000Z", "20250731T023000Z",
				"20250630T233000Z", "20250531T023000Z", "20250430T023000Z", "20250331T200000Z", "20250228T023000Z",
				"20250131T023000Z", "20241231T023000Z", "20241228T023000Z"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, prune := range []bool{false, true} {
				if got := simulate(t, tc.policy, prune); !slices.Equal(got, tc.want) {
					t.Errorf("pruned after every backup: %v\nkept %d: %v\nwant %d: %v", prune, len(got), got, len(tc.want), tc.want)
				}
			}
		})
	}
}

// TestYearReasons: each kept archive says which rules kept it.
func TestYearReasons(t *testing.T) {
	var items []Item
	for _, at := range year() {
		items = append(items, Item{Name: name(at), Time: at})
	}
	plan, err := Apply(Policy{Last: 2, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 3}, items)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]Reason{
		"20251231T130000Z": {Last, Daily, Weekly, Monthly, Yearly, Newest},
		"20251231T023000Z": {Last},
		"20251228T023000Z": {Daily, Weekly},
		"20250630T233000Z": {Monthly},
		"20241231T023000Z": {Yearly},
		"20241228T023000Z": {"oldest yearly"},
		"20251225T023000Z": nil, // not an archive: a gap
		"20251222T023000Z": nil,
	}
	seen := 0
	for _, d := range plan {
		s := strings.TrimSuffix(strings.TrimPrefix(d.Name, "redmine-"), ".tar.zst")
		r, ok := want[s]
		if !ok {
			continue
		}
		seen++
		if !slices.Equal(d.Reasons, r) || d.Keep != (len(r) > 0) {
			t.Errorf("%s: keep %v %v, want %v", s, d.Keep, d.Reasons, r)
		}
	}
	if seen != len(want)-1 {
		t.Errorf("found %d of the archives checked, want %d", seen, len(want)-1)
	}
	if got := len(kept(plan)) + len(plan.Remove()); got != len(items) {
		t.Errorf("the plan decides on %d archives, want %d", got, len(items))
	}
}

// TestOldest: a rule whose count is not used up keeps the oldest archive too,
// even when a newer one of the same period is kept already (restic 0.17).
func TestOldest(t *testing.T) {
	at := func(s string) time.Time { t, _ := time.Parse(stamp, s); return t }
	items := []Item{
		{Name: "a", Time: at("20250101T080000Z")},
		{Name: "b", Time: at("20250101T200000Z")},
		{Name: "c", Time: at("20250102T080000Z")},
	}
	plan, err := Apply(Policy{Daily: 7}, items)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range plan {
		got = append(got, d.String())
	}
	want := []string{"keep   c  (daily, newest)", "keep   b  (daily)", "keep   a  (oldest daily)"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// With the count used up, the oldest goes.
	plan, _ = Apply(Policy{Daily: 2}, items)
	if got := plan.Remove(); len(got) != 1 || got[0].Name != "a" {
		t.Errorf("daily 2 removes %v, want a", got)
	}
}

// TestBucketsAreUTC: an archive taken at 23:30 UTC on 30 June counts for June,
// whatever the zone its time comes in: its name says 20250630.
func TestBucketsAreUTC(t *testing.T) {
	cest := time.FixedZone("CEST", 2*3600)
	items := []Item{
		{Name: "june-early", Time: time.Date(2025, 6, 30, 2, 30, 0, 0, time.UTC)},
		{Name: "june-late", Time: time.Date(2025, 7, 1, 1, 30, 0, 0, cest)}, // 2025-06-30T23:30Z
		{Name: "july", Time: time.Date(2025, 7, 1, 2, 30, 0, 0, time.UTC)},
	}
	plan, err := Apply(Policy{Monthly: 2}, items)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range kept(plan) {
		names = append(names, it.Name)
	}
	if want := []string{"july", "june-late"}; !slices.Equal(names, want) {
		t.Errorf("monthly 2 keeps %v, want %v", names, want)
	}
}

// TestNeverRemoved: the three guarantees hold against a policy that would
// remove each archive they protect.
func TestNeverRemoved(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2025, 3, d, 2, 30, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name  string
		items []Item
		keep  map[string][]Reason // the rest go
	}{
		{
			name: "the newest archive, while a newer one is being written",
			items: []Item{
				{Name: "1", Time: day(1)}, {Name: "2", Time: day(2)}, {Name: "3", Time: day(3), Writing: true},
			},
			keep: map[string][]Reason{"3": {BeingWritten}, "2": {Last, Newest}},
		},
		{
			name: "an archive being written, older than the ones the policy keeps",
			items: []Item{
				{Name: "1", Time: day(1)}, {Name: "2", Time: day(2), Writing: true}, {Name: "3", Time: day(3)}, {Name: "4", Time: day(4)},
			},
			keep: map[string][]Reason{"2": {BeingWritten}, "4": {Last, Newest}},
		},
		{
			name: "the newest archive whose restore test passed; an older tested one goes",
			items: []Item{
				{Name: "1", Time: day(1), RestoreTested: true}, {Name: "2", Time: day(2), RestoreTested: true},
				{Name: "3", Time: day(3)}, {Name: "4", Time: day(4)},
			},
			keep: map[string][]Reason{"2": {NewestTested}, "4": {Last, Newest}},
		},
		{
			name: "a tested archive being written is not the newest tested",
			items: []Item{
				{Name: "1", Time: day(1), RestoreTested: true}, {Name: "2", Time: day(2)},
				{Name: "3", Time: day(3), RestoreTested: true, Writing: true},
			},
			keep: map[string][]Reason{"1": {NewestTested}, "2": {Last, Newest}, "3": {BeingWritten}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Apply(Policy{Last: 1}, tc.items)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan) != len(tc.items) {
				t.Fatalf("the plan decides on %d items, want %d", len(plan), len(tc.items))
			}
			for _, d := range plan {
				if want := tc.keep[d.Name]; d.Keep != (want != nil) || !slices.Equal(d.Reasons, want) {
					t.Errorf("%s: keep %v %v, want %v", d.Name, d.Keep, d.Reasons, want)
				}
			}
		})
	}
}

func TestEmptyPolicyKeepsEverything(t *testing.T) {
	var items []Item
	for _, at := range year() {
		items = append(items, Item{Name: name(at), Time: at})
	}
	plan, err := Apply(Policy{}, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Remove()) != 0 || len(kept(plan)) != len(items) {
		t.Fatalf("the empty policy removes %d of %d", len(plan.Remove()), len(items))
	}
	if r := plan[len(plan)-1].Reasons; !slices.Equal(r, []Reason{EmptyPolicy}) {
		t.Errorf("the oldest is kept for %v, want [%s]", r, EmptyPolicy)
	}
	if plan, _ := Apply(Policy{Daily: 3}, nil); len(plan) != 0 {
		t.Errorf("no items: plan %v", plan)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		policy Policy
		bad    string // "" when valid
	}{
		{Policy{}, ""},
		{Policy{Last: 1, Daily: 7, Weekly: 4, Monthly: 12, Yearly: 10}, ""},
		{Policy{Daily: -1}, "keep-daily -1"},
		{Policy{Last: -2, Yearly: -1, Monthly: 3}, "keep-last -2, keep-yearly -1"},
	} {
		err := tc.policy.Validate()
		if tc.bad == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.policy, err)
			}
			continue
		}
		if !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), tc.bad) {
			t.Errorf("%+v: %v, want invalid input naming %q", tc.policy, err, tc.bad)
		}
		if _, err := Apply(tc.policy, nil); !errors.Is(err, errs.ErrInvalidInput) {
			t.Errorf("Apply with %+v: %v, want invalid input", tc.policy, err)
		}
	}
}

func TestPolicyString(t *testing.T) {
	for p, want := range map[Policy]string{
		{}:                               "keep everything",
		{Last: 3}:                        "keep the last 3",
		{Daily: 7, Weekly: 4, Yearly: 1}: "keep 7 daily, 4 weekly, 1 yearly",
		{Last: 1, Monthly: 12}:           "keep the last 1, 12 monthly",
	} {
		if got := p.String(); got != want {
			t.Errorf("%+v: %q, want %q", p, got, want)
		}
	}
}

// kept is the items p keeps, newest first.
func kept(p Plan) []Item { return p.items(true) }
