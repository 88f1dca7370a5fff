package swarm

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/docker/cli/cli/compose/loader"
	composetypes "github.com/docker/cli/cli/compose/types"

	"github.com/stackctl/stackctl/internal/errs"
)

// FileName is the name of a stack's Swarm stack file, beside its compose.yaml.
const FileName = "swarm.yaml"

// Load loads a Swarm stack file as 'docker stack deploy' does, with
// docker/cli's compose loader: checked against the file's 3.x schema and
// interpolated with env alone (no .env, nothing of stackctl's own
// environment). A key Swarm would ignore is refused: what the file says
// is what runs.
func Load(file []byte, env map[string]string) (*composetypes.Config, error) {
	dict, err := loader.ParseYAML(file)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errs.ErrInvalidInput, FileName, err)
	}
	if ignored := loader.GetUnsupportedProperties(dict); len(ignored) > 0 {
		return nil, fmt.Errorf("%w: %s: Swarm ignores %s: remove them from the model's Swarm form", errs.ErrInvalidInput, FileName, strings.Join(ignored, ", "))
	}
	if old := loader.GetDeprecatedProperties(dict); len(old) > 0 {
		return nil, fmt.Errorf("%w: %s: Swarm ignores %s", errs.ErrInvalidInput, FileName, strings.Join(slices.Sorted(maps.Keys(old)), ", "))
	}
	cfg, err := loader.Load(composetypes.ConfigDetails{
		WorkingDir:  ".",
		ConfigFiles: []composetypes.ConfigFile{{Filename: FileName, Config: dict}},
		Environment: env,
	})
	var forbidden *loader.ForbiddenPropertiesError
	if errors.As(err, &forbidden) {
		var why []string
		for _, k := range slices.Sorted(maps.Keys(forbidden.Properties)) {
			why = append(why, k+" ("+forbidden.Properties[k]+")")
		}
		return nil, fmt.Errorf("%w: %s: Swarm refuses %s", errs.ErrInvalidInput, FileName, strings.Join(why, "; "))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", errs.ErrInvalidInput, FileName, err)
	}
	return cfg, nil
}
