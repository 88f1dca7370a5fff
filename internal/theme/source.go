package theme

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Errors of each layer, for exit codes; each wraps the reason and the fix.
var (
	ErrSource     = errors.New("theme source is not a valid Redmine theme")
	ErrImage      = errors.New("theme is missing from the Redmine image")
	ErrStale      = errors.New("theme in the Redmine image differs from its source")
	ErrLogin      = errors.New("cannot log in to Redmine as administrator")
	ErrNotOffered = errors.New("theme is not offered in Administration → Settings → Display")
	ErrNotApplied = errors.New("theme did not apply")
	ErrScreenshot = errors.New("screenshot failed")
)

// stylesheet is the one file that makes a folder a Redmine theme.
const stylesheet = "stylesheets/application.css"

// Theme is a theme folder under themes/: its id is the folder's name.
type Theme struct {
	ID  string
	Dir string
}

// Name is Redmine's label for the theme: the id, humanized as Rails does
// (underscores as spaces, leading ones dropped).
func (t Theme) Name() string {
	s := strings.ReplaceAll(strings.TrimSuffix(t.ID, "_id"), "_", " ")
	s = strings.ToLower(strings.TrimLeft(s, " "))
	r := []rune(s)
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

// BodyClasses are the classes Redmine may put on <body> for the theme, the
// one Redmine 6 renders first ('theme-' + name.tr(' ', '_')); before 6, the
// name went in with its spaces, which split it into several classes.
func (t Theme) BodyClasses() []string {
	n := t.Name()
	return slices.Compact([]string{"theme-" + strings.ReplaceAll(n, " ", "_"), "theme-" + n})
}

// hasBodyClass says whether classes, a class attribute's words, carry want:
// as one word, or as the run of words a name with spaces became.
func hasBodyClass(classes []string, want string) bool {
	words := strings.Fields(want)
	for i := range classes {
		if i+len(words) <= len(classes) && slices.Equal(classes[i:i+len(words)], words) {
			return true
		}
	}
	return false
}

// Discover lists the themes under dir, sorted by id.
func Discover(dir string) ([]Theme, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: the site has no themes folder %s: add a theme as themes/<id>/%s", ErrSource, dir, stylesheet)
	}
	if err != nil {
		return nil, fmt.Errorf("reading themes: %w", err)
	}
	var out []Theme
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, Theme{ID: e.Name(), Dir: filepath.Join(dir, e.Name())})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no theme folder under %s: add one as themes/<id>/%s", ErrSource, dir, stylesheet)
	}
	return out, nil
}

// Find returns the theme id under dir.
func Find(dir, id string) (Theme, error) {
	t := Theme{ID: id, Dir: filepath.Join(dir, id)}
	if fi, err := os.Stat(t.Dir); err != nil || !fi.IsDir() {
		return t, fmt.Errorf("%w: no folder %s: add the theme as themes/%s/%s", ErrSource, t.Dir, id, stylesheet)
	}
	return t, nil
}

// idPattern keeps ids to what survives a URL, an asset path and a CSS class.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// CheckSource checks that t is a theme Redmine will list, and says how to fix it otherwise.
func CheckSource(t Theme) error {
	if !idPattern.MatchString(t.ID) {
		return fmt.Errorf("%w: %q is not a usable theme id (Redmine uses the folder name): rename %s to letters, digits, '-' and '_' only",
			ErrSource, t.ID, t.Dir)
	}
	css := filepath.Join(t.Dir, filepath.FromSlash(stylesheet))
	fi, err := os.Stat(css)
	if err != nil {
		if alt := findElsewhere(t.Dir); alt != "" {
			return fmt.Errorf("%w: %s has no %s, but %s exists: a downloaded release often nests the theme one level down; "+
				"move that theme folder to themes/<id>/ so the stylesheet is at themes/<id>/%s", ErrSource, t.Dir, stylesheet, alt, stylesheet)
		}
		return fmt.Errorf("%w: %s is missing: Redmine lists a theme only if it has one", ErrSource, css)
	}
	if fi.Size() == 0 {
		return fmt.Errorf("%w: %s is empty: a theme needs a stylesheet (Redmine 6 themes start with @import url(/application.css);)", ErrSource, css)
	}
	return nil
}

// findElsewhere looks for an application.css deeper in dir, the mark of a nested release folder.
func findElsewhere(dir string) string {
	var found string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return nil
		}
		if !d.IsDir() && d.Name() == "application.css" {
			found = p
			return fs.SkipAll
		}
		return nil
	})
	return found
}

// Tree is a theme's files by slash path relative to its folder, with their SHA-256.
type Tree map[string]string

// Digest is one hash over the whole tree, stable across file order.
func (t Tree) Digest() string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(t)) {
		fmt.Fprintf(h, "%s %s\n", t[p], p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Diff names the paths that differ between want and got, for a message.
func (t Tree) Diff(got Tree) []string {
	var out []string
	for _, p := range slices.Sorted(maps.Keys(t)) {
		switch g, ok := got[p]; {
		case !ok:
			out = append(out, p+" (missing)")
		case g != t[p]:
			out = append(out, p+" (differs)")
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := t[p]; !ok {
			out = append(out, p+" (extra)")
		}
	}
	return out
}

// SourceTree hashes every regular file of the theme's folder.
func SourceTree(t Theme) (Tree, error) {
	tree := Tree{}
	err := filepath.WalkDir(t.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(t.Dir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		tree[path.Clean(filepath.ToSlash(rel))] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hashing theme %s: %w", t.ID, err)
	}
	return tree, nil
}
