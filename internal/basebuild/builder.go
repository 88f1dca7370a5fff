package basebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/docker/go-units"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/report"
)

// Images is what a base build needs from the engine; engine.Engine has it.
type Images interface {
	// Image returns image ref; found is false when there is none.
	Image(ctx context.Context, ref string) (info engine.ImageInfo, found bool, err error)
	// Import creates an untagged image from a root file system tar and returns its ID.
	Import(ctx context.Context, rootfs io.Reader, changes []string) (string, error)
	Tag(ctx context.Context, id, ref string) error
	RemoveImage(ctx context.Context, id string) error
	// Untagged lists the IDs of untagged images carrying the label key=value.
	Untagged(ctx context.Context, key, value string) ([]string, error)
}

// Image labels stackctl puts on the bases it builds.
const (
	LabelBase   = "io.stackctl.base"
	LabelRecipe = "io.stackctl.recipe"
)

// Builder makes debian base images: mmdebstrap builds the root file system
// from a mirror and streams it into an untagged image import; the image is tagged
// only once it is complete and carries its recipe's hash, so a failed or
// interrupted build never leaves a tag that looks finished.
type Builder struct {
	Engine Images
	Mirror string
	// Security is the mirror of Debian's security suites (see NewSources);
	// empty: $STACKCTL_DEBIAN_SECURITY_MIRROR, else the one beside Mirror.
	Security string
	// Force rebuilds even when the tagged image already has the recipe's hash.
	Force bool
	// Report receives one line per step, and mmdebstrap's own output.
	Report *report.Reporter
	// Mmdebstrap is the tool to run; empty means "mmdebstrap" on PATH.
	Mmdebstrap string
}

// Result says what Ensure did.
type Result struct {
	Ref, ID string
	Size    int64
	// Built is false when the existing image was already up to date.
	Built   bool
	Elapsed time.Duration
}

// Ensure makes sure b's debian image exists and matches its recipe.
func (bb *Builder) Ensure(ctx context.Context, b catalog.Base) (Result, error) {
	start := time.Now()
	src, alone, err := NewSources(bb.mirror(), bb.Security)
	if err != nil {
		return Result{}, err
	}
	b.Recipe.SuiteAlone = alone
	ref, hash := b.DebianRef(), b.Recipe.Hash()
	info, found, err := bb.Engine.Image(ctx, ref)
	if err != nil {
		return Result{}, err
	}
	if found && info.Labels[LabelRecipe] == hash && !bb.Force {
		return Result{Ref: ref, ID: info.ID, Size: info.Size, Elapsed: time.Since(start)}, nil
	}
	if found && !bb.Force {
		bb.logf("base %s: %s was built from another recipe; rebuilding", b.Name, ref)
	}
	tool, err := bb.tool()
	if err != nil {
		return Result{}, err
	}
	if err := src.Check(ctx, b.Recipe); err != nil {
		return Result{}, err
	}
	if alone {
		bb.Report.Warnf("base %s: built from Debian %s alone, without %s-security and %s-updates (%s=none): it has no security fix published since the last point release",
			b.Name, b.Recipe.Suite, b.Recipe.Suite, b.Recipe.Suite, SecurityMirrorEnv)
	}
	// What a build of this recipe that was killed may have left: an
	// untagged, perhaps partial, import. An earlier base this build's tag
	// left is untagged too, and refuses removal while images built on it
	// remain: it is not a leftover, and nothing is said of it.
	bb.removeUntagged(ctx, hash, true)
	bb.logf("base %s: building %s from %s (Debian %s, recipe %.12s)", b.Name, ref, src.Mirror, strings.Join(b.Recipe.Suites(), ", "), hash)

	id, err := bb.buildAndImport(ctx, tool, src, b, hash)
	if err != nil {
		return Result{}, fmt.Errorf("building base %s: %w", b.Name, err)
	}
	if err := bb.Engine.Tag(ctx, id, ref); err != nil {
		bb.removeUntagged(context.WithoutCancel(ctx), hash, false)
		return Result{}, err
	}
	info, _, err = bb.Engine.Image(ctx, ref)
	if err != nil {
		return Result{}, err
	}
	res := Result{Ref: ref, ID: id, Size: info.Size, Built: true, Elapsed: time.Since(start)}
	bb.logf("base %s: built %s (%s, %s) in %s", b.Name, ref, shortID(id), units.HumanSize(float64(res.Size)), res.Elapsed.Round(time.Second))
	return res, nil
}

