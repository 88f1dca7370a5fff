package catalog

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/stackctl/stackctl/internal/errs"
)

// Base is an image a stack builds FROM, with its two interchangeable sources: a
// pinned official image, and a Debian-built twin that honours the same contract
// (docs/image-contracts.md).
type Base struct {
	// Name identifies the base in commands and image names: "nginx".
	Name string
	// Var is the compose interpolation variable that carries the chosen reference
	// into the stack's build args, so one compose file serves both profiles.
	Var string
	// Upstream is the official image, pinned to a tag.
	Upstream string
	// Recipe builds the debian twin.
	Recipe Recipe
}

// DebianRef is the tag stackctl gives the debian twin it builds.
func (b Base) DebianRef() string { return "stackctl/base-" + b.Name + ":" + b.Recipe.Suite }

// Ref is the reference a stack builds FROM under profile p (upstream or debian).
func (b Base) Ref(p Profile) string {
	if p == ProfileDebian {
		return b.DebianRef()
	}
	return b.Upstream
}

// Stack is one stack stackctl can run: a typed compose model, the bases it
// needs, its secrets and what its first start sets up. It is data: the runner
// in internal/stack does what it says.
type Stack struct {
	Name string
	// Instance tells apart copies of the stack on one engine (two trackers
	// on one host): it suffixes the compose project, and so the stack's
	// containers, networks and volumes, and the tags of the images it
	// builds. "" is the stack itself.
	Instance string
	// Entry is the service that publishes the stack's URL, and EntryPort its container port.
	Entry     string
	EntryPort uint32
	// BaseNames are the bases the stack's images build FROM (see Bases).
	BaseNames []string
	// Model is the typed compose model the stack's compose file is generated from.
	Model func() *types.Project
	// Secrets are generated on first start and handed over as files.
	Secrets []Secret
	// FirstStart runs once, after the stack's first healthy start; nil for none.
	FirstStart *FirstStart
	// Database is the PostgreSQL a backup dumps rather than copies; nil for none.
	Database *Database
	// Generations, for a stack with data, says what belongs to one generation of it.
	Generations *Generations
	// Releases says the stack comes in releases (see Release): its redmine
	// and postgres bases are the release's.
	Releases bool
	// SettingsTable is the table of its Database where the application keeps
	// its settings (Redmine's settings), which up writes Site.AppSettings
	// into; "" for none.
	SettingsTable string
	// Puma says its application runs in Puma, sized by Site's Puma fields.
	Puma bool
	// ProvidedSecrets are secrets the operator provides through the site's
	// settings (Site.Secrets), handed over as the generated ones are; one not
	// provided is empty.
	ProvidedSecrets []Secret
	// MailIn says its application has mail, out (Site.Mail.SMTP) and in
	// (Site.Mail.IMAP, a mailbox it polls), and how stackctl lets one
	// container at a time poll; nil for a stack without mail.
	MailIn *MailIn
	// MailTest sends a test mail through the application; nil for a stack
	// without mail.
	MailTest *MailTest
}

// FirstStart is a command run once in a service's container, after a stack's
// first healthy start: what an administrator would otherwise click through.
type FirstStart struct {
	Service string
	Command []string
	// StdinSecret names the secret fed to the command on standard input, so
	// that it never appears in an argument, the environment or a log.
	StdinSecret string
	// Says is the progress line shown while it runs.
	Says string
	// Job is the command of the one-off job that does the same on a swarm,
	// where stackctl cannot exec in a container: it first writes the site's
	// application settings (AppSettings, which up writes with SQL on one
	// engine), then runs Command, its secret on standard input.
	Job func(appSettings map[string]string) []string
}

// HasSecret says whether the stack has the secret called name.
func (s Stack) HasSecret(name string) bool {
	return slices.ContainsFunc(s.Secrets, func(x Secret) bool { return x.Name == name })
}

// Database is a stack's PostgreSQL: the service that runs it, the named volume
// that holds its data, and the role and database the stack uses.
type Database struct {
	Service, Volume, User, Name string
}

// Mount is a named volume of a stack and where a service mounts it.
type Mount struct {
	// Volume is the name in the compose file; Name the engine's (project-prefixed).
	Volume, Name    string
	Service, Target string
}

// Persistence is what of a stack must survive: its named volumes, and the
// database among them.
type Persistence struct {
	Database *Database
	Mounts   []Mount
}

// PersistenceOf lists the data volumes of st's loaded project p, each with the
// first service (by name) that mounts it, sorted by volume.
func PersistenceOf(st Stack, p *types.Project) Persistence {
	seen := map[string]bool{}
	var ms []Mount
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, v := range p.Services[name].Volumes {
			if v.Type != types.VolumeTypeVolume || seen[v.Source] || !st.isData(v.Source) {
				continue
			}
			vol, ok := p.Volumes[v.Source]
			if !ok {
				continue
			}
			seen[v.Source] = true
			ms = append(ms, Mount{Volume: v.Source, Name: vol.Name, Service: name, Target: v.Target})
		}
	}
	slices.SortFunc(ms, func(a, b Mount) int { return strings.Compare(a.Volume, b.Volume) })
	return Persistence{Database: st.Database, Mounts: ms}
}

