package stack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/compose/v5/pkg/api"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/hostport"
)

// ErrPortInUse: an address up would publish the stack on is held by another
// process or container.
var ErrPortInUse = errors.New("address in use")

// hostAddr is one host address and TCP port a project publishes, and the
// container port behind it.
type hostAddr struct {
	host         string
	port, target int
}

func (a hostAddr) String() string { return net.JoinHostPort(a.host, strconv.Itoa(a.port)) }

// publishedAddrs lists the host addresses p's services publish on (TCP), in
// the order of the services' names.
func publishedAddrs(p *types.Project) []hostAddr {
	var out []hostAddr
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, pc := range p.Services[name].Ports {
			port, err := strconv.Atoi(pc.Published)
			if err != nil || cmp.Or(pc.Protocol, "tcp") != "tcp" {
				continue // none, a range or UDP: nothing the catalogue publishes
			}
			a := hostAddr{host: cmp.Or(pc.HostIP, "0.0.0.0"), port: port, target: int(pc.Target)}
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// checkPorts refuses an address p publishes on that something else on this
// host holds, before up builds, makes or records anything: the engine would
// refuse it only as it starts the containers it created. A port the stack's
// own containers publish is not busy: up recreates its edge (or nginx) on
// it, and nginx's hand-over keeps the edge that holds it.
func (r Runner) checkPorts(ctx context.Context, p *types.Project) error {
	addrs := publishedAddrs(p)
	if len(addrs) == 0 {
		return nil
	}
	if !r.Engine.Local() {
		// A remote engine publishes on its own host, which cannot be tried
		// from here: its refusal is told the same way, afterwards (start).
		return nil
	}
	cs, err := r.Compose.Ps(ctx, p.Name, api.PsOptions{All: true})
	if err != nil {
		return fmt.Errorf("listing %s: %w", r.Stack.Name, err)
	}
	for _, a := range addrs {
		if !ownPort(cs, a.port) && hostport.Held(a.host, a.port) {
			return r.portInUse(ctx, a, true)
		}
	}
	return nil
}

// ownPort says whether one of the stack's containers cs publishes port (TCP).
func ownPort(cs []api.ContainerSummary, port int) bool {
	return slices.ContainsFunc(cs, func(c api.ContainerSummary) bool {
		return slices.ContainsFunc(c.Publishers, func(p api.PortPublisher) bool {
			return p.PublishedPort == port && cmp.Or(p.Protocol, "tcp") == "tcp"
		})
	})
}

// portInUse is the refusal of a: which container publishes it, else on
// this host (local) which process holds it where /proc tells, and where
// else the operator may publish the stack.
func (r Runner) portInUse(ctx context.Context, a hostAddr, local bool) error {
	st := r.Stack
	who := "something on the engine's host holds it"
	switch names, err := r.Engine.PublishedBy(ctx, a.host, a.port); {
	case err == nil && len(names) > 0:
		who = "container " + strings.Join(names, ", ") + " publishes it"
	case local:
		who = "another process holds it"
		if h := hostport.Holder(a.host, a.port); h != "" {
			who += " (" + h + ")"
		} else {
			who += fmt.Sprintf(" ('sudo ss -ltnp sport = :%d' names it)", a.port)
		}
	}
	setting := "--listen, or listen:"
	if r.Overrides.HTTPS && a.target != catalog.HTTPSPort {
		setting = "http_listen:" // plain HTTP beside HTTPS
	}
	return fmt.Errorf("%w: stack %s cannot publish on %s: %s: stop it, or publish the stack on another address with %s in stackctl.yaml",
		ErrPortInUse, st.Name, a, who, setting)
}

// portError is err, the engine's refusal to publish one of p's addresses
// (its proxy's "bind: address already in use", or "port is already
// allocated" to another container, each naming the address), told as
// checkPorts tells it; any other error as it is. checkPorts cannot try a
// remote engine's host, nor keep a process from binding the port after it
// looked.
func (r Runner) portError(ctx context.Context, p *types.Project, err error) error {
	if err == nil || !strings.Contains(err.Error(), "address already in use") && !strings.Contains(err.Error(), "port is already allocated") {
		return err
	}
	for _, a := range publishedAddrs(p) {
		if strings.Contains(err.Error(), a.String()) {
			return r.portInUse(ctx, a, r.Engine.Local())
		}
	}
	return err
}
