package validate

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/stackctl/stackctl/internal/secretscan"
)

// optOutKey is the service extension that opts a service out of rules:
//
//	x-stackctl-validate:
//	  ignore:
//	    ReadOnlyRootfs: "the entrypoint writes config/database.yml at start"
const optOutKey = "x-stackctl-validate"

// service is a loaded service with what the rules derive from it.
type service struct {
	types.ServiceConfig
	// image describes the image it builds; nil when it builds none or the
	// Dockerfile cannot be read.
	image *imageInfo
	// oneOff: another service waits for it to complete, so it is not long-running.
	oneOff bool
	// ignore maps a rule ID to the reason the service is opted out of it.
	ignore map[string]string
}

// names are the image names a service is matched against families with.
func (s *service) names() []string {
	names := []string{repoName(s.Image)}
	if s.image != nil {
		names = append(names, repoName(s.image.base))
	}
	return names
}

// composeRun applies the compose rules to one loaded project.
type composeRun struct {
	project  *types.Project
	indexes  []*yamlIndex
	findings []Finding
	// swarm is set for a Swarm stack file.
	swarm *swarmRun
}

// locate finds the file and line of a service's key path: in the file that
// matches the most of the path, the last such file when several do (it overrides).
func (c *composeRun) locate(path []string) (string, int) {
	file, line, best := "", 0, -1
	for _, x := range c.indexes {
		if l, d := x.locate(path); d > 0 && d >= best {
			file, line, best = x.file, l, d
		}
	}
	if file == "" && len(c.indexes) > 0 {
		file = c.indexes[0].file
	}
	return file, line
}

// add reports a finding of rule at a key path of service s, unless s opted out of the rule.
func (c *composeRun) add(s *service, rule string, sev Severity, path []string, msg, fix string) {
	if s.ignore[rule] != "" {
		return
	}
	file, line := c.locate(append([]string{"services", s.Name}, path...))
	c.findings = append(c.findings, Finding{Rule: rule, Severity: sev, Service: s.Name, File: file, Line: line, Message: msg, Fix: fix})
}

// services returns the project's services in name order, with opt-outs parsed
// (and reported when malformed) and one-off services marked.
func (c *composeRun) services() []*service {
	var out []*service
	byName := map[string]*service{}
	for _, name := range slices.Sorted(maps.Keys(c.project.Services)) {
		cfg := c.project.Services[name]
		if cfg.Provider != nil {
			continue // not a container
		}
		s := &service{ServiceConfig: cfg}
		s.ignore = c.optOuts(s)
		out = append(out, s)
		byName[name] = s
	}
	for _, s := range out {
		for dep, d := range s.DependsOn {
			if t := byName[dep]; t != nil && d.Condition == types.ServiceConditionCompletedSuccessfully {
				t.oneOff = true
			}
		}
	}
	return out
}

func (c *composeRun) optOuts(s *service) map[string]string {
	raw, ok := s.Extensions[optOutKey]
	if !ok {
		return nil
	}
	fix := "write x-stackctl-validate: {ignore: {RULE: \"why the rule cannot apply to this service\"}} with RULE one of " + ruleIDs()
	m, ok := raw.(map[string]any)
	ignore, ok2 := m["ignore"].(map[string]any)
	if !ok || !ok2 {
		c.add(s, ruleOptOut, Error, []string{optOutKey}, "the opt-out is not a mapping with an ignore: mapping", fix)
		return nil
	}
	out := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(ignore)) {
		reason, _ := ignore[id].(string)
		switch {
		case !knownRule(id) || id == ruleLoad || id == ruleOptOut:
			c.add(s, ruleOptOut, Error, []string{optOutKey, "ignore", id}, fmt.Sprintf("opts out of %q, which is no rule that can be opted out of", id), fix)
		case strings.TrimSpace(reason) == "":
			c.add(s, ruleOptOut, Error, []string{optOutKey, "ignore", id}, fmt.Sprintf("opts out of %s without a reason, so the opt-out is not honoured", id), fix)
		default:
			out[id] = reason
		}
	}
	return out
}

// check applies every compose rule to every service.
func (c *composeRun) check(svcs []*service) {
	for _, s := range svcs {
		c.checkState(s)
		c.checkImage(s)
		c.checkHealth(s)
		c.checkRestart(s)
		c.checkSecrets(s)
		c.checkPorts(s)
		c.checkPrivileges(s)
		c.checkLimits(s)
		c.checkHostAccess(s)
		if c.swarm != nil {
			c.checkSwarm(s)
		}
	}
	if c.swarm != nil {
		c.checkSwarmFile()
	}
}

