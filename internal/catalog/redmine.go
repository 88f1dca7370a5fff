package catalog

import (
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
)

var (
	//go:embed bases/redmine-essential.sh
	redmineEssential string
	//go:embed bases/redmine-customize.sh
	redmineCustomize string
	//go:embed bases/redmine-entrypoint.sh
	redmineEntrypoint string
	//go:embed bases/postgres-essential.sh
	postgresEssential string
	//go:embed bases/postgres-customize.sh
	postgresCustomize string
	//go:embed bases/postgres-entrypoint.sh
	postgresEntrypoint string
)

// redmineBaseFor is the Redmine base of release rel: the official redmine
// image upstream, and on the debian side the suite's Redmine package laid out as
// the official image is (app in /usr/src/redmine, uid 999, the same entrypoint
// contract). Both load themes from themes/<id> (Redmine 6.x).
func redmineBaseFor(rel Release) Base {
	return Base{
		Name:     "redmine",
		Var:      "STACKCTL_REDMINE_BASE",
		Upstream: "redmine:" + rel.RedmineUpstream,
		Recipe: Recipe{
			Suite:     rel.Suite,
			Variant:   "apt",
			Packages:  append(slices.Clone(rel.RedminePackages), "gosu", "passwd", "ca-certificates", "tzdata", "tzdata-legacy"),
			DpkgOpts:  append(slices.Clone(DocsExcluded), "path-include=/usr/share/locale/locale.alias"),
			AptOpts:   rel.AptOpts,
			Essential: redmineEssential,
			Files:     map[string]string{"/docker-entrypoint.sh": redmineEntrypoint},
			Customize: redmineCustomize,
			Changes: []string{
				"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"ENV LANG=C.UTF-8",
				"ENV RAILS_ENV=production",
				"ENV HOME=/home/redmine",
				"ENV REDMINE_VERSION=" + rel.Redmine,
				"ENV RAILS_LOG_TO_STDOUT=true",
				"WORKDIR /usr/src/redmine",
				"VOLUME /usr/src/redmine/files",
				"EXPOSE 3000",
				`ENTRYPOINT ["/docker-entrypoint.sh"]`,
				`CMD ["rails", "server", "-b", "0.0.0.0"]`,
			},
		},
	}
}

// postgresBaseFor is the PostgreSQL base of release rel: the official
// postgres image of its major upstream, and the suite's PostgreSQL behind the
// same entrypoint contract on the debian side.
func postgresBaseFor(rel Release) Base {
	major := strconv.Itoa(rel.Postgres)
	// The customize hook is written for PostgreSQL 17, release 6.0's: its text,
	// and so the hash of that release's recipe, stays as it was.
	edits := []string{"postgresql/17/", "postgresql/" + major + "/", "postgresql-17", "postgresql-" + major}
	if rel.NoLocaleAlias {
		edits = append(edits, "-A /usr/share/locale/locale.alias ", "")
	}
	customize := strings.NewReplacer(edits...).Replace(postgresCustomize)
	return Base{
		Name:     "postgres",
		Var:      "STACKCTL_POSTGRES_BASE",
		Upstream: "postgres:" + major,
		Recipe: Recipe{
			Suite:     rel.Suite,
			Variant:   "apt",
			Packages:  []string{"postgresql-" + major, "gosu"},
			DpkgOpts:  append(slices.Clone(DocsExcluded), "path-include=/usr/share/locale/locale.alias"),
			AptOpts:   rel.AptOpts,
			Essential: postgresEssential,
			Files:     map[string]string{"/usr/local/bin/docker-entrypoint.sh": postgresEntrypoint},
			Customize: customize,
			Changes: []string{
				"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/usr/lib/postgresql/" + major + "/bin",
				"ENV LANG=en_US.utf8",
				"ENV PG_MAJOR=" + major,
				"ENV PGDATA=" + rel.PostgresData(),
				"VOLUME " + rel.PostgresMount(),
				"EXPOSE 5432",
				`ENTRYPOINT ["docker-entrypoint.sh"]`,
				`CMD ["postgres"]`,
			},
		},
	}
}

