package validate

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// fuzzEnv lets the generated stack files, seeds of the corpus, interpolate.
var fuzzEnv = map[string]string{
	"STACKCTL_PROFILE": "debian", "STACKCTL_NGINX_BASE": "stackctl/base-nginx:trixie",
	"STACKCTL_REDMINE_BASE": "stackctl/base-redmine:trixie", "STACKCTL_POSTGRES_BASE": "stackctl/base-postgres:trixie",
	"STACKCTL_SECRET_DB_PASSWORD": "x", "STACKCTL_SECRET_SECRET_KEY_BASE": "x",
}

// FuzzValidate feeds arbitrary bytes to the loader and every rule, as one
// compose file: whatever the input, validation reports and never panics.
func FuzzValidate(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/rules/*/*/compose.yaml")
	seeds = append(seeds, "../../stacks/redmine/compose.yaml", "../../stacks/nginx/compose.yaml")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("services: {a: {image: x, <<: *b}}"))
	f.Add([]byte("x: &a [*a]"))
	dir := f.TempDir()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, content []byte) {
		files := []composeFile{{file: filepath.Join(dir, "compose.yaml"), content: content}}
		var sw *swarmRun
		if isSwarmFile(content) {
			sw = &swarmRun{content: content, dotEnvFile: ".env", dotEnv: map[string]string{"STACKCTL_PROFILE": "debian"}}
		}
		findings := check(ctx, files, sw, func() (*types.Project, error) { return loadComposeFiles(ctx, files, dir, fuzzEnv) })
		// YAML breaks lines at \r too: count every break, as an upper bound
		lines := bytes.Count(content, []byte("\n")) + bytes.Count(content, []byte("\r")) + 1
		for _, fd := range findings {
			if fd.Rule == "" || fd.Message == "" {
				t.Fatalf("finding without rule or message: %+v", fd)
			}
			if fd.File == files[0].file && (fd.Line < 0 || fd.Line > lines) {
				t.Fatalf("finding at line %d of a %d-line file: %+v", fd.Line, lines, fd)
			}
		}
	})
}

// FuzzDockerfile feeds arbitrary bytes to BuildKit's linter and stackctl's
// Dockerfile rules: no panic.
func FuzzDockerfile(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/rules/*/*/Dockerfile")
	seeds = append(seeds, "../../stacks/redmine/Dockerfile", "../../stacks/nginx/Dockerfile")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "alpine:3.22")
	}
	// A check directive below the first line once crashed buildkit's parser (nil linter).
	f.Add([]byte("FROM alpine:3.22\n# check=skip=DockerfileUser\nRUN true\n"), "alpine:3.22")
	f.Fuzz(func(t *testing.T, content []byte, base string) {
		findings, _ := dockerfileCheck(context.Background(), "Dockerfile", content, map[string]string{"BASE": base}, "", "app")
		for _, fd := range findings {
			if fd.Rule == "" {
				t.Fatalf("finding without rule: %+v", fd)
			}
		}
	})
}
