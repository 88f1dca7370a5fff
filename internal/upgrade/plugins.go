package upgrade

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/stackctl/stackctl/internal/catalog"
)

// Plugin is a Redmine plugin found in the plugins volume, and what its
// init.rb says it requires of Redmine.
type Plugin struct {
	// Name is its directory's name, as Redmine knows it.
	Name string
	// Requires is its requires_redmine declaration as written, or "" when it
	// has none.
	Requires string
	req      requirement
}

// requirement is requires_redmine read: a lowest version, exact versions (a
// version matches every release it is a prefix of, as Redmine compares them),
// or a range.
type requirement struct {
	min      string
	versions []string
	from, to string
	// exclusive says a range written with ... leaves its end out.
	exclusive bool
}

var (
	requiresLine = regexp.MustCompile(`(?m)^\s*requires_redmine\b(.*)$`)
	quoted       = `['"]([0-9][0-9.]*)['"]`
	orHigher     = regexp.MustCompile(`version_or_higher\s*(?::|=>)\s*` + quoted)
	rangeOf      = regexp.MustCompile(`version\s*(?::|=>)\s*\(?\s*` + quoted + `\s*(\.\.\.?)\s*` + quoted)
	listOf       = regexp.MustCompile(`version\s*(?::|=>)\s*\[([^\]]*)\]`)
	exactOf      = regexp.MustCompile(`version\s*(?::|=>)\s*` + quoted)
	bare         = regexp.MustCompile(`^\s*\(?\s*` + quoted)
	anyVersion   = regexp.MustCompile(quoted)
)

// parsePlugin reads the requires_redmine of a plugin's init.rb.
func parsePlugin(name, initRB string) (Plugin, error) {
	p := Plugin{Name: name}
	m := requiresLine.FindStringSubmatch(initRB)
	if m == nil {
		return p, nil
	}
	args := m[1]
	p.Requires = "requires_redmine" + strings.TrimRight(args, " \t\r")
	switch {
	case orHigher.MatchString(args):
		p.req.min = orHigher.FindStringSubmatch(args)[1]
	case rangeOf.MatchString(args):
		r := rangeOf.FindStringSubmatch(args)
		p.req.from, p.req.to, p.req.exclusive = r[1], r[3], r[2] == "..."
	case listOf.MatchString(args):
		for _, v := range anyVersion.FindAllStringSubmatch(listOf.FindStringSubmatch(args)[1], -1) {
			p.req.versions = append(p.req.versions, v[1])
		}
	case exactOf.MatchString(args):
		p.req.versions = []string{exactOf.FindStringSubmatch(args)[1]}
	case bare.MatchString(args):
		// requires_redmine '5.0' is the lowest version, as version_or_higher.
		p.req.min = bare.FindStringSubmatch(args)[1]
	default:
		return p, fmt.Errorf("plugin %s: %s: stackctl cannot read this requirement", name, p.Requires)
	}
	return p, nil
}

// Allows says whether the plugin declares it runs on Redmine version v. A
// plugin that declares nothing is taken to.
func (p Plugin) Allows(v string) bool {
	r := p.req
	switch {
	case r.min != "":
		return catalog.CompareVersions(v, r.min) >= 0
	case r.from != "":
		if comparePrefix(r.from, v) > 0 {
			return false
		}
		c := comparePrefix(r.to, v)
		return c > 0 || (c == 0 && !r.exclusive)
	case len(r.versions) > 0:
		for _, want := range r.versions {
			if comparePrefix(want, v) == 0 {
				return true
			}
		}
		return false
	}
	return true
}

// comparePrefix compares req with v on as many parts as req has, as Redmine
// compares a plugin's requirement with its own version: "6.0" is 6.0.5.
func comparePrefix(req, v string) int {
	n := len(strings.Split(req, "."))
	parts := strings.Split(v, ".")
	if len(parts) > n {
		parts = parts[:n]
	}
	return catalog.CompareVersions(req, strings.Join(parts, "."))
}

// pluginsScript prints each plugin's init.rb under a line naming its file.
const pluginsScript = `for f in "$1"/*/init.rb; do [ -f "$f" ] || continue; printf '\n==> %s <==\n' "$f"; cat "$f"; done`

// parsePlugins reads pluginsScript's output.
func parsePlugins(out string) ([]Plugin, error) {
	var ps []Plugin
	for _, part := range strings.Split(out, "\n==> ")[1:] {
		head, body, _ := strings.Cut(part, " <==\n")
		p, err := parsePlugin(path.Base(path.Dir(head)), body)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}
