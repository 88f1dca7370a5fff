package validate

import (
	"slices"
	"strings"
)

// Rule is one check, with a stable ID that findings and opt-outs name.
type Rule struct {
	ID string
	// Kind is "compose", "swarm" (a Swarm stack file, a kind of compose
	// file), "Dockerfile" or "settings": what the rule reads.
	Kind string
	// Severity is that of the rule's findings, but for those its Doc calls warnings.
	Severity Severity
	// Doc says what the rule wants, in one line; docs/reference/validate-rules.md is generated from it.
	Doc string
}

// Rules lists stackctl's own rules. Dockerfiles are also checked by every rule of
// BuildKit's linter ('docker build --check'), reported under BuildKit's names.
var Rules = []Rule{
	{ruleLoad, "compose", Error, "the file loads with compose-go: YAML, schema, interpolation and consistency"},
	{ruleOptOut, "compose", Error, "every opt-out names a known rule and gives a reason"},
	{ruleState, "compose", Error, "state lives in named volumes: the data directories of known images (Redmine files/ and plugins/, PostgreSQL, MySQL/MariaDB, MongoDB, Gitea, Nextcloud, WordPress) are named volumes, and no volume is anonymous; a writable host directory is a warning"},
	{ruleRedmineBuild, "compose", Error, "the Redmine service is built (build:), so that its themes and plugins are part of a reviewed image (compose files; a Swarm stack file runs images built before, see SwarmBuild)"},
	{rulePinned, "compose", Error, "every pulled image names a version tag or a digest: not latest, no tag, nor a bare variant such as alpine"},
	{ruleHealth, "compose", Error, "every long-running service has a health check, in the compose file or its Dockerfile"},
	{ruleDependsHealthy, "compose", Error, "depends_on waits for health (condition: service_healthy), or for a one-off service to complete (compose files; Swarm ignores start order, see SwarmDependsOn)"},
	{ruleSecretEnv, "compose", Error, "no secret-looking value in environment: pass secrets as files (secrets:, *_FILE variables); one taken from a host variable (`${X}`, or a bare name) is a warning, one whose `${X:-default}` default looks secret an error"},
	{rulePorts, "compose", Error, "a database never publishes ports (error), and only the reverse proxy does (warning for any other service)"},
	{ruleRestart, "compose", Error, "every long-running service has a restart policy"},
	{ruleNoNewPrivs, "compose", Error, "security_opt has no-new-privileges:true (compose files; a Swarm service cannot set it on engine 20.10)"},
	{ruleCapDrop, "compose", Error, "cap_drop: [ALL], and cap_add adds back nothing beyond Docker's default set"},
	{ruleReadOnly, "compose", Error, "read_only: true, with tmpfs or volumes where the service writes"},
	{ruleReadOnlyFiles, "compose", Error, "a read-only service takes its secrets and configs from files: the Compose SDK cannot copy environment or inline content into it"},
	{ruleNonRoot, "compose", Error, "the service runs as a non-root user (user:, or its Dockerfile's USER)"},
	{ruleMemory, "compose", Error, "a memory limit (mem_limit or deploy.resources.limits.memory)"},
	{rulePids, "compose", Error, "a process limit (pids_limit or deploy.resources.limits.pids)"},
	{ruleHostAccess, "compose", Error, "no Docker socket, sensitive host path, privileged mode or host namespace"},
	{ruleSwarmBuild, "swarm", Error, "in a Swarm stack file (`version: \"3.x\"` and a service with deploy:), no service is built without an image: Swarm builds nothing"},
	{ruleSwarmEnvFile, "swarm", Error, "a Swarm stack file interpolates no variable that only a .env beside it sets: 'docker stack deploy' reads no .env"},
	{ruleSwarmDependsOn, "swarm", Error, "a Swarm stack file has depends_on only as a list: the 3.x format refuses the long form, and Swarm ignores its conditions"},
	{ruleSwarmPlacement, "swarm", Error, "in a Swarm stack file, a database (a known database image) has deploy.placement.constraints, pinning it to the node that keeps its node-local volume"},
	{ruleDockerfileLoad, "Dockerfile", Error, "the Dockerfile parses and BuildKit can plan it"},
	{ruleDockerfileBase, "Dockerfile", Error, "every FROM names a pinned image, as PinnedImage has it, with ARG defaults and the service's build args resolved"},
	{ruleDockerfileUser, "Dockerfile", Error, "the image's final stage sets a non-root USER"},
	{ruleDockerfileHealth, "Dockerfile", Warning, "the image's final stage has a HEALTHCHECK"},
	{ruleSettings, "settings", Error, "the site's settings file (stackctl.yaml) has only known keys, each with a value of the right kind and range, consistent with the others, and no secret given inline (docs/reference/settings.md)"},
	{ruleSettingsFiles, "settings", Error, "every file the settings file names is a regular file, and a secret's file (a *_file key but certificate_file and ca_file) is yours with mode 0600 or stricter and in no .ssh or .gnupg directory; a password's or the ACME account key's is in the site's directory or /etc/stackctl, and a password file holds no key"},
}

// Rule IDs. They are part of stackctl's interface: opt-outs and scripts name them.
const (
	ruleLoad             = "ComposeLoad"
	ruleOptOut           = "OptOut"
	ruleState            = "StateInNamedVolume"
	ruleRedmineBuild     = "RedmineBuild"
	rulePinned           = "PinnedImage"
	ruleHealth           = "Healthcheck"
	ruleDependsHealthy   = "DependsOnHealthy"
	ruleSecretEnv        = "SecretInEnvironment"
	rulePorts            = "PublishedPorts"
	ruleRestart          = "RestartPolicy"
	ruleNoNewPrivs       = "NoNewPrivileges"
	ruleCapDrop          = "CapDropAll"
	ruleReadOnly         = "ReadOnlyRootfs"
	ruleReadOnlyFiles    = "ReadOnlySecretSource"
	ruleNonRoot          = "NonRootUser"
	ruleMemory           = "MemoryLimit"
	rulePids             = "PidsLimit"
	ruleHostAccess       = "HostAccess"
	ruleSwarmBuild       = "SwarmBuild"
	ruleSwarmEnvFile     = "SwarmEnvFile"
	ruleSwarmDependsOn   = "SwarmDependsOn"
	ruleSwarmPlacement   = "SwarmPlacement"
	ruleDockerfileLoad   = "DockerfileLoad"
	ruleDockerfileBase   = "DockerfilePinnedBase"
	ruleDockerfileUser   = "DockerfileUser"
	ruleDockerfileHealth = "DockerfileHealthcheck"
	ruleSettings         = "Settings"
	ruleSettingsFiles    = "SettingsFiles"
)

// knownRule reports whether id names one of stackctl's rules that a compose
// service can opt out of; BuildKit's rules are opted out of in the Dockerfile
// itself (# check=skip=...), and the settings file's cannot be.
func knownRule(id string) bool {
	return slices.ContainsFunc(Rules, func(r Rule) bool { return r.ID == id && r.Kind != "settings" })
}

func ruleIDs() string {
	ids := make([]string, 0, len(Rules))
	for _, r := range Rules {
		if r.ID != ruleLoad && r.ID != ruleOptOut && r.Kind != "settings" {
			ids = append(ids, r.ID)
		}
	}
	return strings.Join(ids, ", ")
}