// Names in the Redmine stack's compose model.
const (
	redmineDB       = "redmine"
	redmineUser     = "redmine"
	pgSuperuser     = "postgres"
	redmineApp      = "/usr/src/redmine"
	volDB           = "db-data"
	volFiles        = "redmine-files"
	volPlugins      = "redmine-plugins"
	volUpstream     = "nginx-upstream"
	upstreamDir     = "/etc/nginx/upstream"
	volTLS          = "nginx-tls"
	tlsDir          = "/etc/nginx/tls"
	redminePort     = 3000
	nginxSiteConfig = "nginx-site"
	dbAppRole       = "db-app-role"
	dbStart         = "db-start"
	dbStartPath     = "/usr/local/share/stackctl/db-start.sh"
)

// RedmineVolumes says what each named volume of the Redmine stack holds; the
// table in docs/redmine-stack.md is checked against it.
var RedmineVolumes = map[string]string{
	volDB:      "PostgreSQL's data directory: every issue, wiki page, user and setting",
	volFiles:   "Redmine's files/: every attachment, as uploaded",
	volPlugins: "Redmine's plugins/: plugins installed by the operator, kept across image rebuilds",
	volUpstream: "nginx's choice of the generation it serves (one line, written by stackctl); not data: " +
		"it is in no generation and no backup",
	volTLS: "nginx's certificate, key and HTTPS configuration when tls.mode is not off (written by stackctl, " +
		"owned by nginx, mode 0600); not data: it is in no generation and no backup, and the state directory keeps the originals",
}

func redmineModel() *types.Project {
	proxy := nginxService()
	// The edge publishes the port; nginx, in either slot, listens in its network namespace.
	edge := edgeService(proxy.Ports)
	proxy.Ports = nil
	proxy.NetworkMode = types.ServicePrefix + edge.Name
	proxy.DependsOn = types.DependsOnConfig{"redmine": {Condition: types.ServiceConditionHealthy, Required: true}}
	proxy.Configs = []types.ServiceConfigObjConfig{{Source: nginxSiteConfig, Target: "/etc/nginx/http.d/site.conf"}}
	// Where stackctl points nginx at the generation it serves: a volume, so that
	// the choice survives a restart of nginx; the image makes the directory nginx's.
	// Its certificate and HTTPS configuration, written the same way: the
	// SDK cannot copy secrets into a read-only service, and a file-sourced
	// secret keeps its host owner (root, 0600), unreadable to nginx.
	proxy.Volumes = []types.ServiceVolumeConfig{
		{Type: types.VolumeTypeVolume, Source: volUpstream, Target: upstreamDir},
		{Type: types.VolumeTypeVolume, Source: volTLS, Target: tlsDir},
	}
	return &types.Project{
		Name: "stackctl-redmine",
		Services: types.Services{
			"db":      dbService(),
			"redmine": redmineService(),
			"nginx":   proxy,
			edge.Name: edge,
		},
		Volumes: types.Volumes{volDB: {}, volFiles: {}, volPlugins: {}, volUpstream: {}, volTLS: {}},
		// Secrets come from stackctl's environment, not from files: compose then
		// creates them in the container owned by the user that reads them (the
		// official Redmine entrypoint reads *_FILE after dropping to uid 999), while
		// the files on the host stay root's, mode 0600.
		Secrets: types.Secrets{
			secretDBPassword.Name: {Environment: secretDBPassword.EnvVar()},
			secretKeyBase.Name:    {Environment: secretKeyBase.EnvVar()},
			// Provided by the operator; empty when mail is off.
			secretSMTPPassword.Name: {Environment: secretSMTPPassword.EnvVar()},
			secretIMAPPassword.Name: {Environment: secretIMAPPassword.EnvVar()},
		},
		Configs: types.Configs{
			nginxSiteConfig: {File: "./nginx-site.conf"},
			dbAppRole:       {File: "./db-app-role.sql"},
			dbStart:         {File: "./db-start.sh"},
		},
	}
}

