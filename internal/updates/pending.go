package updates

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
	"pault.ag/go/debian/version"
)

// Update is an installed package with a newer version in an index.
type Update struct {
	Package      string `json:"package"`
	Architecture string `json:"architecture"`
	// Installed and Available are the versions in the image and in the index.
	Installed string `json:"installed"`
	Available string `json:"available"`
	// Suite names the suite that offers it, e.g. "trixie-security".
	Suite string `json:"suite"`
	// URL is the .deb's: the suite's mirror, "/", the index's Filename.
	URL string `json:"url"`
	// Published is when the mirror got the .deb (its Last-Modified); zero
	// until Published is called, and when the mirror does not say.
	Published time.Time `json:"published,omitzero"`
}

// Pending is every installed package that an index offers a newer version of,
// with the newest offer across the indexes, sorted by package and then
// architecture. An installed package matches the index entries of its own
// architecture ("all" matches "all"). When a security suite and another offer
// the same version, the update names the security suite, since that is the
// fix an operator looks for; between two others, the first index given wins.
// An installed version that does not parse (ParseStatus refuses those) is
// passed over: it cannot be compared.
func Pending(installed []Installed, indexes ...*Index) []Update {
	var out []Update
	for _, in := range installed {
		have, err := version.Parse(in.Version)
		if err != nil {
			continue
		}
		var best offer
		var from *Index
		for _, x := range indexes {
			if x == nil {
				continue
			}
			o, ok := x.packages[indexKey(in.Package, in.Architecture)]
			if !ok || version.Compare(o.version, have) <= 0 {
				continue
			}
			if from != nil {
				c := version.Compare(o.version, best.version)
				if c < 0 || (c == 0 && (!x.Suite.security() || from.Suite.security())) {
					continue
				}
			}
			best, from = o, x
		}
		if from == nil {
			continue
		}
		out = append(out, Update{
			Package:      in.Package,
			Architecture: in.Architecture,
			Installed:    in.Version,
			Available:    best.Version,
			Suite:        from.Suite.Name,
			URL:          from.Suite.Mirror + "/" + best.Filename,
		})
	}
	slices.SortStableFunc(out, func(a, b Update) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Architecture, b.Architecture))
	})
	return out
}

// publishedConcurrency bounds the HEAD requests Published has under way.
const publishedConcurrency = 4

// Published sets each update's Published to the Last-Modified of a HEAD
// request on its URL, the time the mirror got the file, and returns the
// oldest of them: how long the oldest fix has waited. It is for the
// operator's information, so a request that fails, or an answer without the
// header, leaves that update's time zero rather than failing the others.
func (f *Fetcher) Published(ctx context.Context, us []Update) time.Time {
	var g errgroup.Group
	g.SetLimit(publishedConcurrency)
	for i := range us {
		g.Go(func() error {
			us[i].Published = f.lastModified(ctx, us[i].URL)
			return nil
		})
	}
	_ = g.Wait() // no goroutine returns an error
	var oldest time.Time
	for _, u := range us {
		if !u.Published.IsZero() && (oldest.IsZero() || u.Published.Before(oldest)) {
			oldest = u.Published
		}
	}
	return oldest
}

// lastModified is addr's Last-Modified, or zero.
func (f *Fetcher) lastModified(ctx context.Context, addr string) time.Time {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, addr, nil)
	if err != nil {
		return time.Time{}
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return time.Time{}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return time.Time{}
	}
	t, err := http.ParseTime(resp.Header.Get("Last-Modified"))
	if err != nil {
		return time.Time{}
	}
	return t
}
