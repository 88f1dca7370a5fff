package validate

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/settings"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/swarm"
)

// update reports -update: rewrite golden files. A test helper linked in through
// the Compose SDK may define the flag already; share it.
var update = func() func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
	return func() bool { return flag.Lookup("update").Value.String() == "true" }
}()

// want reads the findings a fixture directory expects from its "# want: RULE"
// comments: at the end of a line for that line, alone on a line for the next
// line that is no comment (a Dockerfile has no end-of-line comments).
func want(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var pending []string
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if rules, ok := strings.CutPrefix(line, "# want: "); ok {
				pending = append(pending, strings.Split(rules, ", ")...)
				continue
			}
			if strings.HasPrefix(line, "#") {
				continue
			}
			if _, rules, ok := strings.Cut(line, "# want: "); ok {
				pending = append(pending, strings.Split(rules, ", ")...)
			}
			for _, r := range pending {
				out = append(out, fmt.Sprintf("%s:%d %s", filepath.Base(f), n, r))
			}
			pending = nil
		}
	}
	slices.Sort(out)
	return out
}

func got(r Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, fmt.Sprintf("%s:%d %s", filepath.Base(f.File), f.Line, f.Rule))
	}
	slices.Sort(out)
	return out
}

// fixture is the file a rule's fixture directory holds: a settings file for
// the settings rules, a compose file for the others.
func fixture(dir string) string {
	if _, err := os.Stat(filepath.Join(dir, settings.FileName)); err == nil {
		return filepath.Join(dir, settings.FileName)
	}
	return filepath.Join(dir, "compose.yaml")
}

// checkFixture validates a fixture directory as stackctl validate would its file.
func checkFixture(dir string) (Report, error) {
	f := fixture(dir)
	if filepath.Base(f) == settings.FileName {
		return Settings(f)
	}
	return Files(context.Background(), []string{f})
}