func (c *composeRun) checkState(s *service) {
	named := func(v types.ServiceVolumeConfig) bool { return v.Type == types.VolumeTypeVolume && v.Source != "" }
	// known data directories first: a mount they flag is not flagged again below
	flagged := map[int]bool{}
	for _, sd := range stateDirs {
		if !inFamily(s.names(), sd.families...) {
			continue
		}
		for _, p := range sd.paths {
			if sd.pgdata {
				if v := s.Environment["PGDATA"]; v != nil && *v != "" {
					p = *v
				}
			}
			i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Type != types.VolumeTypeTmpfs && under(p, v.Target) })
			switch {
			case i < 0:
				c.add(s, ruleState, Error, []string{"volumes"}, fmt.Sprintf("%s (%s) is in no volume: it is lost when the container is recreated", p, sd.what),
					fmt.Sprintf("mount a named volume at %s", p))
			case !named(s.Volumes[i]):
				flagged[i] = true
				c.add(s, ruleState, Error, []string{"volumes", "[" + strconv.Itoa(i) + "]"}, fmt.Sprintf("%s (%s) is not in a named volume", p, sd.what),
					fmt.Sprintf("mount a named volume at %s", p))
			}
		}
	}
	for i, v := range s.Volumes {
		at := []string{"volumes", "[" + strconv.Itoa(i) + "]"}
		switch {
		case flagged[i]:
		case v.Type == types.VolumeTypeVolume && v.Source == "":
			c.add(s, ruleState, Error, at, fmt.Sprintf("%s is an anonymous volume: a new container of the service starts without its data", v.Target),
				"name the volume (a top-level volumes: entry and source: NAME), or use tmpfs if the data is scratch")
		case v.Type == types.VolumeTypeBind && !v.ReadOnly && !sensitiveHostPath(v.Source):
			c.add(s, ruleState, Warning, at, fmt.Sprintf("host directory %s is mounted writable at %s: state there lives outside compose's volumes and their life cycle, and configuration there can be changed by the container", v.Source, v.Target),
				"mount configuration and code read-only (:ro); keep state in a named volume")
		}
	}
}

func (c *composeRun) checkImage(s *service) {
	// On Swarm nothing is built: SwarmBuild wants an image instead.
	if inFamily(s.names(), "redmine") && s.Build == nil && c.swarm == nil {
		c.add(s, ruleRedmineBuild, Error, []string{"image"}, fmt.Sprintf("Redmine runs the pulled image %s as it is", s.Image),
			"build the service (build: with a Dockerfile FROM the Redmine image) so that its themes and plugins are part of a reviewed image")
	}
	if s.Build == nil && s.Image != "" {
		if ok, why := pinned(s.Image); !ok {
			c.add(s, rulePinned, Error, []string{"image"}, fmt.Sprintf("image %q %s: what runs changes whenever the registry's tag moves", s.Image, why),
				"name a tag that stays on one release line (e.g. postgres:17) or a digest")
		}
	}
}

func (c *composeRun) checkRestart(s *service) {
	if s.oneOff || s.Restart != "" && s.Restart != types.RestartPolicyNo {
		return
	}
	if s.Deploy == nil || s.Deploy.RestartPolicy == nil || s.Deploy.RestartPolicy.Condition == "none" {
		c.add(s, ruleRestart, Error, []string{"restart"}, "the service is not restarted when it stops or the host reboots",
			"set restart: unless-stopped (or on-failure)")
	}
}

