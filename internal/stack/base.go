package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/go-units"
)

// DefaultMirror is the Debian mirror bases are built from unless the operator
// names another (--mirror or STACKCTL_DEBIAN_MIRROR).
const DefaultMirror = "http://deb.debian.org/debian"

// BaseBuilder makes debian base images: mmdebstrap builds the root file system
// from a mirror and streams it into an untagged image import; the image is tagged
// only once it is complete and carries its recipe's hash, so a failed or
// interrupted build never leaves a tag that looks finished.
type BaseBuilder struct {
	Engine Engine
	Mirror string
	// Force rebuilds even when the tagged image already has the recipe's hash.
	Force bool
	// Log receives one line per step, and mmdebstrap's own output.
	Log io.Writer
	// Mmdebstrap is the tool to run; empty means "mmdebstrap" on PATH.
	Mmdebstrap string
}

// BaseResult says what Ensure did.
type BaseResult struct {
	Ref, ID string
	Size    int64
	// Built is false when the existing image was already up to date.
	Built   bool
	Elapsed time.Duration
}

// Ensure makes sure b's debian image exists and matches its recipe.
func (bb *BaseBuilder) Ensure(ctx context.Context, b Base) (BaseResult, error) {
	start := time.Now()
	ref, hash := b.DebianRef(), b.Recipe.Hash()
	info, found, err := bb.Engine.Image(ctx, ref)
	if err != nil {
		return BaseResult{}, err
	}
	if found && info.Labels[LabelRecipe] == hash && !bb.Force {
		return BaseResult{Ref: ref, ID: info.ID, Size: info.Size, Elapsed: time.Since(start)}, nil
	}
	if found && !bb.Force {
		bb.logf("base %s: %s was built from another recipe; rebuilding", b.Name, ref)
	}
	tool, err := bb.tool()
	if err != nil {
		return BaseResult{}, err
	}
	mirror := strings.TrimRight(bb.mirror(), "/")
	if err := CheckMirror(ctx, mirror, b.Recipe.Suite); err != nil {
		return BaseResult{}, err
	}
	bb.logf("base %s: building %s from %s (Debian %s, recipe %.12s)", b.Name, ref, mirror, b.Recipe.Suite, hash)

	id, err := bb.buildAndImport(ctx, tool, mirror, b, hash)
	if err != nil {
		return BaseResult{}, fmt.Errorf("building base %s: %w", b.Name, err)
	}
	if err := bb.Engine.Tag(ctx, id, ref); err != nil {
		bb.removeUntagged(context.WithoutCancel(ctx), hash)
		return BaseResult{}, err
	}
	info, _, err = bb.Engine.Image(ctx, ref)
	if err != nil {
		return BaseResult{}, err
	}
	res := BaseResult{Ref: ref, ID: id, Size: info.Size, Built: true, Elapsed: time.Since(start)}
	bb.logf("base %s: built %s (%s, %s) in %s", b.Name, ref, shortID(id), units.HumanSize(float64(res.Size)), res.Elapsed.Round(time.Second))
	return res, nil
}

