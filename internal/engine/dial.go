package engine

import (
	"fmt"

	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/errs"
)

// Dial is a client of the engine at host (tcp://…, unix://…; ssh is not
// supported), or of DOCKER_HOST's engine when host is empty: a swarm's
// manager or data node. It does not connect until first used.
func Dial(host string) (client.APIClient, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: the engine at %q: %v", errs.ErrInvalidInput, host, err)
	}
	return c, nil
}