// buildAndImport runs mmdebstrap with its tar on stdout piped into the engine's
// import, and returns the new image's ID once both have succeeded and the image
// carries the recipe hash. On any failure the untagged image is removed.
func (bb *Builder) buildAndImport(ctx context.Context, tool string, src Sources, b catalog.Base, hash string) (string, error) {
	// The hooks and files travel to mmdebstrap as files in a private directory.
	hooks, err := os.MkdirTemp("", "stackctl-recipe-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(hooks)
	if err := writeHookFiles(b.Recipe, hooks); err != nil {
		return "", err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, mmdebstrapArgs(b.Recipe, src, hooks)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	cmd.SysProcAttr = childAttr()
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	stderr := &prefixWriter{w: bb.out(), prefix: "base " + b.Name + " | "}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting %s: %w", tool, err)
	}

	type imported struct {
		id  string
		err error
	}
	done := make(chan imported, 1)
	go func() {
		id, err := bb.Engine.Import(ctx, pr, importChanges(b.Recipe, b.Name, hash))
		// Unblock mmdebstrap if the engine stopped reading early.
		pr.CloseWithError(errors.Join(err, errors.New("import ended")))
		done <- imported{id, err}
	}()
	runErr := cmd.Wait()
	stderr.Flush()
	// A failed mmdebstrap must fail the import too, never let a partial tar pass as whole.
	if runErr != nil {
		pw.CloseWithError(fmt.Errorf("mmdebstrap failed: %w", runErr))
	} else {
		pw.Close()
	}
	imp := <-done
	if runErr != nil || imp.err != nil {
		bb.removeUntagged(context.WithoutCancel(ctx), hash, false)
		if runErr != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", fmt.Errorf("mmdebstrap: %w (its output is above)", runErr)
		}
		return "", imp.err
	}
	info, found, err := bb.Engine.Image(ctx, imp.id)
	if err == nil && (!found || info.Labels[LabelRecipe] != hash) {
		err = fmt.Errorf("imported image %s does not carry recipe %s", shortID(imp.id), hash)
	}
	if err != nil {
		bb.removeUntagged(context.WithoutCancel(ctx), hash, false)
		return "", err
	}
	return imp.id, nil
}

// removeUntagged removes every untagged image of recipe hash. The engine may
// have stored an image from a stream that broke after its last byte arrived,
// without the client ever learning its ID; the recipe label finds it anyway.
// quiet says nothing of an image that cannot be removed.
func (bb *Builder) removeUntagged(ctx context.Context, hash string, quiet bool) {
	ids, err := bb.Engine.Untagged(ctx, LabelRecipe, hash)
	if err != nil {
		bb.Report.Warnf("base: looking for partial images: %v", err)
		return
	}
	for _, id := range ids {
		if err := bb.Engine.RemoveImage(ctx, id); err != nil && !quiet {
			bb.Report.Warnf("base: removing partial image %s: %v", shortID(id), err)
		}
	}
}

func (bb *Builder) mirror() string {
	if bb.Mirror != "" {
		return bb.Mirror
	}
	return DefaultMirror
}

func (bb *Builder) out() io.Writer { return bb.Report.Writer() }

func (bb *Builder) logf(format string, args ...any) { bb.Report.Printf(format, args...) }

// prefixWriter prefixes every line written to it, for interleaved tool output.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i]); err != nil {
			return len(b), err
		}
		p.buf = p.buf[i+1:]
	}
}

// Flush writes a last unterminated line, if any.
func (p *prefixWriter) Flush() {
	if len(p.buf) > 0 {
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = nil
	}
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