// buildAndImport runs mmdebstrap with its tar on stdout piped into the engine's
// import, and returns the new image's ID once both have succeeded and the image
// carries the recipe hash. On any failure the untagged image is removed.
func (bb *BaseBuilder) buildAndImport(ctx context.Context, tool, mirror string, b Base, hash string) (string, error) {
	// The hooks and files travel to mmdebstrap as files in a private directory.
	hooks, err := os.MkdirTemp("", "stackctl-recipe-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(hooks)
	if err := b.Recipe.writeHookFiles(hooks); err != nil {
		return "", err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, mmdebstrapArgs(b.Recipe, mirror, hooks)...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
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
		id, err := bb.Engine.Import(ctx, pr, b.Recipe.importChanges(b.Name, hash))
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
		bb.removeUntagged(context.WithoutCancel(ctx), hash)
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
		bb.removeUntagged(context.WithoutCancel(ctx), hash)
		return "", err
	}
	return imp.id, nil
}

// removeUntagged removes every untagged image of recipe hash. The engine may
// have stored an image from a stream that broke after its last byte arrived,
// without the client ever learning its ID; the recipe label finds it anyway.
func (bb *BaseBuilder) removeUntagged(ctx context.Context, hash string) {
	ids, err := bb.Engine.Untagged(ctx, LabelRecipe, hash)
	if err != nil {
		bb.logf("warning: looking for partial images: %v", err)
		return
	}
	for _, id := range ids {
		if err := bb.Engine.Remove(ctx, id); err != nil {
			bb.logf("warning: removing partial image %s: %v", shortID(id), err)
		}
	}
}

// Names of the hook scripts and installed files inside the recipe directory.
const (
	essentialHookFile = "essential.sh"
	customizeHookFile = "customize.sh"
	filesDir          = "files"
)

// writeHookFiles lays out r's scripts and files in dir for mmdebstrapArgs.
func (r Recipe) writeHookFiles(dir string) error {
	for name, content := range map[string]string{essentialHookFile: r.Essential, customizeHookFile: r.Customize} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	for _, path := range sortedKeys(r.Files) {
		dst := filepath.Join(dir, filesDir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte(r.Files[path]), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// mmdebstrapArgs is the mmdebstrap command line for r, with its hooks in dir
// (see writeHookFiles); the tar goes to stdout.
func mmdebstrapArgs(r Recipe, mirror, dir string) []string {
	args := []string{
		"--variant=" + r.Variant,
		"--include=" + strings.Join(r.Packages, ","),
		"--skip=output/dev", // the engine gives every container its own /dev
		"--format=tar",
	}
	for _, o := range r.DpkgOpts {
		args = append(args, "--dpkgopt="+o)
	}
	// Hooks run on the host with the new root as $1 (they chroot where they must).
	inRoot := func(file string) string { return `/bin/sh -eu '` + filepath.Join(dir, file) + `' "$1"` }
	if r.Essential != "" {
		args = append(args, "--essential-hook="+inRoot(essentialHookFile))
	}
	for _, path := range sortedKeys(r.Files) {
		args = append(args, fmt.Sprintf(`--customize-hook=install -D -m 0755 '%s' "$1%s"`, filepath.Join(dir, filesDir, path), path))
	}
	if r.Customize != "" {
		args = append(args, "--customize-hook="+inRoot(customizeHookFile))
	}
	return append(args, r.Suite, "-", mirror)
}

// importChanges are the recipe's Dockerfile changes plus stackctl's labels.
func (r Recipe) importChanges(base, hash string) []string {
	return append(append([]string{}, r.Changes...),
		fmt.Sprintf("LABEL %s=%s %s=%s", LabelBase, base, LabelRecipe, hash))
}

// CheckMirror fails with ErrUnavailable unless mirror serves suite's release file,
// so an unreachable mirror is reported in seconds, before anything is built.
func CheckMirror(ctx context.Context, mirror, suite string) error {
	if strings.HasPrefix(mirror, "file:") {
		return nil
	}
	url := mirror + "/dists/" + suite + "/InRelease"
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return fmt.Errorf("%w: Debian mirror %q: %v: pass a URL like %s with --mirror", ErrInvalidInput, mirror, err, DefaultMirror)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: Debian mirror %s is not reachable: %v: check the network or pass another with --mirror (or STACKCTL_DEBIAN_MIRROR)", ErrUnavailable, mirror, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: Debian mirror %s has no %s (%s for %s): check the URL and suite, or pass another with --mirror", ErrUnavailable, mirror, suite, resp.Status, url)
	}
	return nil
}

func (bb *BaseBuilder) tool() (string, error) {
	name := bb.Mmdebstrap
	if name == "" {
		name = "mmdebstrap"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed: install it with 'apt-get install mmdebstrap' (scripts/bootstrap does)", ErrUnavailable, filepath.Base(name))
	}
	return path, nil
}

func (bb *BaseBuilder) mirror() string {
	if bb.Mirror != "" {
		return bb.Mirror
	}
	return DefaultMirror
}

func (bb *BaseBuilder) out() io.Writer {
	if bb.Log == nil {
		return io.Discard
	}
	return bb.Log
}

func (bb *BaseBuilder) logf(format string, args ...any) {
	fmt.Fprintf(bb.out(), format+"\n", args...)
}

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