// TestRules runs every rule's fixtures: testdata/rules/<rule>/pass must give no
// finding at all, testdata/rules/<rule>/fail exactly the findings its comments
// name, each at its file and line.
func TestRules(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/rules/*/*")
	if len(dirs) == 0 {
		t.Fatal("no fixtures")
	}
	for _, dir := range dirs {
		t.Run(strings.TrimPrefix(dir, "testdata/rules/"), func(t *testing.T) {
			r, err := checkFixture(dir)
			if err != nil {
				t.Fatal(err)
			}
			w, g := want(t, dir), got(r)
			if filepath.Base(dir) == "fail" && len(w) == 0 {
				t.Fatal("a fail fixture names no finding")
			}
			if !slices.Equal(w, g) {
				var text strings.Builder
				_ = r.WriteText(&text, "")
				t.Errorf("findings\n got  %q\n want %q\n%s", g, w, text.String())
			}
			for _, f := range r.Findings {
				if f.Message == "" || f.Fix == "" || f.Severity == "" {
					t.Errorf("finding without message, fix or severity: %+v", f)
				}
			}
		})
	}
}

// TestEveryRuleHasFixtures: a rule without a breaking and a passing file is untested.
func TestEveryRuleHasFixtures(t *testing.T) {
	for _, r := range Rules {
		for _, kind := range []string{"pass", "fail"} {
			dir := filepath.Join("testdata", "rules", r.ID, kind)
			if _, err := os.Stat(fixture(dir)); err != nil {
				t.Errorf("rule %s has no %s fixture: %v", r.ID, kind, err)
				continue
			}
			if kind == "fail" && !slices.ContainsFunc(want(t, dir), func(w string) bool { return strings.HasSuffix(w, " "+r.ID) }) {
				t.Errorf("%s names no %s finding", dir, r.ID)
			}
		}
	}
}

// TestSwarmFilesValidateClean: the committed Swarm stack files pass every
// rule, loaded as 'stackctl validate -f' loads them, with the variables
// stackctl sets at deploy unset.
func TestSwarmFilesValidateClean(t *testing.T) {
	for _, name := range catalog.StackNames() {
		st, _ := catalog.LookupStack(name)
		if !swarm.Supports(st) {
			continue
		}
		f := filepath.Join("..", "..", "stacks", name, swarm.FileName)
		if !isSwarmFile(mustRead(t, f)) {
			t.Errorf("%s is not recognised as a Swarm stack file", f)
		}
		r, err := Files(context.Background(), []string{f})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Findings) > 0 {
			var text strings.Builder
			_ = r.WriteText(&text, "")
			t.Errorf("stackctl validate finds problems in %s:\n%s", f, text.String())
		}
	}
}

func mustRead(t *testing.T, f string) []byte {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStacksValidateClean: stackctl's own stacks pass every rule, as stackctl
// loads them, under both base profiles.
func TestStacksValidateClean(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	var sts []catalog.Stack
	for _, name := range catalog.StackNames() {
		st, _ := catalog.LookupStack(name)
		sts = append(sts, st)
	}
	r, err := Stacks(context.Background(), stack.BuildDir(root), sts, []catalog.Profile{catalog.ProfileUpstream, catalog.ProfileDebian})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) > 0 {
		var text strings.Builder
		_ = r.WriteText(&text, string(root))
		t.Fatalf("stackctl validate finds problems in our stacks:\n%s", text.String())
	}
}

func TestUnreadable(t *testing.T) {
	_, err := Files(context.Background(), []string{filepath.Join(t.TempDir(), "missing.yaml")})
	if !errors.Is(err, ErrUnreadable) {
		t.Fatalf("error = %v, want ErrUnreadable", err)
	}
}

// TestReportGolden pins both output formats on a fixture with an error and a
// warning: testdata/report.golden.{txt,json}, refreshed with -update.
func TestReportGolden(t *testing.T) {
	dir := filepath.Join("testdata", "rules", "PublishedPorts", "fail")
	r, err := Files(context.Background(), []string{filepath.Join(dir, "compose.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	var text, js strings.Builder
	if err := r.WriteText(&text, abs); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js, abs); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]string{"report.golden.txt": text.String(), "report.golden.json": js.String()} {
		golden := filepath.Join("testdata", name)
		if update() {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (create it with go test ./internal/validate -update)", err)
		}
		if got != string(want) {
			t.Errorf("output differs from %s (refresh with -update if intended):\n%s", golden, got)
		}
	}
	if !errors.Is(r.Err(), ErrFindings) || !strings.Contains(r.Err().Error(), "1 error, 2 warnings") {
		t.Errorf("Err() = %v, want ErrFindings counting 1 error, 2 warnings", r.Err())
	}
}

// TestRulesDocumented keeps the generated rule table the same as --list-rules
// (cmd/stackctl's TestReferenceUpToDate keeps the page as generated).
func TestRulesDocumented(t *testing.T) {
	page, err := os.ReadFile("../../docs/reference/validate-rules.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules {
		row := fmt.Sprintf("| `%s` | %s | %s | %s |", r.ID, r.Kind, r.Severity, r.Doc)
		if !strings.Contains(string(page), row) {
			t.Errorf("docs/reference/validate-rules.md lacks the row %q: run 'go run ./cmd/stackctl reference'", row)
		}
	}
}

// TestStacksNameProfiles: a finding that shows under one base profile only says
// which; one that shows under both says nothing.
func TestStacksNameProfiles(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "stacks", "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	compose, err := os.ReadFile("testdata/rules/ReadOnlyRootfs/fail/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// the image is named after the profile, untagged: a different finding under each
	compose = []byte(strings.Replace(string(compose), "image: nginx:1.27-alpine", "image: ${STACKCTL_PROFILE}", 1))
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), compose, 0o644); err != nil {
		t.Fatal(err)
	}
	st, _ := catalog.LookupStack("nginx")
	r, err := Stacks(context.Background(), stack.BuildDir(root), []catalog.Stack{st}, []catalog.Profile{catalog.ProfileUpstream, catalog.ProfileDebian})
	if err != nil {
		t.Fatal(err)
	}
	var g []string
	for _, f := range r.Findings {
		g = append(g, fmt.Sprintf("%s %v", f.Rule, f.Profiles))
	}
	w := []string{"PinnedImage [debian]", "PinnedImage [upstream]", "ReadOnlyRootfs []"}
	if slices.Sort(g); !slices.Equal(g, w) {
		t.Fatalf("findings = %q, want %q", g, w)
	}
}

// TestSharedDockerfiles: services that build the same Dockerfile share one lint,
// but neither two inline Dockerfiles nor one service's opt-outs may hide another
// service's findings.
func TestSharedDockerfiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM nginx:1.27\nHEALTHCHECK CMD true\n")
	write("compose.yaml", `services:
  inline-pinned:
    build:
      context: .
      dockerfile_inline: |
        FROM nginx:1.27
        USER nginx
        HEALTHCHECK CMD true
  inline-unpinned:
    build:
      context: .
      dockerfile_inline: |
        FROM alpine
        USER nobody
        HEALTHCHECK CMD true
  file-opted-out:
    build: .
    x-stackctl-validate:
      ignore:
        DockerfileUser: "starts as root on purpose"
  file-same:
    build: .
`)
	r, err := Files(context.Background(), []string{filepath.Join(dir, "compose.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, f := range r.Findings {
		has[f.Service+" "+f.Rule] = true
	}
	for _, w := range []string{"inline-unpinned DockerfilePinnedBase", "file-same DockerfileUser"} {
		if !has[w] {
			t.Errorf("no %s finding; got %v", w, has)
		}
	}
	for _, nw := range []string{"inline-pinned DockerfilePinnedBase", "file-opted-out DockerfileUser"} {
		if has[nw] {
			t.Errorf("unexpected %s finding", nw)
		}
	}
}

// TestLoadErrorLines: a file that does not load is reported at the line its
// error is about, in the scanner's, go-yaml's and the schema's words, and even
// in a project folder whose name is also a compose key.
func TestLoadErrorLines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "configs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, text string
		line       int
	}{
		{"unterminated quote", "services:\n  web:\n    image: nginx:1.27\n    ports:\n      - \"80:80\n", 5},
		{"unknown key", "services:\n  web:\n    image: nginx:1.27\n    foo: bar\n", 4},
		{"duplicate key", "services:\n  web:\n    image: nginx:1.27\n  web:\n    image: x\n", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yaml")
			if err := os.WriteFile(file, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := Files(context.Background(), []string{file})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) != 1 || r.Findings[0].Rule != ruleLoad || r.Findings[0].Line != tc.line || r.Findings[0].File != file {
				t.Fatalf("findings = %+v, want one ComposeLoad at %s:%d", r.Findings, file, tc.line)
			}
		})
	}
}

// TestLoadErrorFiles: a load error about a service defined in an included or an
// override file is placed in that file, not in the first one given.
func TestLoadErrorFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	main := write("main.yaml", "include:\n  - inc.yaml\nservices:\n  web:\n    image: nginx:1.27\n")
	inc := write("inc.yaml", "services:\n  other:\n    image: nginx:1.27\n    depends_on: [ghost]\n")
	base := write("base.yaml", "services:\n  web:\n    image: nginx:1.27\n")
	over := write("over.yaml", "services:\n  web:\n    depends_on: [ghost]\n")
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"included", []string{main}, inc},
		{"override", []string{base, over}, over},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Files(context.Background(), tc.files)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Findings) != 1 || r.Findings[0].File != tc.want || r.Findings[0].Line != 2 {
				t.Fatalf("findings = %+v, want one at %s:2", r.Findings, tc.want)
			}
		})
	}
}
