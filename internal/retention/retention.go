package retention

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// Policy is how many archives each rule keeps; zero turns a rule off. Each
// rule keeps, independently, the newest archive of each of the last N periods
// that have archives (keep-last: the N newest archives), and an archive kept
// by any rule stays. An empty policy keeps everything.
//
// Periods are UTC days, ISO weeks (Monday to Sunday, numbered within the ISO
// year), UTC months and UTC years. restic counts in the clock of the machine
// that took the snapshot, which it records; an archive's name records only
// the UTC time it was taken, so UTC is the one zone every host reads the same,
// and the day an archive counts for is the date in its name.
type Policy struct {
	Last    int `json:"keep_last,omitempty"`
	Daily   int `json:"keep_daily,omitempty"`
	Weekly  int `json:"keep_weekly,omitempty"`
	Monthly int `json:"keep_monthly,omitempty"`
	Yearly  int `json:"keep_yearly,omitempty"`
}

// Item is one archive as the policy sees it.
type Item struct {
	// Name identifies the archive for the caller: a file name or an object key.
	Name string `json:"name"`
	// Time is when the archive was taken.
	Time time.Time `json:"time"`
	// Writing: the archive is still being written; it is not an archive yet,
	// so no rule counts it, and it is never removed.
	Writing bool `json:"writing,omitempty"`
	// RestoreTested: a restore test of the archive passed.
	RestoreTested bool `json:"restore_tested,omitempty"`
}

// Reason is why an archive is kept: a rule, or a guarantee.
type Reason string

// The rules' reasons. A rule that still had periods to fill when it reached
// the oldest archive keeps that one too, as restic does, with the rule's
// reason prefixed by "oldest " ("oldest daily"): the history kept is then as
// long as the archives allow.
const (
	Last    Reason = "last"
	Daily   Reason = "daily"
	Weekly  Reason = "weekly"
	Monthly Reason = "monthly"
	Yearly  Reason = "yearly"
)

// The guarantees' reasons, and the empty policy's.
const (
	// Newest: the newest archive that is not being written.
	Newest Reason = "newest"
	// BeingWritten: the archive is still being written.
	BeingWritten Reason = "being written"
	// NewestTested: the newest archive whose restore test passed.
	NewestTested Reason = "newest restore-tested"
	// EmptyPolicy: no rule is set, and an empty policy keeps everything.
	EmptyPolicy Reason = "empty policy"
)

// Decision is the policy's verdict on one item.
type Decision struct {
	Item
	Keep bool `json:"keep"`
	// Reasons are the rules and guarantees that keep the item; none when it goes.
	Reasons []Reason `json:"reasons,omitempty"`
}

// String is the decision as a --dry-run line: "keep   NAME  (daily, weekly)"
// or "remove NAME".
func (d Decision) String() string {
	if !d.Keep {
		return "remove " + d.Name
	}
	why := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		why[i] = string(r)
	}
	return fmt.Sprintf("keep   %s  (%s)", d.Name, strings.Join(why, ", "))
}

// Plan is the decisions on every item, newest first.
type Plan []Decision

// Remove is the items the plan removes, newest first.
func (p Plan) Remove() []Item { return p.items(false) }

func (p Plan) items(keep bool) []Item {
	var out []Item
	for _, d := range p {
		if d.Keep == keep {
			out = append(out, d.Item)
		}
	}
	return out
}

// rules are the policy's rules in restic's order, each with its period: two
// archives in the same period have the same key. keep-last's period is the
// archive itself.
func (p Policy) rules() []rule {
	return []rule{
		{Last, p.Last, func(_ time.Time, nr int) int { return nr }},
		{Daily, p.Daily, func(t time.Time, _ int) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }},
		{Weekly, p.Weekly, func(t time.Time, _ int) int { y, w := t.ISOWeek(); return y*100 + w }},
		{Monthly, p.Monthly, func(t time.Time, _ int) int { return t.Year()*100 + int(t.Month()) }},
		{Yearly, p.Yearly, func(t time.Time, _ int) int { return t.Year() }},
	}
}

type rule struct {
	reason Reason
	count  int
	period func(t time.Time, nr int) int
}

// Empty reports whether no rule is set.
func (p Policy) Empty() bool { return p == Policy{} }

// Validate refuses a negative count, naming every one.
func (p Policy) Validate() error {
	var bad []string
	for _, r := range p.rules() {
		if r.count < 0 {
			bad = append(bad, fmt.Sprintf("keep-%s %d", r.reason, r.count))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s: a retention count is a number of archives, 0 (rule off) or more", errs.ErrInvalidInput, strings.Join(bad, ", "))
	}
	return nil
}

// String says what the policy keeps: "keep the last 3, 7 daily, 4 weekly",
// or "keep everything".
func (p Policy) String() string {
	var parts []string
	for _, r := range p.rules() {
		switch {
		case r.count == 0:
		case r.reason == Last:
			parts = append(parts, fmt.Sprintf("the last %d", r.count))
		default:
			parts = append(parts, fmt.Sprintf("%d %s", r.count, r.reason))
		}
	}
	if len(parts) == 0 {
		return "keep everything"
	}
	return "keep " + strings.Join(parts, ", ")
}

// Apply decides, for every item, whether p keeps it and why; the plan is
// newest first. Items being written take no part in the rules. Whatever the
// rules say, the newest archive, every archive being written and the newest
// archive whose restore test passed are kept.
func Apply(p Policy, items []Item) (Plan, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	plan := make(Plan, len(items))
	for i, it := range items {
		plan[i] = Decision{Item: it}
	}
	// Newest first, as the rules walk them; names break ties so that the plan
	// does not depend on the order items came in.
	slices.SortStableFunc(plan, func(a, b Decision) int {
		return cmp.Or(b.Time.Compare(a.Time), strings.Compare(b.Name, a.Name))
	})
	var done []*Decision // the archives, newest first: what the rules count
	for i := range plan {
		if !plan[i].Writing {
			done = append(done, &plan[i])
		}
	}
	if p.Empty() {
		for _, d := range done {
			d.keep(EmptyPolicy)
		}
	}
	applyRules(p, done)
	guarantee(plan, done)
	return plan, nil
}

// applyRules is restic's ApplyPolicy for counted rules: walking newest first,
// a rule keeps an archive whose period differs from the last one it kept, while
// its count lasts, and the oldest archive when its count is not used up.
func applyRules(p Policy, done []*Decision) {
	rules := p.rules()
	last := make([]int, len(rules))
	for i := range last {
		last[i] = -1
	}
	for nr, d := range done {
		t := d.Time.UTC()
		oldest := nr == len(done)-1
		for i := range rules {
			r := &rules[i]
			if r.count <= 0 {
				continue
			}
			key := r.period(t, nr)
			if key == last[i] && !oldest {
				continue
			}
			reason := r.reason
			if key == last[i] {
				reason = "oldest " + reason
			}
			d.keep(reason)
			last[i] = key
			r.count--
		}
	}
}

// guarantee keeps what no policy may remove.
func guarantee(plan Plan, done []*Decision) {
	for i := range plan {
		if plan[i].Writing {
			plan[i].keep(BeingWritten)
		}
	}
	if len(done) > 0 {
		done[0].keep(Newest)
	}
	for _, d := range done {
		if d.RestoreTested {
			d.keep(NewestTested)
			break
		}
	}
}

func (d *Decision) keep(r Reason) {
	d.Keep = true
	d.Reasons = append(d.Reasons, r)
}
