package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/stackctl/stackctl/internal/catalog"
)

// stampBuilds labels each image p builds with the digest of what it is built
// from (catalog.ContextLabel): the files of its context that .dockerignore
// lets through, its Dockerfile's name and its arguments. An image carrying
// the digest its service has now would be built again from cache, the same.
func stampBuilds(p *types.Project) error {
	for name, svc := range p.Services {
		if svc.Build == nil {
			continue
		}
		sum, err := contextDigest(*svc.Build)
		if err != nil {
			return fmt.Errorf("service %s: %w", name, err)
		}
		b := *svc.Build
		b.Labels = maps.Clone(b.Labels)
		if b.Labels == nil {
			b.Labels = types.Labels{}
		}
		b.Labels[catalog.ContextLabel] = sum
		svc.Build = &b
		p.Services[name] = svc
	}
	return nil
}

// contextDigest is the SHA-256 of b's context as the engine would receive
// it, its Dockerfile's name and its arguments.
func contextDigest(b types.BuildConfig) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "dockerfile %s\n", b.Dockerfile)
	for _, k := range slices.Sorted(maps.Keys(b.Args)) {
		v := ""
		if b.Args[k] != nil {
			v = *b.Args[k]
		}
		fmt.Fprintf(h, "arg %s=%q\n", k, v)
	}
	patterns, err := ignorePatterns(b.Context)
	if err != nil {
		return "", err
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return "", fmt.Errorf("%s/.dockerignore: %w", b.Context, err)
	}
	err = filepath.WalkDir(b.Context, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(b.Context, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if excluded && !reincluded(patterns, rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if excluded {
			return nil
		}
		return hashFile(h, path, rel, d)
	})
	if err != nil {
		return "", fmt.Errorf("reading the build context %s: %w", b.Context, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ignorePatterns reads the context's .dockerignore; none is no pattern.
func ignorePatterns(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(f)
}

// reincluded says whether an exception pattern (!themes/) may let through
// something under the excluded directory dir: then it is walked.
func reincluded(patterns []string, dir string) bool {
	for _, p := range patterns {
		x, ok := strings.CutPrefix(p, "!")
		if x = strings.TrimPrefix(x, "/"); ok && (x == dir || strings.HasPrefix(x, dir+"/")) {
			return true
		}
	}
	return false
}

// hashFile adds one file of the context: its name, whether it is executable
// (the build copies the mode), and its content or a link's target.
func hashFile(h io.Writer, path, rel string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	if info.Mode()&fs.ModeSymlink != 0 {
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "link %s -> %s\n", rel, target)
		return nil
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	c := sha256.New()
	if _, err := io.Copy(c, f); err != nil {
		return err
	}
	fmt.Fprintf(h, "file %s %o %x\n", rel, info.Mode().Perm()&0o111, c.Sum(nil))
	return nil
}