// edgeService holds the network namespace, and publishes ports, for the nginx
// that serves: a changed nginx starts in the other slot in the same namespace,
// both listening with SO_REUSEPORT, and the old one is stopped gracefully
// (SIGQUIT: it stops accepting and finishes what it holds). With
// net.ipv4.tcp_migrate_req, connections still queued on the old nginx's
// sockets when it closes them move to the new one's instead of being reset
// (Linux 5.14 or later). It runs nothing but a shell that sleeps, on the nginx
// base (not our nginx image, whose every change would recreate the edge, and
// with it the port).
func edgeService(ports []types.ServicePortConfig) types.ServiceConfig {
	return types.ServiceConfig{
		Name:    "edge",
		Restart: types.RestartPolicyUnlessStopped,
		WorkloadSpec: types.WorkloadSpec{
			Ports: ports,
		},
		ContainerSpec: types.ContainerSpec{
			Image: required(nginxBase.Var, "the nginx base image; stackctl sets it"),
			// Never pulled on the debian profile, where the base is built
			// ('stackctl base build'); upstream, a pinned tag.
			PullPolicy: types.PullPolicyMissing,
			Command: types.ShellCommand{"sh", "-c",
				`trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done`},
			User:        "65534:65534",
			ReadOnly:    true,
			CapDrop:     []string{"ALL"},
			SecurityOpt: []string{"no-new-privileges:true"},
			MemLimit:    types.UnitBytes(16 << 20),
			PidsLimit:   8,
			Sysctls:     types.Mapping{MigrateReq.Sysctl: "1"},
		},
		Extensions: optOut(map[string]string{
			"Healthcheck": "it runs only a sleeping shell, holding the network namespace and published port that nginx " +
				"listens in; nginx's own health check answers on that port",
		}),
	}
}

// MigrateReq is the sysctl with which Linux moves the connections queued on a
// closing SO_REUSEPORT socket to another socket of its group, and the first
// kernel that has it; on an older one the edge cannot start with it.
var MigrateReq = struct {
	Sysctl       string
	Major, Minor int
}{"net.ipv4.tcp_migrate_req", 5, 14}

// dbService is PostgreSQL on the postgres base, unpublished, its data in a
// named volume. Its superuser is postgres, reachable only over the
// container's own socket; Redmine's role owns Redmine's database and is no
// superuser (db-app-role.sql makes it in a new cluster, and db-start.sh moves
// a cluster made when it was the superuser), so that neither Redmine nor a
// restored dump can run programs or read files as PostgreSQL.
func dbService() types.ServiceConfig {
	return types.ServiceConfig{
		Name:    "db",
		Restart: types.RestartPolicyUnlessStopped,
		WorkloadSpec: types.WorkloadSpec{
			HealthCheck: &types.HealthCheckConfig{
				Test:        types.HealthCheckTest{"CMD", "pg_isready", "-h", "127.0.0.1", "-U", redmineUser, "-d", redmineDB},
				Interval:    duration(5e9),
				Timeout:     duration(3e9),
				Retries:     ptr(uint64(5)),
				StartPeriod: duration(60e9),
			},
		},
		ContainerSpec: types.ContainerSpec{
			Image: required(varPostgresBase, "the postgres base image; stackctl sets it"),
			Environment: types.MappingWithEquals{
				"POSTGRES_USER":          ptr(pgSuperuser),
				"POSTGRES_DB":            ptr(redmineDB),
				"POSTGRES_PASSWORD_FILE": ptr("/run/secrets/" + secretDBPassword.Name),
			},
			Secrets: []types.ServiceSecretConfig{containerSecret(secretDBPassword)},
			// Mounted files rather than an image layer: the same on the official
			// image and its debian twin, and the secret is read when they run.
			Configs: []types.ServiceConfigObjConfig{
				{Source: dbAppRole, Target: "/docker-entrypoint-initdb.d/stackctl-app-role.sql"},
				{Source: dbStart, Target: dbStartPath},
			},
			Entrypoint: types.ShellCommand{"bash", dbStartPath},
			Command:    types.ShellCommand{"postgres"},
			// Where the release's PostgreSQL keeps its data (see Release.PostgresMount).
			Volumes: []types.ServiceVolumeConfig{{Type: types.VolumeTypeVolume, Source: volDB, Target: required(varPostgresMount, "where the release's PostgreSQL keeps its data; stackctl sets it")}},
			// The official image stops on SIGINT (fast shutdown); docker import cannot
			// set STOPSIGNAL on the debian twin, so the stack says it for both.
			StopSignal:      "SIGINT",
			StopGracePeriod: duration(60e9),
			// Starts as root for the entrypoint's chown of its directories, then drops to
			// postgres (uid 999) with gosu: only those steps' capabilities are added back.
			CapDrop:     []string{"ALL"},
			CapAdd:      entrypointCaps,
			SecurityOpt: []string{"no-new-privileges:true"},
			MemLimit:    types.UnitBytes(1 << 30),
			PidsLimit:   256,
		},
		Extensions: optOut(map[string]string{"ReadOnlyRootfs": secretsNeedWritableRoot, "NonRootUser": secretsNeedRootStart}),
	}
}

