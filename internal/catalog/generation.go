package catalog

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

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
	// FrontVolume holds the front's choice of generation (UpstreamFile, in
	// UpstreamDir inside the front's container), so that it survives a restart
	// of the front.
	FrontVolume, UpstreamDir, UpstreamFile string
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

// volumeKey is volume's key (its name in the compose file) in generation gen.
func volumeKey(volume string, gen int) string {
	if gen <= 1 {
		return volume
	}
	return volume + "-g" + strconv.Itoa(gen)
}

// Upstream is the front's configuration that points it at generation gen.
func (g Generations) Upstream(gen int) string {
	return fmt.Sprintf("# Written by stackctl: the generation nginx serves. Do not edit: see 'stackctl generations'.\n"+
		"set $redmine http://%s:%d;\n", ServiceName(g.App, gen), g.AppPort)
}

// ForGeneration returns a copy of p, st's project as loaded, holding
// generation gen's services on gen's volumes, with the front (pointed at gen)
// when front is set, or without it. A stack without generations is p itself.
func (s Stack) ForGeneration(p *types.Project, gen int, front bool) (*types.Project, error) {
	g := s.Generations
	if g == nil {
		return p, nil
	}
	out := *p
	out.Services = types.Services{}
	out.Volumes = types.Volumes{}
	for key, v := range p.Volumes {
		if !slices.Contains(g.Volumes, key) {
			if front {
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
			deps[ServiceName(dep, gen)] = d
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
		// Labels name the service: whoever labels the project does so after this.
		svc.CustomLabels = nil
		out.Services[svc.Name] = svc
	}
	if front {
		f, ok := p.Services[g.Front]
		if !ok {
			return nil, fmt.Errorf("stack %s: front service %s is not in its compose file", s.Name, g.Front)
		}
		// Start-up order only: the hash compose compares leaves depends_on out, so
		// pointing the front at another generation does not recreate it.
		f.DependsOn = types.DependsOnConfig{ServiceName(g.App, gen): {Condition: types.ServiceConditionHealthy, Required: true}}
		out.Services[g.Front] = f
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
