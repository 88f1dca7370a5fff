package catalog

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/stackctl/stackctl/internal/errs"
)

// Interpolation variables of the generated compose files. stackctl sets them; a
// user running `docker compose` by hand sets them too, or gets a clear error.
const (
	varProfile      = "STACKCTL_PROFILE"
	varRedmineTag   = "STACKCTL_REDMINE_TAG"
	varNginxTag     = "STACKCTL_NGINX_TAG"
	varRedmineBase  = "STACKCTL_REDMINE_BASE"
	varPostgresBase = "STACKCTL_POSTGRES_BASE"
	// varPostgresMount is where the database volume goes: PostgreSQL 18 moved it.
	varPostgresMount = "STACKCTL_POSTGRES_MOUNT"
	varHTTPAddr      = "STACKCTL_HTTP_ADDR"
	varHTTPPort      = "STACKCTL_HTTP_PORT"
	// Puma's size in the Redmine container (stacks/redmine/config/puma.rb reads them).
	varPumaWorkers    = "STACKCTL_PUMA_WORKERS"
	varPumaMinThreads = "STACKCTL_PUMA_MIN_THREADS"
	varPumaMaxThreads = "STACKCTL_PUMA_MAX_THREADS"
)

// memoryVars are the variables that set a service's memory limit, by the
// service's name in the compose files; unset, the model's limit holds.
var memoryVars = map[string]string{
	"redmine": "STACKCTL_REDMINE_MEMORY",
	"db":      "STACKCTL_DB_MEMORY",
	"nginx":   "STACKCTL_NGINX_MEMORY",
}

// MemoryVar is the variable that sets service's memory limit, "" for a
// service whose limit no variable sets.
func MemoryVar(service string) string { return memoryVars[service] }

// Settings are the per-run values the compose files interpolate.
type Settings struct {
	Profile Profile
	// Listen is the host address:port the entry service publishes on.
	Listen string
	// Secrets are the stack's secret values by name; they reach compose through
	// the interpolation environment, never through a file it names.
	Secrets map[string]string
	// Release is the release the stack's generation runs ("": DefaultRelease).
	Release string
	// Overrides are what the site's settings file changes.
	Overrides Overrides
}

// Overrides are what a site's settings file (internal/settings) changes in the
// stacks. Its zero value changes nothing: each compose file's defaults hold.
type Overrides struct {
	// Memory are memory limits by service name (redmine, db, nginx), such
	// as "512m"; a service not named keeps its model's limit.
	Memory map[string]string
	// PumaWorkers is the number of Puma workers of a stack with Puma (0:
	// single mode); nil: as many as the engine's host has CPUs, which the
	// runner asks the engine for.
	PumaWorkers *int
	// PumaMinThreads and PumaMaxThreads are each Puma process's threads;
	// a zero PumaMaxThreads keeps the compose file's default.
	PumaMinThreads, PumaMaxThreads int
	// HTTPS says nginx serves HTTPS: listen publishes its HTTPS port, and
	// HTTPListen (else listen's host, port 80) its plain HTTP port.
	HTTPS      bool
	HTTPListen string
	// AppSettings are the application's settings by name (Redmine's
	// default_language, host_name, protocol, mail_from), which up writes
	// into the stack's SettingsTable on every run.
	AppSettings map[string]string
	// Mail is the application's mail in and out; zero for none.
	Mail Mail
	// Secrets are the values of the stack's ProvidedSecrets by name, read
	// from the files the settings name.
	Secrets map[string]string
}

// DefaultListen keeps a new stack private to the host until the operator opens it.
const DefaultListen = "127.0.0.1:8080"