// entrypointCaps are what the official entrypoints (and their debian twins) use as
// root before they drop to uid 999: chown and chmod of their directories, then gosu.
var entrypointCaps = []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"}

// secretsNeedRootStart is why the redmine and db services start as root.
const secretsNeedRootStart = "compose hands a secret with uid/gid to a container by copying it in with the engine's " +
	"'copy UID/GID' option, and engines before 23 resolve a non-root container user in the host's /etc/passwd " +
	"(on a host with its own postgres user the secret became 101:104, unreadable); so the container starts as root " +
	"and the entrypoint drops to uid 999 with gosu, as the official images do"

// secretsNeedWritableRoot is why a service whose secrets come from stackctl's
// environment keeps a writable root file system.
const secretsNeedWritableRoot = "its secrets come from stackctl's environment, and the Compose SDK copies such secrets " +
	"into the container, which it refuses for a read-only service; a file-sourced secret would be bind-mounted with " +
	"its host owner and mode (root, 0600), unreadable to uid 999"

// optOut is the compose extension that exempts a service from stackctl validate rules, each with its reason.
func optOut(reasons map[string]string) types.Extensions {
	ignore := map[string]any{}
	for rule, reason := range reasons {
		ignore[rule] = reason
	}
	return types.Extensions{"x-stackctl-validate": map[string]any{"ignore": ignore}}
}

// MaxPumaWorkers is the most Puma workers Redmine runs: with their threads
// (at most 5 each, and Puma's own), 16 stay within the container's pids_limit.
const MaxPumaWorkers = 16

// Memory Redmine's Puma takes, measured roughly on Redmine 6.0: the master that
// loaded Redmine, and each worker forked from it once it has served a while.
const (
	pumaMasterMemory = 200 << 20
	pumaWorkerMemory = 300 << 20
)

// PumaWorkers is how many Puma workers Redmine runs when the settings do not
// say: one per CPU of the engine's host, as many as fit in memory (Redmine's
// memory limit, "" for the model's) and at least one.
func PumaWorkers(cpus int, memory string) int {
	limit := int64(redmineMemory)
	if memory != "" {
		if n, err := units.RAMInBytes(memory); err == nil {
			limit = n
		}
	}
	fit := int((limit - pumaMasterMemory) / pumaWorkerMemory)
	return max(1, min(cpus, fit, MaxPumaWorkers))
}

// redmineMemory is Redmine's memory limit unless the settings say otherwise.
const redmineMemory = 1 << 30

// ImageUID is the uid both the redmine and the postgres images run as (official and debian alike).
const ImageUID = 999

// RedminePluginsDir is where the Redmine image (official and debian alike) loads plugins from: the plugins volume.
const RedminePluginsDir = redmineApp + "/plugins"

// RedmineThemesDir is where the Redmine image (official and debian alike) loads themes from.
const RedmineThemesDir = redmineApp + "/themes"

