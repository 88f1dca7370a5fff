package main

import (
	"go/build"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// layers ranks stackctl's packages: data, then the engine and the disk, then
// what runs stacks, then the features on top. A package may import only
// packages of a lower rank, so that data never calls back into what runs it.
var layers = map[string]int{
	"errs":                0,
	"secretscan":          0,
	"termsafe":            0,
	"report":              1,
	"catalog":             1,
	"atomicfile":          1,
	"retention":           1,
	"signing":             1,
	"state":               2,
	"engine":              2,
	"hostport":            2,
	"site":                5,
	"https":               3,
	"schedule":            3,
	"settings":            4,
	"backup/archive":      2,
	"basebuild":           3,
	"volume":              3,
	"swarm":               3,
	"stack":               4,
	"backup":              5,
	"theme":               5,
	"validate":            5,
	"kernel":              5,
	"registry":            5,
	"upgrade":             6,
	"updates":             1,
	"patch":               6,
	"status":              7,
	"mail":                5,
	"offsite":             3,
	"offsite/offsitetest": 4,
}

const module = "github.com/stackctl/stackctl/internal/"

// TestLayers keeps the package split: every internal package is ranked, has a
// doc.go, and imports no package of its own rank or above.
func TestLayers(t *testing.T) {
	root := filepath.Join("..", "..", "internal")
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() == "testdata" || path == root {
			return err
		}
		pkg, err := build.ImportDir(path, 0)
		if _, ok := err.(*build.NoGoError); ok {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator)))
		seen[name] = true
		rank, ok := layers[name]
		if !ok {
			t.Errorf("internal/%s has no layer: add it to layers", name)
			return nil
		}
		if _, err := os.Stat(filepath.Join(path, "doc.go")); err != nil {
			t.Errorf("internal/%s has no doc.go saying what it is for", name)
		}
		for _, imp := range pkg.Imports {
			dep, ok := strings.CutPrefix(imp, module)
			if ok && layers[dep] >= rank {
				t.Errorf("internal/%s (layer %d) imports internal/%s (layer %d): only lower layers may be imported", name, rank, dep, layers[dep])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range layers {
		if !seen[name] {
			t.Errorf("layers names internal/%s, which does not exist", name)
		}
	}
}
