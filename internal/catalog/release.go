package catalog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/stackctl/stackctl/internal/errs"
)

// Release is one line of the Redmine stack: a Redmine version and the
// PostgreSQL major it runs on, as each profile carries them. On the debian
// profile a release is a Debian suite (its redmine and postgresql packages,
// built into bases by stackctl); upstream, pinned official tags. A generation
// of the stack runs one release; 'stackctl upgrade' makes a generation on a
// newer one.
type Release struct {
	// Name is Redmine's minor line, "6.1": what a generation records.
	Name string
	// Redmine is the version Debian's package brings on the debian profile,
	// RedmineUpstream the official image's tag.
	Redmine, RedmineUpstream string
	// Postgres is the PostgreSQL major, the same on both profiles.
	Postgres int
	// Suite is the Debian suite the debian bases are built from.
	Suite string
	// RedminePackages are the suite's Redmine packages: trixie's carry every
	// database adapter, as the official image does; forky's adapters exclude
	// each other, and it has no MySQL one.
	RedminePackages []string
	// AptOpts are apt options its bases need from the mirror.
	AptOpts []string
	// NoLocaleAlias says the suite's glibc ships no locale.alias (forky's
	// does not), which localedef then goes without.
	NoLocaleAlias bool
}

// DefaultRelease is the line a new stack starts on, and the one a generation
// that records none runs: Debian's stable release.
const DefaultRelease = "6.0"

var releases = []Release{
	{
		Name: "6.0", Redmine: "6.0.5", RedmineUpstream: "6.0.10", Postgres: 17, Suite: "trixie",
		// The official image carries every database adapter; so does its twin.
		RedminePackages: []string{"redmine", "redmine-pgsql", "redmine-sqlite", "redmine-mysql"},
	},
	{
		// Debian 14 "forky", testing: mirrors may serve a Release file past its
		// Valid-Until between the archive's updates, which apt refuses by default.
		Name: "6.1", Redmine: "6.1.5", RedmineUpstream: "6.1.0", Postgres: 18, Suite: "forky",
		// Its database adapters conflict with each other: PostgreSQL's, the one the stack uses.
		RedminePackages: []string{"redmine", "redmine-pgsql"},
		AptOpts:         []string{`Acquire::Check-Valid-Until "false"`},
		NoLocaleAlias:   true,
	},
}

// Releases lists the Redmine stack's releases, oldest first.
func Releases() []Release { return slices.Clone(releases) }

// LookupRelease returns the release called name ("" is DefaultRelease).
func LookupRelease(name string) (Release, error) {
	if name == "" {
		name = DefaultRelease
	}
	for _, r := range releases {
		if r.Name == name {
			return r, nil
		}
	}
	return Release{}, fmt.Errorf("%w: unknown release %q: known releases are %s", errs.ErrInvalidInput, name, releaseNames())
}

// ReleaseOf finds the release whose Redmine on profile p is version: its
// exact version ("6.1.5") or its line ("6.1").
func ReleaseOf(p Profile, version string) (Release, error) {
	for _, r := range releases {
		if version == r.Name || version == r.Version(p) {
			return r, nil
		}
	}
	var known []string
	for _, r := range releases {
		known = append(known, r.Version(p))
	}
	return Release{}, fmt.Errorf("%w: no release of Redmine %s on the %s profile: known versions are %s", errs.ErrInvalidInput, version, p, strings.Join(known, ", "))
}

func releaseNames() string {
	var names []string
	for _, r := range releases {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

// Version is the Redmine version the release runs on profile p.
func (r Release) Version(p Profile) string {
	if p == ProfileDebian {
		return r.Redmine
	}
	return r.RedmineUpstream
}

// PostgresMount is where the database volume is mounted, and PostgresData
// the data directory (PGDATA) under it: the official images' layout, which
// changed with PostgreSQL 18 (a volume at /var/lib/postgresql, the cluster in
// a directory named by its major, so that pg_upgrade finds both), and so the
// debian twins' too.
func (r Release) PostgresMount() string {
	if r.Postgres >= 18 {
		return "/var/lib/postgresql"
	}
	return "/var/lib/postgresql/data"
}

// PostgresData is the data directory; see PostgresMount.
func (r Release) PostgresData() string {
	if r.Postgres >= 18 {
		return fmt.Sprintf("/var/lib/postgresql/%d/docker", r.Postgres)
	}
	return "/var/lib/postgresql/data"
}

// Newer says whether r is a later line than o.
func (r Release) Newer(o Release) bool { return CompareVersions(r.Name, o.Name) > 0 }

// Tag is the tag of the Redmine image stackctl builds for the release on
// profile p: the profile for the default release (the tag a stack had before
// releases existed), profile-line for the others.
func (r Release) Tag(p Profile) string {
	if r.Name == DefaultRelease {
		return string(p)
	}
	return string(p) + "-" + r.Name
}

// CompareVersions compares dotted version numbers ("6.1.5", "6.1"): -1, 0 or 1.
// A missing part counts as 0; a part that is not a number compares as text.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(pa), len(pb)) {
		x, y := "0", "0"
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		nx, ex := strconv.Atoi(x)
		ny, ey := strconv.Atoi(y)
		switch {
		case ex == nil && ey == nil && nx != ny:
			if nx < ny {
				return -1
			}
			return 1
		case (ex != nil || ey != nil) && x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}
