package settings

import (
	"bytes"
	_ "embed"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// schemaSource is schema.go itself: its doc comments are the documentation of
// every field, so the reference page and the init template are made from it
// and cannot drift from the types the decoder reads.
//
//go:embed schema.go
var schemaSource string

// field is one key of the schema, as its source documents it.
type field struct {
	key, path string
	// doc is the field's doc comment without its leading "Name is".
	doc      string
	example  string
	children []field
}

// fieldDocs is the schema's tree of keys, from File down.
var fieldDocs = sync.OnceValue(func() []field {
	f, err := parser.ParseFile(token.NewFileSet(), "schema.go", schemaSource, parser.ParseComments)
	if err != nil {
		panic(fmt.Sprintf("settings: parsing the embedded schema.go: %v", err))
	}
	structs := map[string]*ast.StructType{}
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok {
			if st, ok := ts.Type.(*ast.StructType); ok {
				structs[ts.Name.Name] = st
			}
		}
		return true
	})
	var walk func(st *ast.StructType, prefix string) []field
	walk = func(st *ast.StructType, prefix string) []field {
		var out []field
		for _, fl := range st.Fields.List {
			name := fl.Names[0].Name
			tag := reflect.StructTag(strings.Trim(fl.Tag.Value, "`"))
			key := tag.Get("yaml")
			fd := field{key: key, path: join(prefix, key), doc: fieldDoc(name, fl.Doc.Text()), example: tag.Get("example")}
			if id, ok := fl.Type.(*ast.Ident); ok && structs[id.Name] != nil {
				fd.children = walk(structs[id.Name], fd.path)
			}
			out = append(out, fd)
		}
		return out
	}
	return walk(structs["File"], "")
})

// fieldDoc is a field's doc comment as one paragraph, without the leading
// "Name is" or "Name are" that Go's convention puts there.
func fieldDoc(name, doc string) string {
	text := strings.Join(strings.Fields(doc), " ")
	for _, verb := range []string{" is ", " are "} {
		if rest, ok := strings.CutPrefix(text, name+verb); ok {
			r, n := utf8.DecodeRuneInString(rest)
			return string(unicode.ToUpper(r)) + rest[n:]
		}
	}
	return text
}

// Reference is docs/reference/settings.md, without the note that opens every
// generated page ('stackctl reference' writes it).
func Reference() []byte {
	var b bytes.Buffer
	b.WriteString("# Settings file reference\n\n")
	fmt.Fprintf(&b, "Every key of `%s`, a site's settings file ([sites](../site.md); what each section does today:\n"+
		"[settings](../settings.md)). Generated from the doc comments of `internal/settings/schema.go`, as is the\n"+
		"commented file `stackctl init` writes. stackctl refuses an unknown key, a bad value and a secret given\n"+
		"inline, each with its file and line; `stackctl validate` reports them all.\n", FileName)
	var walk func(fs []field, depth int)
	walk = func(fs []field, depth int) {
		for _, f := range fs {
			fmt.Fprintf(&b, "\n%s `%s`\n\n%s\n", strings.Repeat("#", min(depth+2, 4)), f.path, f.doc)
			if f.example != "" {
				fmt.Fprintf(&b, "\nExample: `%s: %s`\n", f.key, f.example)
			}
			walk(f.children, depth+1)
		}
	}
	walk(fieldDocs(), 0)
	return b.Bytes()
}

// templateHeader opens the settings file 'stackctl init' writes.
const templateHeader = `# stackctl site settings. This file makes its directory a stackctl site: every
# stackctl command run here, or in a directory below, finds the site by it
# (or give the directory with --dir or STACKCTL_DIR). docs/site.md describes
# the site, docs/settings.md what each setting does.
#
# The site holds the operator's own files: themes/ (baked into the Redmine
# image on the next 'stackctl up redmine') and plugins/. stackctl writes
# .stackctl/ itself; leave it alone.
#
# Every setting but version is commented out below, with its documentation
# and an example value: remove the '# ' before a key (and before its section's
# key) to set it. Secrets are never written here: a *_file key names a file of
# yours with mode 0600 that holds one. 'stackctl validate' checks this file.
`

// Template is the settings file 'stackctl init' writes: version set, and
// every other key commented out under its documentation.
func Template() string {
	var b strings.Builder
	b.WriteString(templateHeader)
	var walk func(fs []field, depth int)
	walk = func(fs []field, depth int) {
		indent := strings.Repeat("  ", depth)
		for _, f := range fs {
			lead := "# " + indent
			if depth > 0 {
				lead += "# "
			}
			if depth == 0 {
				b.WriteString("\n")
			}
			for _, line := range wrap(f.key+": "+f.doc, 78-len(lead)) {
				b.WriteString(strings.TrimRight(lead+line, " ") + "\n")
			}
			switch {
			case f.key == "version":
				fmt.Fprintf(&b, "version: %d\n", Version)
			case f.children != nil:
				fmt.Fprintf(&b, "# %s%s:\n", indent, f.key)
				walk(f.children, depth+1)
			default:
				fmt.Fprintf(&b, "# %s%s: %s\n", indent, f.key, f.example)
			}
		}
	}
	walk(fieldDocs(), 0)
	return b.String()
}

// wrap breaks text into lines of at most width characters, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return append(lines, line)
}
