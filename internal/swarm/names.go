package swarm

import (
	"context"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/catalog"
)

// Services are the services of st's Swarm form, by the names its compose file gives them.
func Services(st catalog.Stack) []string { return []string{"db", st.Name, "nginx"} }

// Built are the services of st's Swarm form whose images stackctl builds.
func Built(st catalog.Stack) []string { return []string{st.Name, "nginx"} }

// RegistryRef is image's name under registry (REGISTRY[/PREFIX]), keeping its
// path and tag: stackctl/redmine:debian becomes REGISTRY/stackctl/redmine:debian,
// postgres:17 REGISTRY/postgres:17.
func RegistryRef(registry, image string) string {
	path := image
	if named, err := reference.ParseNormalizedNamed(image); err == nil {
		path = reference.Path(named)
		path = strings.TrimPrefix(path, "library/")
		if t, ok := named.(reference.Tagged); ok {
			path += ":" + t.Tag()
		}
	}
	return strings.TrimSuffix(registry, "/") + "/" + path
}

// Manager is the address the manager advertises to the swarm (one of the
// nodes nginx answers on) and its node's hostname.
func (d Deployer) Manager(ctx context.Context) (addr, hostname string, err error) {
	info, err := d.API.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", "", fmt.Errorf("asking the manager its address: %w", err)
	}
	return info.Info.Swarm.NodeAddr, info.Info.Name, nil
}
