package patch

import (
	"archive/tar"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/basebuild"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/updates"
)

// Images is what a check needs of the engine; engine.Engine has it.
type Images interface {
	// Image returns image ref; found is false when there is none.
	Image(ctx context.Context, ref string) (info engine.ImageInfo, found bool, err error)
	// ImageTar returns path in image as a tar stream.
	ImageTar(ctx context.Context, image, path string) (io.ReadCloser, error)
	// ContainerImage is the ID of the image container runs.
	ContainerImage(ctx context.Context, container string) (string, error)
}

// Image is one of a stack's images, and what Debian has fixed since it was built.
type Image struct {
	// Image is what was checked: a base's tag, or the ID of the image services run.
	Image string `json:"image"`
	// Base is the debian base it is, or is built on.
	Base string `json:"base"`
	// Services run it; none for a base's tag.
	Services []string         `json:"services,omitempty"`
	Updates  []updates.Update `json:"updates"`
	// Held says why up leaves it as it runs (the edge: see stack.KeptEdge);
	// its fixes are not counted as pending.
	Held string `json:"held,omitempty"`
	// Redmine is the version of Debian's redmine package in it, if any:
	// Debian's Redmine carries Debian's backported fixes.
	Redmine string `json:"redmine_package,omitempty"`
	// Waiting is since when the oldest of its updates waits: when it
	// reached the mirror, or, where the mirror does not say, when a check
	// first found it pending (WaitingFrom says which); zero with none.
	Waiting     time.Time `json:"waiting_since,omitzero"`
	WaitingFrom string    `json:"waiting_from,omitempty"`
}

// Pending is what a check found.
type Pending struct {
	// Suites are where the fixes were looked for.
	Suites []updates.Suite `json:"suites"`
	// Running are the images the stack's services run now.
	Running []Image `json:"running"`
	// Bases are the bases' tags, which the stack's images are built from.
	Bases []Image `json:"bases"`
}

// SuiteNames names the suites looked in: "trixie-security and trixie-updates".
func (p Pending) SuiteNames() string {
	var names []string
	for _, s := range p.Suites {
		names = append(names, s.Name)
	}
	return strings.Join(names, " and ")
}

// Count is the number of fixes pending in what runs, but for images held.
func (p Pending) Count() int {
	n := 0
	for _, im := range p.Running {
		if im.Held == "" {
			n += len(im.Updates)
		}
	}
	return n
}

// Suites are the suites fixes to suite come from: its security suite on
// src's security mirror and, unless securityOnly, its stable updates.
func Suites(src basebuild.Sources, suite string, securityOnly bool) []updates.Suite {
	out := []updates.Suite{{Mirror: src.Security, Name: suite + "-security"}}
	if !securityOnly {
		out = append(out, updates.Suite{Mirror: src.Mirror, Name: suite + "-updates"})
	}
	return out
}

// checker reads the images of one stack against the suites' indexes,
// fetching each architecture's index once.
type checker struct {
	images  Images
	fetcher *updates.Fetcher
	suites  []updates.Suite
	indexes map[string][]*updates.Index // by architecture
}

// Check finds what sk's running images, and its debian bases, hold that
// Debian has fixed since. Only a stack on the debian profile is checked: an
// upstream stack's images come patched from Docker Hub (see docs/updates.md).
func Check(ctx context.Context, sk *stack.Stack, o Options) (Pending, error) {
	t, err := open(ctx, sk)
	if err != nil {
		return Pending{}, err
	}
	return check(ctx, sk, t, o)
}

