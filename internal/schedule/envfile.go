package schedule

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/state"
)

// envName is a variable name an environment file may set.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// plainValue needs no quotes in an environment file.
var plainValue = regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_~?&#*!^\[\]{}-]*$`)

// ReadEnvFile reads a file of KEY=VALUE lines, in the subset of systemd's
// EnvironmentFile= syntax that both it and 'schedule run' read alike: blank
// lines and lines starting with # or ; are skipped, and a value may be
// wrapped in single or double quotes. The file holds credentials, so it must
// be private: a regular file of yours with mode 0600 or stricter.
func ReadEnvFile(path string) ([]string, error) {
	content, err := state.ReadSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the environment file %s: %w", path, err)
	}
	var env []string
	for i, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || !envName.MatchString(k) {
			return nil, fmt.Errorf("%w: %s:%d: want KEY=VALUE", errs.ErrInvalidInput, path, i+1)
		}
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env = append(env, k+"="+v)
	}
	return env, nil
}

// writeEnv writes KEY=VALUE lines that ReadEnvFile and systemd read back
// unchanged: a value beyond plainValue is single-quoted, which neither
// expands; one holding a single quote cannot be written so.
func writeEnv(w io.Writer, vars [][2]string) error {
	for _, kv := range vars {
		k, v := kv[0], kv[1]
		if !plainValue.MatchString(v) {
			if strings.ContainsAny(v, "'\n\r") {
				return fmt.Errorf("%w: the value of %s holds a quote or a line break: percent-encode it", errs.ErrInvalidInput, k)
			}
			v = "'" + v + "'"
		}
		if _, err := fmt.Fprintf(w, "%s=%s\n", k, v); err != nil {
			return err
		}
	}
	return nil
}