// Env is the exact interpolation environment of s under set: nothing from the
// caller's environment or a stray .env file leaks into the project.
func (s Stack) Env(set Settings) (map[string]string, error) {
	host, port, err := SplitListen(PlainListen(set.Overrides, set.Listen))
	if err != nil {
		return nil, err
	}
	if set.Overrides.HTTPS {
		if h, p, err := SplitListen(set.Listen); err == nil && h == host && p == port {
			return nil, fmt.Errorf("%w: HTTPS and plain HTTP would both be published on %s:%s: set http_listen to another address", errs.ErrInvalidInput, host, port)
		}
	}
	env := map[string]string{
		varProfile:  string(set.Profile),
		varNginxTag: s.instanceTag(string(set.Profile)),
		varHTTPAddr: host,
		varHTTPPort: port,
	}
	rel, err := LookupRelease(set.Release)
	if err != nil {
		return nil, err
	}
	for _, b := range s.BasesFor(rel) {
		env[b.Var] = b.Ref(set.Profile)
	}
	if s.Releases {
		env[varRedmineTag] = s.instanceTag(rel.Tag(set.Profile))
		env[varPostgresMount] = rel.PostgresMount()
	}
	for svc, v := range memoryVars {
		if m := set.Overrides.Memory[svc]; m != "" {
			env[v] = m
		}
	}
	if w := set.Overrides.PumaWorkers; w != nil {
		env[varPumaWorkers] = strconv.Itoa(*w)
	}
	if set.Overrides.PumaMaxThreads > 0 {
		env[varPumaMinThreads] = strconv.Itoa(set.Overrides.PumaMinThreads)
		env[varPumaMaxThreads] = strconv.Itoa(set.Overrides.PumaMaxThreads)
	}
	for _, sec := range s.Secrets {
		if v, ok := set.Secrets[sec.Name]; ok {
			env[sec.EnvVar()] = v
		}
	}
	// Always set, empty when not provided: compose refuses a secret whose
	// variable is unset.
	for _, sec := range s.ProvidedSecrets {
		env[sec.EnvVar()] = set.Overrides.Secrets[sec.Name]
	}
	if s.MailIn != nil {
		for _, v := range mailVars {
			if x := v.value(set.Overrides.Mail); x != "" {
				env["STACKCTL_"+v.name] = x
			}
		}
	}
	return env, nil
}

// SplitListen checks an address:port to publish on (empty is DefaultListen) and
// splits it; an empty host is every address.
func SplitListen(listen string) (host, port string, err error) {
	if listen == "" {
		listen = DefaultListen
	}
	host, port, err = net.SplitHostPort(listen)
	if err != nil {
		return "", "", fmt.Errorf("%w: --listen %q: want HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:80", errs.ErrInvalidInput, listen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%w: --listen %q: port must be 1-65535", errs.ErrInvalidInput, listen)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// HTTPSPort is where nginx listens for HTTPS in the Redmine stack, beside
// nginxPort for plain HTTP (https.Port says it to nginx).
const HTTPSPort = 8443

// PlainListen is the address plain HTTP is published on: listen, or with
// HTTPS on, the site's http_listen, else listen's host on port 80.
func PlainListen(site Overrides, listen string) string {
	if !site.HTTPS {
		return listen
	}
	if site.HTTPListen != "" {
		return site.HTTPListen
	}
	host, _, err := SplitListen(listen)
	if err != nil {
		return listen // SplitListen says what is wrong, where it is used
	}
	return net.JoinHostPort(host, "80")
}

// PublishHTTPS publishes nginx's HTTPS port of s's loaded project p on
// listen, from the service that publishes its plain HTTP port (the edge).
// A stack whose front serves no HTTPS is refused.
func (s Stack) PublishHTTPS(p *types.Project, listen string) error {
	g := s.Generations
	if g == nil || g.TLSDir == "" || g.Edge == "" {
		return fmt.Errorf("%w: stack %s serves no HTTPS: the site's tls settings apply to the redmine stack; "+
			"run this one without them (tls.mode: off)", errs.ErrInvalidInput, s.Name)
	}
	host, port, err := SplitListen(listen)
	if err != nil {
		return err
	}
	e, ok := p.Services[g.Edge]
	if !ok {
		return fmt.Errorf("stack %s: edge service %s is not in its compose file", s.Name, g.Edge)
	}
	e.Ports = append(slices.Clone(e.Ports), types.ServicePortConfig{HostIP: host, Target: HTTPSPort, Published: port, Protocol: "tcp"})
	p.Services[g.Edge] = e
	return nil
}

// HTTPSURL is the URL an operator opens for a stack serving HTTPS on listen.
func HTTPSURL(listen string) (string, error) {
	u, err := EntryURL(listen)
	return "https" + strings.TrimPrefix(u, "http"), err
}

// EntryURL is the URL an operator opens for a stack published on listen.
func EntryURL(listen string) (string, error) {
	host, port, err := SplitListen(listen)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/", nil
}