// check is Check on the stack open already as t.
func check(ctx context.Context, sk *stack.Stack, t target, o Options) (Pending, error) {
	st, r, e, rel := sk.Def, t.r, t.e, t.rel
	if t.rec.Profile != catalog.ProfileDebian {
		return Pending{}, fmt.Errorf("%w: stack %s runs the official images (profile %s), which Docker Hub rebuilds with Debian's fixes: "+
			"'stackctl update %s' pulls its release's tags again and hands what moved over (docs/updates.md)", ErrUpstream, st.Name, t.rec.Profile, st.Name)
	}
	c, err := newChecker(e, rel, o)
	if err != nil {
		return Pending{}, err
	}
	var services []string
	if g := st.Generations; g != nil {
		services = append(services, g.App, g.Front, g.Edge)
	}
	if d := st.Database; d != nil {
		services = append(services, d.Service)
	}
	running := map[string]string{} // service -> image ID
	for _, svc := range slices.Compact(services) {
		id, err := r.Container(ctx, svc)
		if errors.Is(err, errs.ErrNotRunning) {
			continue
		}
		if err != nil {
			return Pending{}, err
		}
		if running[svc], err = e.ContainerImage(ctx, id); err != nil {
			return Pending{}, err
		}
	}
	var bases []string
	for _, b := range st.BasesFor(rel) {
		bases = append(bases, b.DebianRef())
	}
	p, err := c.check(ctx, running, bases)
	if err != nil {
		return Pending{}, err
	}
	firstSeen(r.State.StackDir(st.Name), &p, time.Now())
	for i, im := range p.Running {
		if g := st.Generations; g != nil && slices.Equal(im.Services, []string{g.Edge}) {
			p.Running[i].Held = stack.KeptEdge
		}
	}
	return p, nil
}

// target is the stack an update or its check works on.
type target struct {
	r   stack.Runner
	e   *engine.Engine
	rec state.State
	rel catalog.Release
}

func open(ctx context.Context, sk *stack.Stack) (target, error) {
	r, err := sk.OnEngine(ctx, stack.VerbUpdate)
	if err != nil {
		return target{}, err
	}
	e, ok := r.Engine.(*engine.Engine)
	if !ok {
		return target{}, fmt.Errorf("stack %s: its engine is not one stackctl can read images from (a test's stand-in?)", sk.Def.Name)
	}
	st := sk.Def
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return target{}, err
	}
	if rec.Profile == "" {
		return target{}, fmt.Errorf("%w: stack %s was never started: start it with 'stackctl up %s'", errs.ErrNotRunning, st.Name, st.Name)
	}
	if st.Generations == nil {
		return target{}, fmt.Errorf("%w: stack %s keeps no data, and update is for the stacks that do: "+
			"'stackctl up %s --rebuild-bases' builds it on bases with Debian's latest fixes", errs.ErrInvalidInput, st.Name, st.Name)
	}
	rel, err := catalog.LookupRelease(rec.ReleaseOf(rec.Active))
	if err != nil {
		return target{}, err
	}
	return target{r: r, e: e, rec: rec, rel: rel}, nil
}

// ErrUpstream is a check of a stack on the official images, whose packages
// stackctl does not build.
var ErrUpstream = fmt.Errorf("%w: not a debian stack", errs.ErrInvalidInput)

func newChecker(images Images, rel catalog.Release, o Options) (*checker, error) {
	src, alone, err := basebuild.NewSources(o.Mirror, "")
	if err != nil {
		return nil, err
	}
	if alone {
		return nil, fmt.Errorf("%w: %s=none: no security archive to look for fixes in: unset it, or set it to a mirror of debian-security",
			errs.ErrInvalidInput, basebuild.SecurityMirrorEnv)
	}
	f := o.Fetcher
	if f == nil {
		keys, err := updates.LoadKeyring(cmp.Or(o.Keyring, updates.DefaultKeyring))
		if err != nil {
			return nil, err
		}
		f = &updates.Fetcher{Keyring: keys, CheckValidUntil: checksValidUntil(rel)}
	}
	return &checker{images: images, fetcher: f, suites: Suites(src, rel.Suite, o.SecurityOnly), indexes: map[string][]*updates.Index{}}, nil
}

// checksValidUntil is false for a release whose suite apt is told not to
// check for staleness (forky on a mirror past its Valid-Until).
func checksValidUntil(rel catalog.Release) bool {
	return !slices.ContainsFunc(rel.AptOpts, func(o string) bool { return strings.Contains(o, "Check-Valid-Until") })
}

// check reads running (service -> image ID) and the bases' tags.
func (c *checker) check(ctx context.Context, running map[string]string, bases []string) (Pending, error) {
	out := Pending{Suites: c.suites, Running: []Image{}, Bases: []Image{}}
	byImage := map[string][]string{}
	for _, svc := range slices.Sorted(maps.Keys(running)) {
		byImage[running[svc]] = append(byImage[running[svc]], svc)
	}
	for _, id := range slices.SortedFunc(maps.Keys(byImage), func(a, b string) int { return strings.Compare(byImage[a][0], byImage[b][0]) }) {
		im, _, err := c.image(ctx, id)
		if err != nil {
			return Pending{}, err
		}
		im.Services = byImage[id]
		out.Running = append(out.Running, im)
	}
	for _, ref := range bases {
		im, found, err := c.image(ctx, ref)
		if err != nil {
			return Pending{}, err
		}
		if found {
			out.Bases = append(out.Bases, im)
		}
	}
	c.published(ctx, &out)
	return out, nil
}

