package settings

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/secretscan"
)

// FileName is a site's settings file.
const FileName = "stackctl.yaml"

// Version is the version of the settings file this stackctl writes and reads.
const Version = 1

// Loaded is a settings file as read: its values, and where each was given, so
// that later checks (the secret files, what up cannot apply yet) name the line.
type Loaded struct {
	File
	// Path is the file read; "" when there is none (a checkout need not have one).
	Path string
	// lines maps a dotted key (tls.mode, tls.names[1]) to the line it is at.
	lines map[string]int
}

// Default is the settings of a site without a settings file: every default.
func Default() Loaded { return Loaded{File: File{Version: Version}} }

// Problem is one thing wrong with a settings file, at the line of its key.
type Problem struct {
	// Line is 1-based; 0 when the problem concerns the file as a whole.
	Line int
	// Key is the dotted key (tls.mode); "" for the file as a whole.
	Key string
	// Message says what is wrong, Fix what to do about it.
	Message, Fix string
}

// Error is every problem found in one settings file. It wraps
// errs.ErrInvalidInput: a settings file is the operator's input.
type Error struct {
	File     string
	Problems []Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		if p.Key != "" {
			b.WriteString(p.Key + ": ")
		}
		b.WriteString(p.Message)
		if p.Fix != "" {
			b.WriteString(": " + p.Fix)
		}
	}
	return b.String()
}

func (e *Error) Unwrap() error { return errs.ErrInvalidInput }

// problems collects the problems of one file; err is nil when there are none.
type problems []Problem

func (ps *problems) add(line int, key, msg, fix string) {
	*ps = append(*ps, Problem{Line: line, Key: key, Message: msg, Fix: fix})
}

func (ps problems) err(file string) error {
	if len(ps) == 0 {
		return nil
	}
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
	return &Error{File: file, Problems: ps}
}

// Load reads and checks the settings file at path (see Parse).
func Load(path string) (Loaded, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Loaded{}, fmt.Errorf("reading the settings: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Loaded{}, err
	}
	return Parse(abs, b)
}

// InstanceOf reads only the instance the settings file at path names (""
// when the file or the key is absent). The commands that go on without a
// settings file with other problems (down, ps, logs) must still act on the
// site's instance, never on another site's: a file whose instance cannot be
// read is refused.
func InstanceOf(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the settings: %w", err)
	}
	var ps problems
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		line, msg := yamlError(err)
		ps.add(line, "", "not YAML: "+msg, "see docs/settings.md")
		return "", ps.err(path)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return "", nil
	}
	m := doc.Content[0].Content
	name, found := "", false
	for i := 0; i+1 < len(m); i += 2 {
		if m[i].Value != "instance" {
			continue
		}
		v := m[i+1]
		switch {
		case found:
			ps.add(m[i].Line, "instance", "given twice", "keep one")
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			// 'instance:' alone, as Parse reads it: none.
		case v.Kind != yaml.ScalarNode || v.Tag != "!!str" || catalog.CheckInstance(v.Value) != nil:
			ps.add(v.Line, "instance", fmt.Sprintf("%q cannot name an instance", v.Value), instanceFix)
		default:
			name = v.Value
		}
		found = true
	}
	if len(ps) > 0 {
		return "", ps.err(path)
	}
	return name, nil
}

// Parse decodes a settings file strictly and checks every value, reporting
// all problems at once (an *Error): unknown keys, values of the wrong kind or
// out of range, inconsistent settings, and secrets given inline. It touches
// no file: CheckFiles checks those the settings name.
func Parse(file string, b []byte) (Loaded, error) {
	l := Loaded{Path: file, lines: map[string]int{}}
	var ps problems
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		line, msg := yamlError(err)
		ps.add(line, "", "not YAML: "+msg, "see docs/settings.md")
		return Loaded{}, ps.err(file)
	}
	d := decoder{lines: l.lines, problems: &ps, secrets: map[string]bool{}}
	if len(doc.Content) > 0 {
		d.mapping(doc.Content[0], "", reflect.ValueOf(&l.File).Elem())
	}
	var checked problems
	l.check(&checked)
	for _, p := range checked {
		if !d.secrets[p.Key] {
			ps = append(ps, p)
		}
	}
	if err := ps.err(file); err != nil {
		return Loaded{}, err
	}
	return l, nil
}

// yamlError takes the line out of a YAML syntax error ("yaml: line 3: ...").
func yamlError(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if v, err := strconv.Atoi(n); err == nil {
				return v, after
			}
		}
	}
	return 0, msg
}

