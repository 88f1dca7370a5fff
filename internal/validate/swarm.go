package validate

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A Swarm stack file is recognised by what it says of itself: the v3 format
// ('version: "3.x"', which Compose Spec files no longer carry) together
// with deploy: on a service, which only Swarm honours in full. No flag to
// forget: the file that 'docker stack deploy' reads is checked as Swarm
// reads it, and a compose file without both is checked as before.

// swarmRun is what validate knows of a Swarm stack file beyond its project.
type swarmRun struct {
	content []byte
	// dotEnvFile is the .env beside the file ("" for none), which 'docker
	// stack deploy' does not read, and dotEnv the variables it sets.
	dotEnvFile string
	dotEnv     map[string]string
}

// isSwarmFile says whether content is a Swarm stack file (see above).
func isSwarmFile(content []byte) bool {
	var doc struct {
		Version  string                    `yaml:"version"`
		Services map[string]map[string]any `yaml:"services"`
	}
	if yaml.Unmarshal(content, &doc) != nil || !strings.HasPrefix(doc.Version, "3") {
		return false
	}
	for _, svc := range doc.Services {
		if _, ok := svc["deploy"]; ok {
			return true
		}
	}
	return false
}

// requiredVar finds ${NAME:?why} and ${NAME?why}: variables the file demands
// of whoever deploys it, and fails loudly without.
var requiredVar = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*):?\?`)

// swarmPlaceholder stands in for a required variable that is unset where
// validate runs: the deployer sets it ('stackctl up --on swarm' sets its
// own), and validate checks the file, not one deployment of it. A pinned
// reference of no known family, so that an image variable passes as the
// digest it will be.
const swarmPlaceholder = "placeholder.invalid/stackctl-validate@sha256:0000000000000000000000000000000000000000000000000000000000000000"

// placeholders gives every required variable of content that env lacks
// the placeholder.
func placeholders(content []byte, env map[string]string) {
	for _, m := range requiredVar.FindAllSubmatch(content, -1) {
		if _, ok := env[string(m[1])]; !ok {
			env[string(m[1])] = swarmPlaceholder
		}
	}
}

// versionLine is a file's top-level version key.
var versionLine = regexp.MustCompile(`(?m)^version:.*$`)

// withoutVersion is files with their version key blanked, lines kept: for
// compose-go, which warns that the key is obsolete, while 'docker stack
// deploy' reads the format from it.
func withoutVersion(files []composeFile) []composeFile {
	out := slices.Clone(files)
	for i := range out {
		out[i].content = versionLine.ReplaceAll(out[i].content, nil)
	}
	return out
}

// usedVar finds an interpolation and the variable it names: $NAME or ${NAME...}.
var usedVar = regexp.MustCompile(`\$\$|\$\{?([A-Za-z_][A-Za-z0-9_]*)`)

// checkSwarmFile applies the rules of a Swarm stack file to what is not one
// service's: variables that only a .env beside the file sets.
func (c *composeRun) checkSwarmFile() {
	if c.swarm.dotEnvFile == "" || len(c.indexes) == 0 {
		return
	}
	file := c.indexes[0].file
	sc := bufio.NewScanner(bytes.NewReader(c.swarm.content))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		seen := map[string]bool{}
		for _, m := range usedVar.FindAllStringSubmatch(line, -1) {
			name := m[1]
			if _, ok := c.swarm.dotEnv[name]; !ok || seen[name] {
				continue
			}
			seen[name] = true
			c.findings = append(c.findings, Finding{Rule: ruleSwarmEnvFile, Severity: Error, File: file, Line: n,
				Message: fmt.Sprintf("%s is set in %s, which 'docker stack deploy' does not read: on Swarm it is what the deploying shell has, or empty", name, c.swarm.dotEnvFile),
				Fix:     fmt.Sprintf("write the value into the file, or export %s where the stack is deployed and write ${%s:?why} so that a deploy without it fails", name, name)})
		}
	}
}

// checkSwarm applies the rules of a Swarm stack file to service s.
func (c *composeRun) checkSwarm(s *service) {
	if _, hasImage := c.rawScalar(s, []string{"image"}); s.Build != nil && !hasImage {
		c.add(s, ruleSwarmBuild, Error, []string{"build"}, "the service is built, but Swarm builds nothing and has no image to run",
			"build and push the image first, and name it here by digest (image: REGISTRY/NAME@sha256:...), as 'stackctl up --on swarm' does")
	}
	if n := c.node(s, "depends_on"); n != nil && n.Kind == yaml.MappingNode {
		c.add(s, ruleSwarmDependsOn, Error, []string{"depends_on"}, "depends_on in long form: the 3.x format 'docker stack deploy' reads refuses it, and Swarm ignores its conditions",
			"list the services (depends_on: ["+strings.Join(slices.Sorted(maps.Keys(s.DependsOn)), ", ")+"]) or drop it; readiness comes from health checks and the restart policy")
	}
	global := s.Deploy != nil && strings.HasPrefix(s.Deploy.Mode, "global")
	if inFamily(s.names(), databaseFamilies...) && !global && (s.Deploy == nil || len(s.Deploy.Placement.Constraints) == 0) {
		c.add(s, ruleSwarmPlacement, Error, []string{"deploy"}, "the database can be scheduled on any node, where its node-local volume is a new, empty one",
			"pin it to the node that keeps its data: deploy: {placement: {constraints: [node.labels.NAME == true]}}, with 'docker node update --label-add NAME=true NODE'")
	}
}

// node is the YAML node at a service's key, in the last file that has it.
func (c *composeRun) node(s *service, key string) *yaml.Node {
	for i := len(c.indexes) - 1; i >= 0; i-- {
		n, _ := child(c.indexes[i].root, "services")
		if n, _ = child(n, s.Name); n == nil {
			continue
		}
		if n, _ = child(n, key); n != nil {
			return deref(n)
		}
	}
	return nil
}