// checkHealth wants a health check on a long-running service, and every
// depends_on waiting for health (or a one-off's completion).
func (c *composeRun) checkHealth(s *service) {
	hc := s.HealthCheck
	switch {
	case s.oneOff:
	case hc != nil && (hc.Disable || len(hc.Test) > 0 && hc.Test[0] == "NONE"):
		c.add(s, ruleHealth, Error, []string{"healthcheck"}, "the health check is disabled",
			"give the service a health check that proves it answers")
	case hc == nil && (s.image == nil || !s.image.healthcheck):
		c.add(s, ruleHealth, Error, nil, "the service has no health check, so nothing can wait for it to work",
			"add healthcheck: with a test the image can run (e.g. [CMD, pg_isready] or an HTTP probe)")
	}
	if c.swarm != nil {
		return // Swarm ignores start order: SwarmDependsOn instead
	}
	for _, dep := range slices.Sorted(maps.Keys(s.DependsOn)) {
		cond := s.DependsOn[dep].Condition
		if cond == types.ServiceConditionHealthy || cond == types.ServiceConditionCompletedSuccessfully {
			continue
		}
		// Sharing dep's namespace (compose's implied depends_on) needs it to exist, not to work.
		if cond == types.ServiceConditionStarted && sharesNamespace(s, dep) {
			continue
		}
		c.add(s, ruleDependsHealthy, Error, []string{"depends_on", dep}, fmt.Sprintf("waits for %s only to start (condition: %s), not to work", dep, cond),
			fmt.Sprintf("use depends_on: {%s: {condition: service_healthy}} and give %s a health check", dep, dep))
	}
}