// decoder walks the YAML nodes against the schema's types, by their yaml tags.
type decoder struct {
	lines    map[string]int
	problems *problems
	// secrets are the keys whose value looks like a secret: no other problem
	// of theirs is reported, since it would repeat the value.
	secrets map[string]bool
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// kind names a node's kind for a message.
func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// fields are the yaml keys of struct type t, each with its field index.
func fields(t reflect.Type) (keys []string, index map[string]int) {
	index = map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if k := f.Tag.Get("yaml"); f.IsExported() && k != "" {
			keys = append(keys, k)
			index[k] = i
		}
	}
	return keys, index
}

func (d decoder) mapping(n *yaml.Node, prefix string, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	what := "the file"
	if prefix != "" {
		what = prefix
	}
	keys, index := fields(v.Type())
	if n.Kind != yaml.MappingNode {
		d.problems.add(n.Line, prefix, fmt.Sprintf("%s must be a mapping of keys, not %s", what, kind(n)),
			"give one or more of "+strings.Join(keys, ", "))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key := join(prefix, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.problems.add(k.Line, key, fmt.Sprintf("given twice (first at line %d)", first), "keep one")
			continue
		}
		seen[k.Value] = k.Line
		fi, ok := index[k.Value]
		if !ok {
			d.unknown(k, prefix, keys)
			continue
		}
		d.value(val, key, k.Line, v.Field(fi), v.Type().Field(fi))
	}
}

// unknown reports a key the schema does not have: a secret given inline
// where the schema takes its file, or else a typo, with the nearest key.
func (d decoder) unknown(k *yaml.Node, prefix string, keys []string) {
	key := join(prefix, k.Value)
	if slices.Contains(keys, k.Value+"_file") {
		d.problems.add(k.Line, key, "a secret is never given inline",
			fmt.Sprintf("put it in a file of yours with mode 0600 and name that file with %s", join(prefix, k.Value+"_file")))
		return
	}
	if secretscan.SecretName(k.Value) {
		d.problems.add(k.Line, key, "unknown key, and it looks like a secret given inline",
			"secrets are never given inline: the settings take them only as files, with a *_file key (docs/reference/settings.md)")
		return
	}
	fix := "keys here: " + strings.Join(keys, ", ")
	if near := nearest(k.Value, keys); near != "" {
		fix = fmt.Sprintf("did you mean %s? (%s)", near, fix)
	}
	d.problems.add(k.Line, key, "unknown key", fix)
}

// value decodes n, the value of key given at line, into v.
func (d decoder) value(n *yaml.Node, key string, line int, v reflect.Value, f reflect.StructField) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.lines[key] = line
	if isNull(n) {
		return
	}
	switch {
	case v.Kind() == reflect.Struct:
		d.mapping(n, key, v)
	case v.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.problems.add(n.Line, key, "must be a list, not "+kind(n), "write it as "+f.Tag.Get("example"))
			return
		}
		out := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		for i, e := range n.Content {
			ek := fmt.Sprintf("%s[%d]", key, i)
			d.lines[ek] = e.Line
			if e.Kind != yaml.ScalarNode {
				d.problems.add(e.Line, ek, "must be a single value, not "+kind(e), "write it as "+f.Tag.Get("example"))
				continue
			}
			d.inlineSecret(e, ek)
			out = reflect.Append(out, reflect.ValueOf(e.Value))
		}
		v.Set(out)
	case n.Kind != yaml.ScalarNode:
		d.problems.add(n.Line, key, "must be a single value, not "+kind(n), "e.g. "+f.Tag.Get("example"))
	case v.Kind() == reflect.String:
		if !strings.HasSuffix(f.Tag.Get("yaml"), "_file") {
			d.inlineSecret(n, key)
		}
		v.SetString(n.Value)
	case v.Kind() == reflect.Int, v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if err != nil {
			d.problems.add(n.Line, key, fmt.Sprintf("must be a whole number, not %q", n.Value), "e.g. "+f.Tag.Get("example"))
			return
		}
		if v.Kind() == reflect.Pointer {
			v.Set(reflect.ValueOf(&i))
		} else {
			v.SetInt(int64(i))
		}
	default:
		panic(fmt.Sprintf("settings: field %s of kind %s has no decoder", key, v.Kind()))
	}
}

// inlineSecret refuses a value that looks like a secret (a private key, a
// token, a password in a URL) in a field that is not a secret's file.
func (d decoder) inlineSecret(n *yaml.Node, key string) {
	if what := secretscan.Kind(key, n.Value); what != "" {
		d.secrets[key] = true
		d.problems.add(n.Line, key, fmt.Sprintf("the value looks like a secret given inline (%s)", what),
			"secrets are never given inline: put it in a file of yours with mode 0600 and name the file with the *_file key "+
				"that takes it (docs/reference/settings.md); never commit the secret")
	}
}

// nearest is the key of keys closest to k, when it is close enough to be a typo.
func nearest(k string, keys []string) string {
	best, bestD := "", len(k)/2+1
	for _, c := range keys {
		if d := distance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