// image checks one image; found is false when the engine has none by ref.
func (c *checker) image(ctx context.Context, ref string) (Image, bool, error) {
	info, found, err := c.images.Image(ctx, ref)
	if err != nil || !found {
		return Image{}, false, err
	}
	installed, err := c.installed(ctx, ref)
	if err != nil {
		return Image{}, false, err
	}
	idx, err := c.indexesFor(ctx, nativeArch(installed))
	if err != nil {
		return Image{}, false, err
	}
	ups := updates.Pending(installed, idx...)
	if ups == nil {
		ups = []updates.Update{}
	}
	im := Image{Image: ref, Base: info.Labels[basebuild.LabelBase], Updates: ups}
	for _, p := range installed {
		if p.Package == "redmine" {
			im.Redmine = p.Version
		}
	}
	return im, true, nil
}

// publishedBudget bounds the time spent asking the mirror for its packages' dates.
const publishedBudget = 10 * time.Second

// statusPath is dpkg's record of what is installed.
const statusPath = "/var/lib/dpkg/status"

func (c *checker) installed(ctx context.Context, image string) ([]updates.Installed, error) {
	rc, err := c.images.ImageTar(ctx, image, statusPath)
	if err != nil {
		return nil, fmt.Errorf("reading what image %s has installed (%s): %w", short(image), statusPath, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: image %s: %s is no file: it is no Debian image, and stackctl cannot tell what it holds", errs.ErrInvalidInput, short(image), statusPath)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s out of image %s: %w: try again; 'docker image inspect %s' shows whether the engine still has it", statusPath, short(image), err, short(image))
		}
		if h.Typeflag == tar.TypeReg {
			list, err := updates.ParseStatus(tr)
			if err != nil {
				return nil, fmt.Errorf("image %s: %w", short(image), err)
			}
			return list, nil
		}
	}
}

// nativeArch is the architecture most of the installed packages are built
// for (the others are "all").
func nativeArch(installed []updates.Installed) string {
	n := map[string]int{}
	for _, p := range installed {
		if p.Architecture != "all" {
			n[p.Architecture]++
		}
	}
	best := "amd64"
	for arch, k := range n {
		if k > n[best] || (k == n[best] && arch < best) {
			best = arch
		}
	}
	return best
}

func (c *checker) indexesFor(ctx context.Context, arch string) ([]*updates.Index, error) {
	if idx, ok := c.indexes[arch]; ok {
		return idx, nil
	}
	var idx []*updates.Index
	for _, s := range c.suites {
		i, err := c.fetcher.Fetch(ctx, s, arch)
		if err != nil {
			return nil, err
		}
		idx = append(idx, i)
	}
	c.indexes[arch] = idx
	return idx, nil
}

// published dates every update found by the mirror's copy of its package,
// asking once per package file.
func (c *checker) published(ctx context.Context, p *Pending) {
	all := map[string]updates.Update{}
	for _, list := range [][]Image{p.Running, p.Bases} {
		for _, im := range list {
			for _, u := range im.Updates {
				all[u.URL] = u
			}
		}
	}
	if len(all) == 0 {
		return
	}
	us := slices.Collect(maps.Values(all))
	// Dates are for the operator's information: a slow mirror costs them, not the check.
	pctx, cancel := context.WithTimeout(ctx, publishedBudget)
	defer cancel()
	c.fetcher.Published(pctx, us)
	when := map[string]time.Time{}
	for _, u := range us {
		when[u.URL] = u.Published
	}
	for _, list := range [][]Image{p.Running, p.Bases} {
		for i := range list {
			im := &list[i]
			for j := range im.Updates {
				u := &im.Updates[j]
				u.Published = when[u.URL]
				if !u.Published.IsZero() && (im.Waiting.IsZero() || u.Published.Before(im.Waiting)) {
					im.Waiting, im.WaitingFrom = u.Published, WaitingMirror
				}
			}
		}
	}
}

func short(image string) string {
	if id, ok := strings.CutPrefix(image, "sha256:"); ok && len(id) > 12 {
		return id[:12]
	}
	return image
}
