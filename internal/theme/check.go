package theme

import (
	"context"
	"fmt"
	"slices"
)

// Layer names one step of the check, in the order they run.
type Layer string

// The layers, each needing the ones before it.
const (
	LayerSource     Layer = "source"
	LayerImage      Layer = "image"
	LayerRedmine    Layer = "settings"
	LayerApply      Layer = "apply"
	LayerScreenshot Layer = "screenshot"
)

// Result is one theme's outcome at one layer.
type Result struct {
	Theme  string `json:"theme"`
	Layer  Layer  `json:"layer"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Redmine is how the check reaches the running Redmine, resolved only when the
// source and image layers have passed.
type Redmine interface {
	// Client returns a client of the running Redmine, with its URL.
	Client(ctx context.Context) (*Client, string, error)
}

// Backend is what the layers after source need: the image and the running site.
type Backend struct {
	Image  ImageReader
	Target ImageTarget
	Site   Redmine
}

// Check runs the layers for themes and reports each result as it comes; it
// stops at the first failing layer and returns that layer's error.
type Check struct {
	Themes []Theme
	// Connect reaches the engine and the running stack; it is called only once
	// the source layer has passed, so a broken theme folder is reported even
	// where no engine runs.
	Connect func(context.Context) (Backend, error)
	// Apply makes the single theme Redmine's default and checks a page shows it.
	Apply bool
	// Screenshot, with Apply, writes a PNG of Redmine rendered with the theme.
	Screenshot string
	Report     func(Result)
}

// Run runs the check.
func (c Check) Run(ctx context.Context) error {
	if (c.Apply || c.Screenshot != "") && len(c.Themes) != 1 {
		return fmt.Errorf("%w: --apply and --screenshot take one theme: name it with --theme", ErrSource)
	}
	trees := map[string]Tree{}
	err := c.layer(LayerSource, func(t Theme) (string, error) {
		if err := CheckSource(t); err != nil {
			return "", err
		}
		tree, err := SourceTree(t)
		if err != nil {
			return "", err
		}
		trees[t.ID] = tree
		return fmt.Sprintf("%d files, digest %.12s", len(tree), tree.Digest()), nil
	})
	if err != nil {
		return err
	}
	b, err := c.Connect(ctx)
	if err != nil {
		return err
	}
	err = c.layer(LayerImage, func(t Theme) (string, error) {
		if err := CheckImage(ctx, b.Image, b.Target, t, trees[t.ID]); err != nil {
			return "", err
		}
		return fmt.Sprintf("identical in %s at %s/%s, readable by uid %d", b.Target.Image, b.Target.ThemesDir, t.ID, b.Target.UID), nil
	})
	if err != nil {
		return err
	}
	client, url, err := b.Site.Client(ctx)
	if err != nil {
		return err
	}
	if err := client.Login(ctx); err != nil {
		c.report(Result{Theme: c.Themes[0].ID, Layer: LayerRedmine, Detail: err.Error()})
		return err
	}
	options, err := client.ThemeOptions(ctx)
	if err != nil {
		c.report(Result{Theme: c.Themes[0].ID, Layer: LayerRedmine, Detail: err.Error()})
		return err
	}
	err = c.layer(LayerRedmine, func(t Theme) (string, error) {
		if !slices.Contains(options, t.ID) {
			return "", fmt.Errorf("%w: %s lists %q, not %q: Redmine reads themes at start; restart it with 'stackctl up redmine' "+
				"(and check the image layer)", ErrNotOffered, url+"settings?tab=display", options, t.ID)
		}
		return "offered in Administration → Settings → Display at " + url + "settings?tab=display", nil
	})
	if err != nil || !c.Apply {
		return err
	}
	err = c.layer(LayerApply, func(t Theme) (string, error) {
		if err := client.Apply(ctx, t.ID); err != nil {
			return "", err
		}
		if err := client.CheckApplied(ctx, t); err != nil {
			return "", err
		}
		return fmt.Sprintf("default theme; %s links themes/%s/ and has <body class=%q>", url, t.ID, t.BodyClasses()[0]), nil
	})
	if err != nil || c.Screenshot == "" {
		return err
	}
	return c.layer(LayerScreenshot, func(t Theme) (string, error) {
		if err := Screenshot(ctx, url, c.Screenshot, client.Pin()); err != nil {
			return "", err
		}
		return "wrote " + c.Screenshot, nil
	})
}

// layer runs fn for every theme, reports each result, and stops at the first failure.
func (c Check) layer(l Layer, fn func(Theme) (string, error)) error {
	for _, t := range c.Themes {
		detail, err := fn(t)
		if err != nil {
			c.report(Result{Theme: t.ID, Layer: l, Detail: err.Error()})
			return err
		}
		c.report(Result{Theme: t.ID, Layer: l, OK: true, Detail: detail})
	}
	return nil
}

func (c Check) report(r Result) {
	if c.Report != nil {
		c.Report(r)
	}
}
