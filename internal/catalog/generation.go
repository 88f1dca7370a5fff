package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Generations says which part of a stack belongs to one generation of its data,
// and how its front is pointed at the generation that serves. A generation is a
// set of the stack's data volumes (generation 1 keeps the names a stack had
// before generations existed) with the services that run on them; several can
// exist at once, one of them active behind the front.
type Generations struct {
	// Services run on one generation's data: each generation has its own.
	Services []string
	// Volumes are the data volumes: each generation has its own.
	Volumes []string
	// Links are environment variables of a generation's services that name
	// another service of the same generation (a host name).
	Links []Link
	// Front is the service that stays across generations and serves the active
	// one; App is the generation service it proxies to, on AppPort.
	Front, App string
	AppPort    uint32
	// Edge holds the network namespace and published port that the front's
	// two slots share (see FrontService): a changed front starts beside the one
	// that serves, on the same port, and the old one leaves gracefully, so no
	// connection is refused. Empty: the front publishes its port itself.
	Edge string
	// FrontVolume holds the front's choice of generation (UpstreamFile, in
	// UpstreamDir inside the front's container), so that it survives a restart
	// of the front.
	FrontVolume, UpstreamDir, UpstreamFile string
	// MaintenanceFile, beside UpstreamFile, closes the front for maintenance
	// when it holds Maintenance's text; empty, the front serves.
	MaintenanceFile string
	// TLSDir, inside the front's container, is where stackctl writes its
	// certificate and HTTPS configuration (a volume of the front's own, which
	// the front's site includes *.conf of); "": the front serves no HTTPS.
	TLSDir string
}

// MaintenanceHeader is the request header that carries the pass through
// maintenance: stackctl's own checks of what it is changing.
const MaintenanceHeader = "X-Stackctl-Pass"

// Maintenance is the front's configuration that closes it for maintenance:
// every route but its health check answers our maintenance page, HTTP 503
// with Retry-After, except a request that carries pass in MaintenanceHeader.
func (g Generations) Maintenance(pass string) string {
	return "# Written by stackctl: closed for maintenance (an upgrade under way). Do not edit: see 'stackctl status'.\n" +
		"set $maintenance \"on\";\n" +
		fmt.Sprintf("if ($http_%s = \"%s\") {\n    set $maintenance \"\";\n}\n",
			strings.ReplaceAll(strings.ToLower(MaintenanceHeader), "-", "_"), pass)
}

// A generation's App runs in one of two slots, its service named accordingly
// (redmine, redmine-b; redmine-g2, redmine-g2-b): a changed image or setting
// starts in the free slot beside the one that serves, on the same data, and the
// front is pointed over. Everything else of a generation has one container.
const (
	SlotA = 0
	SlotB = 1
)

// NoFront asks ForGeneration for a generation's services without the front.
const NoFront = -1

// FrontService is the name of the front's service in slot (nginx, nginx-b).
// Its two slots share the Edge's network namespace, each listening on the
// port with SO_REUSEPORT.
func (g Generations) FrontService(slot int) string {
	if slot == SlotB {
		return g.Front + "-b"
	}
	return g.Front
}

// AppService is the name of the App's service of generation gen in slot.
func (g Generations) AppService(gen, slot int) string {
	name := ServiceName(g.App, gen)
	if slot == SlotB {
		name += "-b"
	}
	return name
}

// ServiceIn is the name service (as the compose file names it) has in
// generation gen, its App in slot; any other service keeps its name.
func (g Generations) ServiceIn(service string, gen, slot int) string {
	switch {
	case service == g.App:
		return g.AppService(gen, slot)
	case slices.Contains(g.Services, service):
		return ServiceName(service, gen)
	}
	return service
}

// Owner says which generation a compose service name belongs to, and the slot
// of an App's service; ok is false for a service of no generation (the front).
func (g Generations) Owner(service string) (gen, slot int, ok bool) {
	for _, s := range g.Services {
		rest, found := strings.CutPrefix(service, s)
		if !found {
			continue
		}
		if s == g.App {
			if r, b := strings.CutSuffix(rest, "-b"); b {
				rest, slot = r, SlotB
			}
		}
		if gen, ok := genSuffix(rest); ok {
			return gen, slot, true
		}
	}
	return 0, 0, false
}

// genSuffix reads what ServiceName and volumeKey append to a name for
// generation gen: nothing for generation 1, "-gN" for N ≥ 2.
func genSuffix(rest string) (gen int, ok bool) {
	if rest == "" {
		return 1, true
	}
	if n, found := strings.CutPrefix(rest, "-g"); found {
		if gen, err := strconv.Atoi(n); err == nil && gen >= 2 {
			return gen, true
		}
	}
	return 0, false
}

