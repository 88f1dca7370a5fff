package stack

import (
	"cmp"
	"context"
	"fmt"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
)

// Access is how a check reaches a running stack from the host.
type Access struct {
	// Front reaches it through nginx, over HTTPS when nginx serves it.
	Front Front
	// Image is the stack's own image under its recorded profile.
	Image string
	// AdminPasswordFile holds the administrator's password stackctl manages.
	AdminPasswordFile string
	// Engine is this engine, which holds Image.
	Engine *engine.Engine
}

// Access describes st as last started. It fails with errs.ErrNotRunning when the
// stack was never started or service is not running.
func (r Runner) Access(ctx context.Context, service string) (Access, error) {
	st := r.Stack
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return Access{}, err
	}
	if rec.Profile == "" {
		return Access{}, fmt.Errorf("%w: stack %s was never started: start it with 'stackctl up %s'", errs.ErrNotRunning, st.Name, st.Name)
	}
	image := st.ImageRef(rec.Profile, rec.ReleaseOf(rec.Active))
	e, _ := r.Engine.(*engine.Engine)
	if rec.Swarm != nil {
		if rec.Swarm.URL == "" || rec.Swarm.Down {
			return Access{}, fmt.Errorf("%w: stack %s is not serving on its swarm: deploy it with 'stackctl up %s'", errs.ErrNotRunning, st.Name, st.Name)
		}
		// On a swarm: through nginx on the manager's node, with the image
		// this engine built and pushed.
		return Access{Front: Front{URL: rec.Swarm.URL, Open: rec.Swarm.URL}, Image: image,
			AdminPasswordFile: r.State.SecretPath(st.Name, catalog.AdminPassword), Engine: e}, nil
	}
	if _, err := r.Container(ctx, service); err != nil {
		return Access{}, err
	}
	front, err := r.front(cmp.Or(rec.Listen, catalog.DefaultListen))
	if err != nil {
		return Access{}, err
	}
	return Access{
		Front:             front,
		Image:             image,
		AdminPasswordFile: r.State.SecretPath(st.Name, catalog.AdminPassword),
		Engine:            e,
	}, nil
}
