package basebuild

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
)

// Names of the hook scripts and installed files inside the recipe directory.
const (
	essentialHookFile = "essential.sh"
	customizeHookFile = "customize.sh"
	filesDir          = "files"
)

// writeHookFiles lays out r's scripts and files in dir for mmdebstrapArgs.
func writeHookFiles(r catalog.Recipe, dir string) error {
	for name, content := range map[string]string{essentialHookFile: r.Essential, customizeHookFile: r.Customize} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	for _, path := range slices.Sorted(maps.Keys(r.Files)) {
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

// mmdebstrapArgs is the mmdebstrap command line for r from the mirrors src,
// with its hooks in dir (see writeHookFiles); the tar goes to stdout.
func mmdebstrapArgs(r catalog.Recipe, src Sources, dir string) []string {
	args := []string{
		"--variant=" + r.Variant,
		"--include=" + strings.Join(r.Packages, ","),
		"--skip=output/dev", // the engine gives every container its own /dev
		"--format=tar",
	}
	for _, o := range r.DpkgOpts {
		args = append(args, "--dpkgopt="+o)
	}
	for _, o := range r.AptOpts {
		args = append(args, "--aptopt="+o)
	}
	// Hooks run on the host with the new root as $1 (they chroot where they must).
	inRoot := func(file string) string { return `/bin/sh -eu '` + filepath.Join(dir, file) + `' "$1"` }
	if r.Essential != "" {
		args = append(args, "--essential-hook="+inRoot(essentialHookFile))
	}
	for _, path := range slices.Sorted(maps.Keys(r.Files)) {
		args = append(args, fmt.Sprintf(`--customize-hook=install -D -m 0755 '%s' "$1%s"`, filepath.Join(dir, filesDir, path), path))
	}
	if r.Customize != "" {
		args = append(args, "--customize-hook="+inRoot(customizeHookFile))
	}
	return append(append(args, r.Suite, "-"), src.Lines(r)...)
}

// importChanges are the recipe's Dockerfile changes plus stackctl's labels.
func importChanges(r catalog.Recipe, base, hash string) []string {
	return append(append([]string{}, r.Changes...),
		fmt.Sprintf("LABEL %s=%s %s=%s", LabelBase, base, LabelRecipe, hash))
}

func (bb *Builder) tool() (string, error) {
	name := bb.Mmdebstrap
	if name == "" {
		name = "mmdebstrap"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed: install it with 'apt-get install mmdebstrap' (scripts/bootstrap does)", errs.ErrUnavailable, filepath.Base(name))
	}
	return path, nil
}