// ImageRef is the image a stack builds for itself under profile p (nginx: our
// nginx; redmine: our Redmine with its themes) on release (of a stack with
// releases; "": the default one), the one an operator publishes.
func (s Stack) ImageRef(p Profile, release string) string {
	tag := string(p)
	if rel, err := LookupRelease(release); err == nil && s.Releases {
		tag = rel.Tag(p)
	}
	return "stackctl/" + s.Name + ":" + s.instanceTag(tag)
}

// instanceTag is tag for the stack's instance: another instance's builds,
// from another site's themes, never move its tags.
func (s Stack) instanceTag(tag string) string {
	if s.Instance == "" {
		return tag
	}
	return tag + "-" + s.Instance
}

// ComposeProject is the compose project name, which prefixes the stack's containers and volumes.
func (s Stack) ComposeProject() string {
	if s.Instance == "" {
		return "stackctl-" + s.Name
	}
	return "stackctl-" + s.Name + "-" + s.Instance
}

// instanceName is what an instance may be called: what stays a valid
// compose project name and image tag once appended.
var instanceName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}$`)

// CheckInstance refuses an instance name that cannot name a compose project
// and an image tag.
func CheckInstance(name string) error {
	if name != "" && !instanceName.MatchString(name) {
		return fmt.Errorf("%w: instance %q: give lower-case letters, digits and dashes (at most 31, not starting with a dash), such as team2", errs.ErrInvalidInput, name)
	}
	return nil
}

// Bases returns the bases the stack is built on (on the default release), in a stable order.
func (s Stack) Bases() []Base {
	rel, _ := LookupRelease(DefaultRelease)
	return s.BasesFor(rel)
}

// BasesFor returns the bases the stack is built on for release rel, in a stable order.
func (s Stack) BasesFor(rel Release) []Base {
	out := make([]Base, 0, len(s.BaseNames))
	for _, n := range s.BaseNames {
		b := bases[n]
		if s.Releases {
			switch n {
			case "redmine":
				b = redmineBaseFor(rel)
			case "postgres":
				b = postgresBaseFor(rel)
			}
		}
		out = append(out, b)
	}
	return out
}

// debianBase is plain Debian 13 with a working apt, for images that install what
// they need themselves (the kernel build): debian:trixie upstream, the same suite
// from the mirror on the debian side, its sources pointing at that mirror.
var debianBase = Base{
	Name:     "debian",
	Var:      "STACKCTL_DEBIAN_BASE",
	Upstream: "debian:trixie",
	Recipe: Recipe{
		Suite:    "trixie",
		Variant:  "apt",
		Packages: []string{"ca-certificates"},
		DpkgOpts: DocsExcluded,
		Changes: []string{
			"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			`CMD ["bash"]`,
		},
	},
}

// bases are keyed by name, and by name:suite for the bases of releases other
// than the default (redmine:forky), as their images are tagged.
var bases = func() map[string]Base {
	m := map[string]Base{"debian": debianBase, "nginx": nginxBase}
	for _, rel := range releases {
		for _, b := range []Base{redmineBaseFor(rel), postgresBaseFor(rel)} {
			key := b.Name + ":" + rel.Suite
			if rel.Name == DefaultRelease {
				key = b.Name
			}
			m[key] = b
		}
	}
	return m
}()

var stacks = map[string]Stack{
	"nginx": {Name: "nginx", Entry: "nginx", EntryPort: nginxPort, BaseNames: []string{"nginx"}, Model: nginxModel},
	"redmine": {
		Name: "redmine", Entry: "nginx", EntryPort: nginxPort,
		BaseNames:       []string{"nginx", "redmine", "postgres"},
		Releases:        true,
		Model:           redmineModel,
		Secrets:         []Secret{secretDBPassword, secretKeyBase, secretAdminPassword},
		FirstStart:      redmineFirstStart,
		SettingsTable:   "settings",
		Puma:            true,
		ProvidedSecrets: []Secret{secretSMTPPassword, secretIMAPPassword},
		MailIn:          redmineMailIn,
		MailTest:        redmineMailTest,
		Database:        &Database{Service: "db", Volume: volDB, User: redmineUser, Name: redmineDB},
		Generations: &Generations{
			Services: []string{"db", "redmine"},
			Volumes:  []string{volDB, volFiles, volPlugins},
			Links:    []Link{{Service: "redmine", Env: "REDMINE_DB_POSTGRES", To: "db"}},
			Front:    "nginx", App: "redmine", AppPort: redminePort, Edge: "edge",
			FrontVolume: volUpstream, UpstreamDir: upstreamDir, UpstreamFile: "generation.conf",
			MaintenanceFile: "maintenance.conf",
			TLSDir:          tlsDir,
		},
	},
}

// StackNames lists the stacks stackctl knows, sorted.
func StackNames() []string { return slices.Sorted(maps.Keys(stacks)) }

// BaseNames lists the bases stackctl can build, sorted.
func BaseNames() []string { return slices.Sorted(maps.Keys(bases)) }

// LookupStack returns the stack called name.
func LookupStack(name string) (Stack, error) {
	s, ok := stacks[name]
	if !ok {
		return Stack{}, fmt.Errorf("%w: unknown stack %q: known stacks are %s", errs.ErrInvalidInput, name, strings.Join(StackNames(), ", "))
	}
	return s, nil
}

// LookupBase returns the base called name.
func LookupBase(name string) (Base, error) {
	b, ok := bases[name]
	if !ok {
		return Base{}, fmt.Errorf("%w: unknown base %q: known bases are %s", errs.ErrInvalidInput, name, strings.Join(BaseNames(), ", "))
	}
	return b, nil
}
