package validate

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlIndex finds the line of a key path in one compose file. compose-go keeps no
// positions in the model it loads, so findings are placed by walking the file's
// own YAML nodes along the path the model came from.
type yamlIndex struct {
	file string
	root *yaml.Node
}

// newYAMLIndex parses content; a file that is not YAML yields an index that
// places everything at line 0 (the loader reports why it is not YAML).
func newYAMLIndex(file string, content []byte) *yamlIndex {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil || len(doc.Content) == 0 {
		return &yamlIndex{file: file}
	}
	return &yamlIndex{file: file, root: doc.Content[0]}
}

// A path segment is a mapping key, "[i]" for the i-th item of a sequence, or
// "=NAME" for the variable NAME of an environment in map or list form.

// locate returns the line of the deepest node along path, and how many segments
// matched; 0, 0 when even the first one is missing.
func (x *yamlIndex) locate(path []string) (line, depth int) {
	n := x.root
	for i, seg := range path {
		next, keyLine := child(n, seg)
		if next == nil {
			return line, i
		}
		line, n = keyLine, next
	}
	return line, len(path)
}

// child returns the node under seg in n and the line that names it: the key's
// line for a mapping entry, the item's line for a sequence item.
func child(n *yaml.Node, seg string) (*yaml.Node, int) {
	n = deref(n)
	if n == nil {
		return nil, 0
	}
	switch {
	case strings.HasPrefix(seg, "[") && strings.HasSuffix(seg, "]"):
		i, err := strconv.Atoi(seg[1 : len(seg)-1])
		if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
			return nil, 0
		}
		return n.Content[i], n.Content[i].Line
	case strings.HasPrefix(seg, "="):
		name := seg[1:]
		if n.Kind == yaml.SequenceNode {
			for _, item := range n.Content {
				if k, _, _ := strings.Cut(item.Value, "="); item.Kind == yaml.ScalarNode && k == name {
					return item, item.Line
				}
			}
			return nil, 0
		}
		return mappingValue(n, name)
	case n.Kind == yaml.SequenceNode:
		// a list of names, as depends_on's short form
		for _, item := range n.Content {
			if item.Kind == yaml.ScalarNode && item.Value == seg {
				return item, item.Line
			}
		}
		return nil, 0
	default:
		return mappingValue(n, seg)
	}
}

// mappingValue looks key up in mapping n, then in what n merges with "<<".
func mappingValue(n *yaml.Node, key string) (*yaml.Node, int) {
	if n.Kind != yaml.MappingNode {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], n.Content[i].Line
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "<<" {
			continue
		}
		merged := deref(n.Content[i+1])
		sources := []*yaml.Node{merged}
		if merged != nil && merged.Kind == yaml.SequenceNode {
			sources = merged.Content
		}
		for _, s := range sources {
			if v, line := mappingValue(deref(s), key); v != nil {
				return v, line
			}
		}
	}
	return nil, 0
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// scalar returns the text of the scalar at path as written in the file, before
// interpolation; ok is false when path does not end at a scalar.
func (x *yamlIndex) scalar(path []string) (string, bool) {
	n, parent := x.root, (*yaml.Node)(nil)
	for _, seg := range path {
		parent = deref(n)
		if n, _ = child(n, seg); n == nil {
			return "", false
		}
	}
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return "", false
	}
	if parent.Kind == yaml.SequenceNode && strings.HasPrefix(path[len(path)-1], "=") {
		// an environment in list form: NAME=value
		_, v, _ := strings.Cut(n.Value, "=")
		return v, true
	}
	return n.Value, true
}

// related lists the files this one names in include: and in its services'
// extends: file:, as written.
func (x *yamlIndex) related() []string {
	var out []string
	scalars := func(n *yaml.Node) {
		n = deref(n)
		if n == nil {
			return
		}
		if n.Kind == yaml.ScalarNode {
			out = append(out, n.Value)
		}
		if n.Kind == yaml.SequenceNode {
			for _, item := range n.Content {
				if item = deref(item); item.Kind == yaml.ScalarNode {
					out = append(out, item.Value)
				}
			}
		}
	}
	if inc, _ := child(x.root, "include"); inc != nil && deref(inc).Kind == yaml.SequenceNode {
		for _, item := range deref(inc).Content {
			if item = deref(item); item.Kind == yaml.MappingNode {
				p, _ := child(item, "path")
				scalars(p)
			} else {
				scalars(item)
			}
		}
	}
	if svcs, _ := child(x.root, "services"); svcs != nil && deref(svcs).Kind == yaml.MappingNode {
		m := deref(svcs)
		for i := 1; i < len(m.Content); i += 2 {
			f, _ := child(m.Content[i], "extends")
			if f != nil {
				f, _ = child(f, "file")
			}
			scalars(f)
		}
	}
	return out
}
