package validate

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// pinned reports whether ref names a tag other than latest, or a digest, and
// says what is wrong otherwise. scratch is no image and always pinned.
func pinned(ref string) (ok bool, why string) {
	if strings.EqualFold(ref, "scratch") {
		return true, ""
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false, "is not a valid image reference"
	}
	if _, ok := named.(reference.Digested); ok {
		return true, ""
	}
	tagged, ok := named.(reference.Tagged)
	switch {
	case !ok:
		return false, "has no tag, so it means latest"
	case tagged.Tag() == "latest":
		return false, "is tagged latest"
	case floatingTag(tagged.Tag()):
		return false, fmt.Sprintf("names only a variant (%s), which moves to every new release, major ones included", tagged.Tag())
	}
	return true, ""
}

// floatingWords are tag words that name a variant or a channel, not a release:
// postgres:alpine is latest on Alpine. A tag made only of them floats; one with a
// version (17-alpine) or a distribution release (trixie-slim) does not.
var floatingWords = []string{"latest", "alpine", "slim", "stable", "edge", "lts", "mainline", "current", "apache",
	"fpm", "nightly", "main", "master", "dev", "develop", "rolling", "release", "beta", "rc", "community", "ce", "ee"}

func floatingTag(tag string) bool {
	ws := words(tag)
	return len(ws) > 0 && !slices.ContainsFunc(ws, func(w string) bool { return !slices.Contains(floatingWords, w) })
}

// repoName is the last path element of an image's repository, lowercased:
// "postgres" for docker.io/library/postgres:17 and for stackctl/base-postgres:trixie's
// "base-postgres" alike, which words() then splits.
func repoName(ref string) string {
	if ref == "" {
		return ""
	}
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		return strings.ToLower(path.Base(reference.Path(named)))
	}
	return strings.ToLower(path.Base(strings.SplitN(ref, ":", 2)[0]))
}

// words splits a repository or service name into the words families are matched on.
func words(name string) []string {
	return strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return r == '-' || r == '_' || r == '.' })
}

// sidecarWords mark an image that works on a family's service rather than being
// it: postgres-exporter is no database, mysql-backup keeps no data directory.
var sidecarWords = []string{"exporter", "backup", "admin", "cli", "client", "operator", "proxy", "pooler", "migrate", "init"}

// inFamily reports whether any of names is one of the families' images.
func inFamily(names []string, families ...string) bool {
	for _, n := range names {
		ws := words(n)
		if slices.ContainsFunc(ws, func(w string) bool { return slices.Contains(sidecarWords, w) }) {
			continue
		}
		for _, f := range families {
			if slices.Contains(ws, f) {
				return true
			}
		}
	}
	return false
}

// Families of images the rules treat specially.
var (
	databaseFamilies = []string{"postgres", "postgresql", "postgis", "mysql", "mariadb", "mongo", "mongodb", "redis", "valkey",
		"memcached", "elasticsearch", "opensearch", "cassandra", "couchdb", "influxdb", "clickhouse", "neo4j"}
	proxyFamilies = []string{"nginx", "traefik", "caddy", "haproxy", "envoy", "httpd", "apache", "openresty", "varnish"}
	// proxyServiceWords name a service that is a proxy whatever it runs.
	proxyServiceWords = []string{"proxy", "gateway", "ingress", "lb", "loadbalancer"}
)

// stateDir is where an image family keeps the data that must outlive its containers.
type stateDir struct {
	families []string
	paths    []string
	what     string
	// pgdata: the path is $PGDATA when the service sets it.
	pgdata bool
}

var stateDirs = []stateDir{
	{families: []string{"redmine"}, paths: []string{"/usr/src/redmine/files"}, what: "Redmine's attachments"},
	{families: []string{"redmine"}, paths: []string{"/usr/src/redmine/plugins"}, what: "Redmine's plugins, installed by the operator"},
	{families: []string{"postgres", "postgresql", "postgis"}, paths: []string{"/var/lib/postgresql/data"}, what: "PostgreSQL's data directory", pgdata: true},
	{families: []string{"mysql", "mariadb"}, paths: []string{"/var/lib/mysql"}, what: "the database's data directory"},
	{families: []string{"mongo", "mongodb"}, paths: []string{"/data/db"}, what: "MongoDB's data directory"},
	{families: []string{"gitea"}, paths: []string{"/data"}, what: "Gitea's repositories and data"},
	{families: []string{"nextcloud", "wordpress"}, paths: []string{"/var/www/html"}, what: "the application's files and uploads"},
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	p, dir = path.Clean(p), path.Clean(dir)
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}
