package stack

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// TestTrial: a restore test fills a throwaway generation, starts it, and as
// its administrator (with the key psql gave it) reads the newest issue and
// downloads the newest attachment against its recorded size and digest; it
// names the step that failed, and removes the generation whatever happened,
// the serving one untouched.
func TestTrial(t *testing.T) {
	st := mustRedmine()
	sum := sha256.Sum256([]byte("hello"))
	digest := hex.EncodeToString(sum[:])
	md := md5.Sum([]byte("hello"))
	ok := map[string]string{
		"/users/current.json":                           httpAnswer(200, "OK", `{"user":{"login":"admin"}}`),
		"/issues.json?sort=id:desc&limit=1&status_id=*": httpAnswer(200, "OK", `{"issues":[{"id":7}],"total_count":12}`),
		"/issues/7.json?include=attachments,journals":   httpAnswer(200, "OK", `{"issue":{"subject":"Printer on fire"}}`),
		"/attachments/download/3":                       httpAnswer(200, "OK", "hello"),
	}
	with := func(path, resp string) map[string]string {
		m := map[string]string{}
		for k, v := range ok {
			m[k] = v
		}
		m[path] = resp
		return m
	}
	passed := []string{StepRestore, StepStart, "log in: as admin", "read the newest issue: #7 of 12", "read the newest attachment: #3, 5 bytes, digest checked"}
	for _, tc := range []struct {
		name                    string
		fail                    string
		http                    map[string]string
		tokenOut, attachmentOut string
		// step is the step it fails at ("": none), says what the error says.
		step, says string
		steps      []string
		// made: the generation was made (and is removed).
		made bool
	}{
		{name: "passes", http: ok, made: true, steps: passed},
		{name: "an older digest", http: ok, attachmentOut: "3 5 " + hex.EncodeToString(md[:]) + "\n", made: true, steps: passed},
		{name: "no digest recorded", http: ok, attachmentOut: "3 5\n", made: true, steps: passed},
		{name: "empty data", made: true, http: with("/issues.json?sort=id:desc&limit=1&status_id=*", httpAnswer(200, "OK", `{"issues":[],"total_count":0}`)),
			attachmentOut: "\n",
			steps:         []string{StepRestore, StepStart, "log in: as admin", "read the newest issue: none in the data", "read the newest attachment: none in the data"}},
		{name: "refused by the seed", fail: "seed check", step: StepRestore, says: "fails on purpose"},
		{name: "never healthy", fail: "start db-g2,redmine-g2", http: ok, made: true, step: StepStart},
		{name: "no administrator", http: ok, tokenOut: "\n", made: true, step: StepLogIn, says: "no active administrator"},
		{name: "routes broken", http: with("/users/current.json", httpAnswer(500, "Internal Server Error", "boom")), made: true,
			step: StepLogIn, says: "/users/current.json: HTTP 500: boom"},
		{name: "no user", http: with("/users/current.json", httpAnswer(200, "OK", `{}`)), made: true, step: StepLogIn, says: "names no user"},
		{name: "issue without subject", http: with("/issues/7.json?include=attachments,journals", httpAnswer(200, "OK", `{"issue":{}}`)),
			made: true, step: StepIssue, says: "issue #7 has no subject"},
		{name: "not JSON", http: with("/issues.json?sort=id:desc&limit=1&status_id=*", httpAnswer(200, "OK", "<html>")), made: true, step: StepIssue},
		{name: "file missing", http: with("/attachments/download/3", httpAnswer(404, "Not Found", "")), made: true,
			step: StepAttachment, says: "/attachments/download/3: HTTP 404"},
		{name: "file cut short", http: with("/attachments/download/3", httpAnswer(200, "OK", "hel")), made: true,
			step: StepAttachment, says: "3 bytes served, its record says 5"},
		{name: "file changed", http: with("/attachments/download/3", httpAnswer(200, "OK", "world")), made: true,
			step: StepAttachment, says: "is not the recorded " + digest},
		{name: "record unreadable", http: ok, attachmentOut: "3\n", made: true, step: StepAttachment, says: `record is "3"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeCompose{fail: tc.fail}
			e := newScripted()
			e.comment, e.upstream = configuredMark, st.Generations.Upstream(1, catalog.SlotA)
			e.volumes[genVolumes(1)[0]] = true
			e.http = tc.http
			e.tokenOut = cmpOr(tc.tokenOut, "1\nINSERT 0 1\n")
			e.attachmentOut = cmpOr(tc.attachmentOut, "3 5 "+digest+"\n")
			r := Runner{Stack: st, Compose: c, Engine: e, Build: repoRoot(t), State: state.Dir(t.TempDir())}
			rec := state.State{Profile: catalog.ProfileUpstream, Active: 1}
			rec.PutGen(state.Generation{N: 1, Made: state.MadeFirstStart, Ready: true})
			if err := r.State.Save(st.Name, rec); err != nil {
				t.Fatal(err)
			}
			res, err := r.Trial(t.Context(), seedRecorder{c: c}, "a.tar.zst", UpOptions{})
			var te *TrialError
			switch {
			case tc.step == "" && err != nil:
				t.Fatal(err)
			case tc.step != "" && (!errors.As(err, &te) || te.Step != tc.step || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("Trial: %v; want it failed at %q saying %q", err, tc.step, tc.says)
			}
			if te != nil && !strings.HasPrefix(err.Error(), `the restore test failed at "`+tc.step+`"`) {
				t.Errorf("error %q does not name the step first", err)
			}
			// A failure keeps the steps that passed before it.
			want := tc.steps
			if i := slices.Index([]string{StepRestore, StepStart, StepLogIn, StepIssue, StepAttachment}, tc.step); i > 0 {
				want = passed[:i]
			}
			if !slices.Equal(res.Steps, want) {
				t.Errorf("steps %q\nwant  %q", res.Steps, want)
			}
			// Whatever happened: the throwaway generation is gone, the serving one untouched.
			got, _ := r.State.Load(st.Name)
			if _, kept := got.Gen(2); kept || got.Active != 1 {
				t.Errorf("after the test: active %d, generations %+v", got.Active, got.Generations)
			}
			var gone []string
			if tc.made {
				gone = genVolumes(2)
			}
			if !slices.Equal(e.removed, gone) {
				t.Errorf("volumes removed %q, want %q", e.removed, gone)
			}
			if e.upstream != st.Generations.Upstream(1, catalog.SlotA) || slices.ContainsFunc(c.calls, func(call string) bool {
				return strings.HasPrefix(call, "remove") && call != "remove db-g2,redmine-g2"
			}) {
				t.Errorf("the serving generation was touched: front %q, calls %q", e.upstream, c.calls)
			}
		})
	}
	nginx, _ := catalog.LookupStack("nginx")
	r := Runner{Stack: nginx, Compose: &fakeCompose{}, Engine: newScripted(), Build: repoRoot(t), State: state.Dir(t.TempDir())}
	_, err := r.Trial(t.Context(), nil, "", UpOptions{})
	var te *TrialError
	if !errors.Is(err, errs.ErrInvalidInput) || errors.As(err, &te) {
		t.Errorf("a restore test of nginx: %v, want invalid input before any step", err)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