// containerSecret mounts s at /run/secrets/<name>, readable only by the image's user.
func containerSecret(s Secret) types.ServiceSecretConfig {
	id := strconv.Itoa(ImageUID)
	return types.ServiceSecretConfig{Source: s.Name, UID: id, GID: id, Mode: ptr(types.FileMode(0o400))}
}

// redmineHealthProbe passes when Redmine answers /up with 200. The Dockerfile's
// HEALTHCHECK runs the same command (TestRedmineHealthCheckMatchesDockerfile).
var redmineHealthProbe = fmt.Sprintf(`exec 3<>/dev/tcp/127.0.0.1/%d && printf 'GET /up HTTP/1.0\r\n\r\n' >&3 && head -n 1 <&3 | grep -q ' 200 '`, redminePort)

// redmineService is our Redmine image, built with the themes baked in.
func redmineService() types.ServiceConfig {
	svc := types.ServiceConfig{
		Name:    "redmine",
		Restart: types.RestartPolicyUnlessStopped,
		WorkloadSpec: types.WorkloadSpec{
			Build: &types.BuildConfig{
				// The context is the project root, for themes/; .dockerignore keeps it to what the image needs.
				Context:    "../..",
				Dockerfile: "stacks/redmine/Dockerfile",
				Args: types.MappingWithEquals{
					"REDMINE_BASE": ptr(required(varRedmineBase, "the redmine base image; stackctl sets it")),
				},
			},
			DependsOn: types.DependsOnConfig{"db": {Condition: types.ServiceConditionHealthy, Required: true}},
			HealthCheck: &types.HealthCheckConfig{
				// Rails' own health endpoint (Redmine 6 and later), asked with bash's
				// /dev/tcp: bash, head and grep are in both Redmine bases, wget and curl
				// are not, and a Ruby process per check would cost more than the request.
				// No '$' in it, so compose's interpolation leaves it alone.
				Test: types.HealthCheckTest{"CMD", "bash", "-c", redmineHealthProbe},
				// The first passing check after a start (a theme change, a new
				// generation) is what compose, and nginx behind it, wait for, and
				// engines before API 1.44 have no start_interval to make only the
				// start-up checks fast: 5 s finds a started Redmine healthy within
				// 5 s, and costs an idle stack a check (an exec: about 70 ms of CPU
				// on fuse-overlayfs) every 5 s rather than every 2 s.
				Interval: duration(5e9),
				Timeout:  duration(5e9),
				Retries:  ptr(uint64(3)),
				// First boot migrates an empty database and precompiles assets.
				StartPeriod: duration(300e9),
			},
		},
		ContainerSpec: types.ContainerSpec{
			Image:      "stackctl/redmine:" + required(varRedmineTag, "the tag of the release, e.g. debian; stackctl sets it"),
			PullPolicy: types.PullPolicyBuild,
			Environment: types.MappingWithEquals{
				"REDMINE_DB_POSTGRES":          ptr("db"),
				"REDMINE_DB_USERNAME":          ptr(redmineUser),
				"REDMINE_DB_DATABASE":          ptr(redmineDB),
				"REDMINE_DB_PASSWORD_FILE":     ptr("/run/secrets/" + secretDBPassword.Name),
				"REDMINE_SECRET_KEY_BASE_FILE": ptr("/run/secrets/" + secretKeyBase.Name),
				"REDMINE_PLUGINS_MIGRATE":      ptr("true"),
				// Puma's size, read by the image's config/puma.rb (stacks/redmine/config/puma.rb);
				// the defaults are single mode with Puma's own 0 to 5 threads.
				"WEB_CONCURRENCY":   ptr("${" + varPumaWorkers + ":-0}"),
				"RAILS_MIN_THREADS": ptr("${" + varPumaMinThreads + ":-0}"),
				"RAILS_MAX_THREADS": ptr("${" + varPumaMaxThreads + ":-5}"),
			},
			Secrets: []types.ServiceSecretConfig{containerSecret(secretDBPassword), containerSecret(secretKeyBase),
				containerSecret(secretSMTPPassword), containerSecret(secretIMAPPassword)},
			Volumes: []types.ServiceVolumeConfig{
				{Type: types.VolumeTypeVolume, Source: volFiles, Target: redmineApp + "/files"},
				{Type: types.VolumeTypeVolume, Source: volPlugins, Target: redmineApp + "/plugins"},
			},
			// Starts as root, as the official image does, for the same steps as db's.
			CapDrop:     []string{"ALL"},
			CapAdd:      entrypointCaps,
			SecurityOpt: []string{"no-new-privileges:true"},
			MemLimit:    types.UnitBytes(redmineMemory),
			PidsLimit:   256,
		},
		Extensions: optOut(map[string]string{"NonRootUser": secretsNeedRootStart, "ReadOnlyRootfs": secretsNeedWritableRoot + "; and both entrypoints write config/database.yml " +
			"into the application tree when a container first starts, bundler may rewrite Gemfile.lock there and Redmine 6 " +
			"compiles theme assets into public/assets, among files the image provides that a tmpfs or volume would hide"}),
	}
	// Mail, read by the image's config/configuration.yml and config/stackctl_mail_in.rb.
	maps.Copy(svc.Environment, mailEnv())
	return svc
}

