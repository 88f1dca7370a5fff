package catalog

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stackctl/stackctl/internal/errs"
)

// checkout is this repository, where the generated files and Dockerfiles are.
const checkout = "../.."

// update reports -update: rewrite golden files and generated compose files. A test
// helper linked in through the Compose SDK may define the flag already; share it.
var update = func() func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files and generated compose files")
	}
	return func() bool { return flag.Lookup("update").Value.String() == "true" }
}()

// TestComposeFilesUpToDate is the drift check: every committed compose file is
// exactly what its typed model generates.
func TestComposeFilesUpToDate(t *testing.T) {
	for _, name := range StackNames() {
		t.Run(name, func(t *testing.T) {
			st, _ := LookupStack(name)
			want, err := Generate(st)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(checkout, "stacks", st.Name, "compose.yaml")
			if update() {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			have, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(have) != string(want) {
				t.Fatalf("%s differs from its model: run 'go run ./cmd/stackctl generate' (or go test ./internal/catalog -update)", path)
			}
		})
	}
}

// TestDockerfilesHonourProfiles checks, statically, what the upstream path cannot
// be run here to prove: every built service's Dockerfile has a single FROM taken
// from a build arg (the classic builder runs every stage, so a second FROM would
// need a pull on the debian path), the compose model feeds that arg from a base's
// variable, and the ARG's default is that base's pinned upstream image.
func TestDockerfilesHonourProfiles(t *testing.T) {
	for _, name := range StackNames() {
		st, _ := LookupStack(name)
		// The Dockerfile's default is the default release's base.
		byVar := map[string]Base{}
		for _, b := range st.Bases() {
			byVar[b.Var] = b
		}
		for _, svc := range st.Model().Services {
			if svc.Build == nil {
				continue
			}
			t.Run(name+"/"+svc.Name, func(t *testing.T) {
				path := filepath.Join(checkout, "stacks", st.Name, filepath.FromSlash(svc.Build.Context), cmp.Or(svc.Build.Dockerfile, "Dockerfile"))
				args, froms := dockerfileArgsAndFroms(t, path)
				if len(froms) != 1 {
					t.Fatalf("%s: FROM lines = %v, want exactly one", path, froms)
				}
				arg := strings.TrimSuffix(strings.TrimPrefix(froms[0], "${"), "}")
				value := svc.Build.Args[arg]
				if value == nil {
					t.Fatalf("%s builds FROM ${%s} but the compose model does not set that build arg", path, arg)
				}
				v, _, _ := strings.Cut(strings.TrimPrefix(*value, "${"), ":?")
				b, ok := byVar[v]
				if !ok {
					t.Fatalf("build arg %s = %q names no base variable", arg, *value)
				}
				if args[arg] != b.Upstream {
					t.Errorf("%s: ARG %s defaults to %q, want the pinned upstream %q", path, arg, args[arg], b.Upstream)
				}
			})
		}
		for _, rel := range Releases() {
			for _, b := range st.BasesFor(rel) {
				if !strings.Contains(b.Upstream, ":") || strings.HasSuffix(b.Upstream, ":latest") {
					t.Errorf("upstream base %q is not pinned to a tag", b.Upstream)
				}
			}
		}
	}
}

func dockerfileArgsAndFroms(t *testing.T, path string) (map[string]string, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args := map[string]string{}
	var froms []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ARG":
			k, v, _ := strings.Cut(fields[1], "=")
			args[k] = v
		case "FROM":
			froms = append(froms, fields[1])
		}
	}
	return args, froms
}

func TestEnvListen(t *testing.T) {
	st, _ := LookupStack("nginx")
	for _, tc := range []struct {
		listen, host, port string
		wantErr            bool
	}{
		{"", "127.0.0.1", "8080", false},
		{"0.0.0.0:80", "0.0.0.0", "80", false},
		{":8081", "0.0.0.0", "8081", false},
		{"[::1]:9000", "::1", "9000", false},
		{"8080", "", "", true},
		{"127.0.0.1:http", "", "", true},
		{"127.0.0.1:70000", "", "", true},
	} {
		t.Run(tc.listen, func(t *testing.T) {
			env, err := st.Env(Settings{Profile: ProfileDebian, Listen: tc.listen})
			if tc.wantErr {
				if !errors.Is(err, errs.ErrInvalidInput) {
					t.Fatalf("error = %v, want errs.ErrInvalidInput", err)
				}
				return
			}
			if err != nil || env[varHTTPAddr] != tc.host || env[varHTTPPort] != tc.port {
				t.Fatalf("env = %v, %v; want host %s port %s", env, err, tc.host, tc.port)
			}
		})
	}
}

func TestEntryURL(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/",
		"0.0.0.0:80":     "http://localhost:80/",
		"[::1]:9000":     "http://[::1]:9000/",
	} {
		if got, err := EntryURL(listen); err != nil || got != want {
			t.Errorf("EntryURL(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
}

func TestLookup(t *testing.T) {
	if _, err := LookupStack("wordpress"); !errors.Is(err, errs.ErrInvalidInput) || !strings.Contains(err.Error(), "nginx") {
		t.Errorf("LookupStack(wordpress) error = %v, want errs.ErrInvalidInput listing the known stacks", err)
	}
	if _, err := LookupBase("mysql"); !errors.Is(err, errs.ErrInvalidInput) {
		t.Errorf("LookupBase(mysql) error = %v, want errs.ErrInvalidInput", err)
	}
}

// TestDocsNameVolumes keeps the volume table in docs/redmine-stack.md in step with the model.
func TestDocsNameVolumes(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(checkout, "docs", "redmine-stack.md"))
	if err != nil {
		t.Fatal(err)
	}
	model := redmineModel()
	for name := range model.Volumes {
		want := "| `" + name + "` | " + RedmineVolumes[name] + " |"
		if RedmineVolumes[name] == "" || !strings.Contains(string(readme), want) {
			t.Errorf("docs/redmine-stack.md lacks the row %q for volume %s", want, name)
		}
	}
	if len(model.Volumes) != len(RedmineVolumes) {
		t.Errorf("RedmineVolumes describes %d volumes, the model has %d", len(RedmineVolumes), len(model.Volumes))
	}
}

// TestFirstStartHasDatabase: the runner records a first start in the stack's
// database, so a stack with one must have one.
func TestFirstStartHasDatabase(t *testing.T) {
	for _, name := range StackNames() {
		st, _ := LookupStack(name)
		if st.FirstStart != nil && st.Database == nil {
			t.Errorf("stack %s has a first start but no database to record it in", name)
		}
	}
}