var (
	// interpolationOnly is a value that only names a variable of the host: ${X}, $X, ${X:-default}.
	interpolationOnly = regexp.MustCompile(`^\$(\{[A-Za-z_][A-Za-z0-9_]*([:]?[-?+][^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)$`)
	// interpolationDefault is the default a ${X:-default} or ${X-default} falls back
	// to: text written into the compose file like any other.
	interpolationDefault = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}$`)
	// notSecret are values that switch something on or off rather than hold a secret.
	notSecret = regexp.MustCompile(`^(?i:true|false|yes|no|on|off|0|1|none|null|empty|random)$`)
)

func (c *composeRun) checkSecrets(s *service) {
	for _, k := range slices.Sorted(maps.Keys(s.Environment)) {
		v := s.Environment[k]
		if strings.HasSuffix(strings.ToUpper(k), "_FILE") {
			continue
		}
		at := []string{"environment", "=" + k}
		var raw string
		if v != nil {
			raw = *v
		}
		if r, ok := c.rawScalar(s, at); ok {
			raw = r
		}
		if v != nil && raw == "" || notSecret.MatchString(raw) {
			continue
		}
		// A name with no value ("- DB_PASSWORD", "DB_PASSWORD:") passes the host's
		// value through, as ${DB_PASSWORD} does.
		hostVar := v == nil && raw == "" || interpolationOnly.MatchString(raw)
		var kind string
		if m := interpolationDefault.FindStringSubmatch(raw); m != nil && m[1] != "" && !notSecret.MatchString(m[1]) &&
			!interpolationOnly.MatchString(m[1]) && secretscan.Kind(k, m[1]) != "" {
			// ${X:-S3cret}: the fallback is written in the file
			hostVar, kind = false, secretscan.Kind(k, m[1])
		} else if hostVar {
			// the value is not in the file: judge the name alone
			kind = secretscan.Kind(k, "value-from-the-host")
		} else if kind = secretscan.Kind(k, raw); kind == "" && v != nil && raw != *v {
			kind = secretscan.Kind(k, *v)
		}
		switch {
		case kind == "":
		case hostVar:
			c.add(s, ruleSecretEnv, Warning, at, fmt.Sprintf("%s passes a secret (%s) through the environment, where 'docker inspect', logs of crashed processes and every child process see it", k, kind),
				"mount it as a secret (secrets:) and point the image at the file (e.g. "+k+"_FILE=/run/secrets/...)")
		default:
			c.add(s, ruleSecretEnv, Error, at, fmt.Sprintf("%s holds a secret-looking value (%s) written into the compose file", k, kind),
				"move the value to a secret (secrets: with file: or environment:) and point the image at the file (e.g. "+k+"_FILE=/run/secrets/...)")
		}
	}
}

// rawScalar is the value at a service path as written, before interpolation.
func (c *composeRun) rawScalar(s *service, path []string) (string, bool) {
	full := append([]string{"services", s.Name}, path...)
	for i := len(c.indexes) - 1; i >= 0; i-- {
		if v, ok := c.indexes[i].scalar(full); ok {
			return v, true
		}
	}
	return "", false
}

func (c *composeRun) checkPorts(s *service) {
	if len(s.Ports) == 0 {
		return
	}
	at := []string{"ports", "[0]"}
	switch {
	case inFamily(s.names(), databaseFamilies...):
		c.add(s, rulePorts, Error, at, fmt.Sprintf("the database publishes port %d on the host", s.Ports[0].Target),
			"remove ports:; other services reach the database over the compose network by its service name")
	case !isProxy(s) && !c.holdsProxy(s):
		c.add(s, rulePorts, Warning, at, fmt.Sprintf("the service publishes port %d on the host, but is not the stack's reverse proxy", s.Ports[0].Target),
			"publish only the reverse proxy (nginx, traefik, caddy, ...) and let it reach this service over the compose network")
	}
}

// sharesNamespace says whether s joins a namespace of service dep (network_mode: service:dep, or pid, ipc).
func sharesNamespace(s *service, dep string) bool {
	return slices.Contains([]string{s.NetworkMode, s.Pid, s.Ipc}, types.ServicePrefix+dep)
}

// isProxy says whether s is a reverse proxy, by its image or its name.
func isProxy(s *service) bool {
	return inFamily(s.names(), proxyFamilies...) || slices.ContainsFunc(words(s.Name), func(w string) bool {
		return slices.Contains(proxyServiceWords, w) || slices.Contains(proxyFamilies, w)
	})
}

// holdsProxy says whether a reverse proxy runs in s's network namespace
// (network_mode: service:s), so that the ports s publishes are the proxy's.
func (c *composeRun) holdsProxy(s *service) bool {
	for _, other := range c.project.Services {
		if other.NetworkMode == types.ServicePrefix+s.Name && isProxy(&service{ServiceConfig: other}) {
			return true
		}
	}
	return false
}

// dockerDefaultCaps are the capabilities Docker gives a container unless told
// otherwise: adding one of them back after cap_drop: [ALL] grants nothing new.
var dockerDefaultCaps = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

func capName(c string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(c)), "CAP_")
}

func (c *composeRun) checkPrivileges(s *service) {
	// A Swarm service has no no-new-privileges on engine 20.10 (API 1.41),
	// and docker/cli's stack loader ignores security_opt.
	if c.swarm == nil && !slices.ContainsFunc(s.SecurityOpt, func(o string) bool {
		o = strings.ReplaceAll(strings.TrimSpace(o), "=", ":")
		return o == "no-new-privileges" || o == "no-new-privileges:true"
	}) {
		c.add(s, ruleNoNewPrivs, Error, []string{"security_opt"}, "processes in the container can gain privileges through setuid binaries or file capabilities",
			"add security_opt: [no-new-privileges:true]")
	}
	if !slices.ContainsFunc(s.CapDrop, func(c string) bool { return capName(c) == "ALL" }) {
		c.add(s, ruleCapDrop, Error, []string{"cap_drop"}, "the service keeps Docker's default capabilities, most of which it never uses",
			"add cap_drop: [ALL], then cap_add only what the service needs (e.g. CHOWN, SETUID, SETGID for an entrypoint that drops to a user)")
	}
	for i, name := range s.CapAdd {
		if cp := capName(name); !slices.Contains(dockerDefaultCaps, cp) {
			c.add(s, ruleCapDrop, Error, []string{"cap_add", "[" + strconv.Itoa(i) + "]"}, fmt.Sprintf("adds %s, beyond what Docker grants any container", cp),
				"remove it; if the service cannot work without it, say why in an opt-out")
		}
	}
	if !s.ReadOnly {
		c.add(s, ruleReadOnly, Error, []string{"read_only"}, "the root file system is writable, so whatever runs in the container can change its programs",
			"set read_only: true and mount tmpfs (or named volumes for state) where the service writes, e.g. tmpfs: [/tmp]")
	}
	if s.ReadOnly {
		c.checkInjected(s)
	}
	switch {
	case s.User != "" && isRootUser(s.User):
		c.add(s, ruleNonRoot, Error, []string{"user"}, fmt.Sprintf("the service runs as %q", s.User), "set user: to the image's unprivileged user (e.g. \"999:999\")")
	case s.User != "":
	case s.image != nil && s.image.hasUser && !isRootUser(s.image.user):
	case s.image != nil && s.image.hasUser:
		c.add(s, ruleNonRoot, Error, nil, fmt.Sprintf("the image it builds runs as %q", s.image.user), "set USER in the Dockerfile, or user: here, to a non-root user")
	default:
		c.add(s, ruleNonRoot, Error, nil, "the service runs as its image's default user, root for most images",
			"set user: to the image's unprivileged user (e.g. \"999:999\" for the official postgres image), or USER in the Dockerfile it builds")
	}
}

// checkInjected finds what the Compose SDK would have to copy into a read-only
// container: secrets and configs from the environment or inline content. It
// refuses ("file is the sole supported option"), so 'up' would fail.
func (c *composeRun) checkInjected(s *service) {
	for i, ref := range s.Secrets {
		if d, ok := c.project.Secrets[ref.Source]; ok && (d.Environment != "" || d.Content != "") {
			c.add(s, ruleReadOnlyFiles, Error, []string{"secrets", "[" + strconv.Itoa(i) + "]"},
				fmt.Sprintf("secret %s comes from the environment or inline content, which docker compose cannot copy into a read-only container: 'up' fails", ref.Source),
				"give the secret a file: source, or keep the root file system writable (read_only: false) and opt out of ReadOnlyRootfs with this reason")
		}
	}
	for i, ref := range s.Configs {
		if d, ok := c.project.Configs[ref.Source]; ok && (d.Environment != "" || d.Content != "") {
			c.add(s, ruleReadOnlyFiles, Error, []string{"configs", "[" + strconv.Itoa(i) + "]"},
				fmt.Sprintf("config %s comes from the environment or inline content, which docker compose cannot copy into a read-only container: 'up' fails", ref.Source),
				"give the config a file: source, or keep the root file system writable (read_only: false) and opt out of ReadOnlyRootfs with this reason")
		}
	}
}

func (c *composeRun) checkLimits(s *service) {
	var limits *types.Resource
	if s.Deploy != nil {
		limits = s.Deploy.Resources.Limits
	}
	if s.MemLimit <= 0 && (limits == nil || limits.MemoryBytes <= 0) {
		c.add(s, ruleMemory, Error, nil, "no memory limit: a leak in this service can take the host's memory from every other one",
			"set mem_limit: (e.g. 512m) to what the service needs with headroom")
	}
	if s.PidsLimit <= 0 && (limits == nil || limits.Pids <= 0) {
		c.add(s, rulePids, Error, nil, "no process limit: a fork bomb or a runaway worker pool in this service can exhaust the host's PIDs",
			"set pids_limit: (e.g. 256)")
	}
}

// sensitiveHostPath reports host paths whose mount gives a container control of the host.
func sensitiveHostPath(p string) bool {
	for _, sock := range []string{"docker.sock", "containerd.sock", "podman.sock", "crio.sock"} {
		if strings.HasSuffix(p, "/"+sock) {
			return true
		}
	}
	for _, d := range []string{"/etc", "/proc", "/sys", "/dev", "/root", "/boot", "/var/lib/docker", "/var/lib/containerd", "/lib/modules", "/usr/lib/modules"} {
		if under(p, d) {
			return true
		}
	}
	return slices.Contains([]string{"/", "/var", "/run", "/var/run", "/usr", "/home", "/lib", "/bin", "/sbin", "/opt", "/srv", "/mnt"}, strings.TrimRight(p, "/")) || p == "/"
}

// harmlessHostFiles are host files commonly mounted read-only to share the clock's zone.
var harmlessHostFiles = []string{"/etc/localtime", "/etc/timezone"}

func (c *composeRun) checkHostAccess(s *service) {
	for i, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind || !sensitiveHostPath(v.Source) || v.ReadOnly && slices.Contains(harmlessHostFiles, v.Source) {
			continue
		}
		what := "the host path " + v.Source
		if strings.HasSuffix(v.Source, ".sock") {
			what = "the container engine's socket " + v.Source + ", which is root on the host"
		}
		c.add(s, ruleHostAccess, Error, []string{"volumes", "[" + strconv.Itoa(i) + "]"}, "mounts "+what,
			"remove the mount; give the service only the files it needs, from a named volume, a config or a secret")
	}
	if s.Privileged {
		c.add(s, ruleHostAccess, Error, []string{"privileged"}, "runs privileged: every capability and every host device",
			"remove privileged: and add only the capabilities and devices the service needs")
	}
	for _, ns := range []struct{ key, val string }{{"network_mode", s.NetworkMode}, {"pid", s.Pid}, {"ipc", s.Ipc}, {"userns_mode", s.UserNSMode}} {
		if ns.val == "host" {
			c.add(s, ruleHostAccess, Error, []string{ns.key}, fmt.Sprintf("shares the host's %s namespace (%s: host)", strings.TrimSuffix(ns.key, "_mode"), ns.key),
				"remove "+ns.key+": host; publish ports or use a compose network instead")
		}
	}
}