// configureRedmineScript runs once, through the image's entrypoint (which sets up
// database.yml and the secret key base as for the server), and reads the admin
// password from stdin so that it never appears in a command line, environment or log.
const configureRedmineScript = `
pw = STDIN.read.strip
abort "empty admin password" if pw.empty?
abort "no users: did the migrations run?" unless User.exists?
admin = User.find_by_login("admin")
# Only data that still has Redmine's default admin login is set up: anything
# else was set up before (a restored or older database, an admin renamed or
# moved to LDAP), and its password and settings are the operator's now.
if admin && admin.auth_source_id.nil? && admin.check_password?("admin")
  admin.password = admin.password_confirmation = pw
  admin.must_change_passwd = false
  admin.save!
  Setting.rest_api_enabled = "1"
  # Redmine's own limit is 5 MB; nginx in front takes 100 MB: let Redmine take as much.
  Setting.attachment_max_size = "102400"
  puts "stackctl: admin password set, REST API enabled, attachments up to 100 MB"
else
  puts "stackctl: the admin login is not Redmine's default: the data was set up before; left as it is"
end
# A tracker without trackers, statuses and roles cannot take an issue: load Redmine's
# default configuration, as Administration's "Load the default configuration" does.
# In the default language, which up has set from the site's settings by now.
if Redmine::DefaultData::Loader.no_data?
  Redmine::DefaultData::Loader.load(Setting.default_language.presence || "en")
  puts "stackctl: loaded Redmine's default configuration (trackers, statuses, roles)"
end
`

// redmineFirstStart sets the generated admin password, enables the REST API and
// loads Redmine's default configuration, the first time a stack's Redmine comes up.
var redmineFirstStart = &FirstStart{
	Service:     "redmine",
	Command:     []string{"/docker-entrypoint.sh", "rails", "runner", configureRedmineScript},
	StdinSecret: AdminPassword,
	Says:        "setting the admin password, enabling the REST API, loading the default configuration",
	Job:         redmineJob,
}

// redmineJob is the first start as a swarm job's command: the settings are
// Setting[] assignments (the values travel as base64 of JSON, read back by
// Ruby's parsers, never spliced into the script as code), then the first start reads the
// admin password from the secret the job mounts at /run/secrets/<name>.
func redmineJob(appSettings map[string]string) []string {
	js, err := json.Marshal(appSettings)
	if err != nil {
		panic("a map of strings is always marshalable: " + err.Error())
	}
	// unpack1("m0") is strict base64 in Ruby's core (the base64 gem left
	// the default gems in Ruby 3.4).
	script := "JSON.parse('" + base64.StdEncoding.EncodeToString(js) + "'.unpack1('m0')).each { |k, v| Setting[k] = v unless Setting[k].to_s == v }\n" + configureRedmineScript
	return []string{"sh", "-c", `exec /docker-entrypoint.sh rails runner "$0" < /run/secrets/` + AdminPassword, script}
}