// ConfigLabel labels a generation's containers with the hash of the service
// configuration they were made from, slot apart (see ConfigHash): a container
// whose label differs from the model's runs a changed configuration.
const ConfigLabel = "org.stackctl.config"

// ContentLabel labels a file-based config of a loaded project with the
// SHA-256 of its file, so that ConfigHash changes with what the file says:
// compose's own hash does not, and a container keeps the file it was started
// with.
const ContentLabel = "org.stackctl.content"

// ContextLabel labels an image stackctl builds with the digest of its build
// context, Dockerfile and arguments, so that a plan can tell, without
// building, whether a build would make another image.
const ContextLabel = "org.stackctl.context"

// ConfigHash identifies svc's configuration in p: equal hashes, equal
// containers (the image's content apart, which the image's ID tells). The
// configs it mounts count with their ContentLabel. Start-up order is left
// out, as compose leaves it out of its own hash.
func ConfigHash(svc types.ServiceConfig, p *types.Project) string {
	svc.CustomLabels, svc.DependsOn = nil, nil
	if svc.Build != nil && svc.Build.Labels[ContextLabel] != "" {
		// What the image is made of counts through its ID, not twice.
		b := *svc.Build
		b.Labels = maps.Clone(b.Labels)
		delete(b.Labels, ContextLabel)
		svc.Build = &b
	}
	configs := map[string]types.Labels{}
	for _, c := range svc.Configs {
		configs[c.Source] = p.Configs[c.Source].Labels
	}
	// A provided secret's value counts too (an SMTP password changed),
	// hashed with all of the service's others: a label that hashed a weak
	// password alone could be guessed from 'docker inspect', one with a
	// generated secret beside it cannot. Without one, the hash is as it was
	// before secrets counted, so that no container is replaced for it.
	var digest []byte
	if slices.ContainsFunc(svc.Secrets, func(ref types.ServiceSecretConfig) bool {
		v := p.Secrets[ref.Source].Environment
		return isProvided(ref.Source) && v != "" && p.Environment[v] != ""
	}) {
		h := sha256.New()
		for _, ref := range svc.Secrets {
			if v := p.Secrets[ref.Source].Environment; v != "" {
				fmt.Fprintf(h, "%s=%q\n", ref.Source, p.Environment[v])
			}
		}
		digest = h.Sum(nil)
	}
	b, err := json.Marshal(struct {
		Service types.ServiceConfig
		Configs map[string]types.Labels
		Secrets []byte `json:",omitempty"`
	}{svc, configs, digest})
	if err != nil {
		panic("a loaded service is always marshalable: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Link is an environment variable of Service whose value is the host name of service To.
type Link struct{ Service, Env, To string }

// ServiceName is service's name in generation gen: generation 1 keeps the
// name the compose file gives it, later ones are suffixed (redmine-g2).
func ServiceName(service string, gen int) string {
	if gen <= 1 {
		return service
	}
	return service + "-g" + strconv.Itoa(gen)
}

// VolumeName is the engine's name of volume (a compose key) of project in
// generation gen: generation 1's is compose's own (project_volume).
func VolumeName(project, volume string, gen int) string {
	return project + "_" + volumeKey(volume, gen)
}

// VolumeOwner says which generation the engine's volume name (of project)
// belongs to, if it is one of a generation's data volumes.
func (g Generations) VolumeOwner(project, name string) (gen int, ok bool) {
	key, found := strings.CutPrefix(name, project+"_")
	if !found {
		return 0, false
	}
	for _, v := range g.Volumes {
		if rest, found := strings.CutPrefix(key, v); found {
			if gen, ok := genSuffix(rest); ok {
				return gen, true
			}
		}
	}
	return 0, false
}

// volumeKey is volume's key (its name in the compose file) in generation gen.
func volumeKey(volume string, gen int) string {
	if gen <= 1 {
		return volume
	}
	return volume + "-g" + strconv.Itoa(gen)
}

// Upstream is the front's configuration that points it at generation gen's App in slot.
func (g Generations) Upstream(gen, slot int) string {
	return fmt.Sprintf("# Written by stackctl: the generation nginx serves. Do not edit: see 'stackctl generations'.\n"+
		"set $redmine http://%s:%d;\n", g.AppService(gen, slot), g.AppPort)
}

var upstreamLine = regexp.MustCompile(`(?m)^set \$[a-z]+ http://([a-z0-9-]+):[0-9]+;$`)

// ParseUpstream says which generation and slot an upstream file points at.
func (g Generations) ParseUpstream(text string) (gen, slot int, err error) {
	m := upstreamLine.FindStringSubmatch(text)
	if m != nil {
		if gen, slot, ok := g.Owner(m[1]); ok && strings.HasPrefix(m[1], g.App) {
			return gen, slot, nil
		}
	}
	return 0, 0, fmt.Errorf("the upstream file names no generation of %s: %q", g.App, text)
}

// ForGeneration returns a copy of p, st's project as loaded, holding
// generation gen's services on gen's volumes, its App in slot, with the front
// in frontSlot (pointed at gen) and its Edge, or without them (NoFront). Each
// generation service and the front carry their ConfigLabel. A stack without
// generations is p itself.
func (s Stack) ForGeneration(p *types.Project, gen, slot, frontSlot int) (*types.Project, error) {
	g := s.Generations
	if g == nil {
		return p, nil
	}
	out := *p
	out.Services = types.Services{}
	out.Volumes = types.Volumes{}
	for key, v := range p.Volumes {
		if !slices.Contains(g.Volumes, key) {
			if frontSlot != NoFront {
				out.Volumes[key] = v
			}
			continue
		}
		// Its own key too: compose matches volumes to keys by label, and one
		// key over several generations' volumes would be ambiguous.
		v.Name = VolumeName(p.Name, key, gen)
		out.Volumes[volumeKey(key, gen)] = v
	}
	for _, name := range g.Services {
		svc, ok := p.Services[name]
		if !ok {
			return nil, fmt.Errorf("stack %s: generation service %s is not in its compose file", s.Name, name)
		}
		// svc is a copy; the maps changed below are cloned, the rest is shared and left alone.
		svc.Name = ServiceName(name, gen)
		deps := types.DependsOnConfig{}
		for dep, d := range svc.DependsOn {
			deps[g.ServiceIn(dep, gen, slot)] = d
		}
		svc.DependsOn = deps
		svc.Volumes = slices.Clone(svc.Volumes)
		for i, v := range svc.Volumes {
			if v.Type == types.VolumeTypeVolume && slices.Contains(g.Volumes, v.Source) {
				svc.Volumes[i].Source = volumeKey(v.Source, gen)
			}
		}
		svc.Environment = maps.Clone(svc.Environment)
		for _, l := range g.Links {
			if l.Service == name {
				svc.Environment[l.Env] = ptr(ServiceName(l.To, gen))
			}
		}
		// Hashed before the slot names it: the two slots of one configuration are equal.
		svc.CustomLabels = types.Labels{ConfigLabel: ConfigHash(svc, p)}
		svc.Name = g.ServiceIn(name, gen, slot)
		out.Services[svc.Name] = svc
	}
	if frontSlot != NoFront {
		f, ok := p.Services[g.Front]
		if !ok {
			return nil, fmt.Errorf("stack %s: front service %s is not in its compose file", s.Name, g.Front)
		}
		// Start-up order only: the hash compose compares leaves depends_on out, so
		// pointing the front at another generation does not recreate it.
		deps := types.DependsOnConfig{g.AppService(gen, slot): {Condition: types.ServiceConditionHealthy, Required: true}}
		if d, ok := f.DependsOn[g.Edge]; ok && g.Edge != "" {
			deps[g.Edge] = d // its network namespace: the loader's implied dependency
		}
		f.DependsOn = deps
		// Hashed before the slot names it, as the App is.
		f.CustomLabels = types.Labels{ConfigLabel: ConfigHash(f, p)}
		f.Name = g.FrontService(frontSlot)
		out.Services[f.Name] = f
		if g.Edge != "" {
			e, ok := p.Services[g.Edge]
			if !ok {
				return nil, fmt.Errorf("stack %s: edge service %s is not in its compose file", s.Name, g.Edge)
			}
			e.CustomLabels = types.Labels{ConfigLabel: ConfigHash(e, p)}
			out.Services[g.Edge] = e
		}
	}
	return &out, nil
}

// isData says whether volume is data, and so belongs to a generation: one of
// Generations' volumes, or any named volume of a stack without them.
func (s Stack) isData(volume string) bool {
	return s.Generations == nil || slices.Contains(s.Generations.Volumes, volume)
}

// ForGeneration names p's volumes as generation gen has them.
func (p Persistence) ForGeneration(project string, gen int) Persistence {
	out := Persistence{Database: p.Database}
	for _, mt := range p.Mounts {
		mt.Name = VolumeName(project, mt.Volume, gen)
		out.Mounts = append(out.Mounts, mt)
	}
	return out
}
