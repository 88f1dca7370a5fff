package updates

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"pault.ag/go/debian/version"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/termsafe"
)

// maxStatus bounds the dpkg status file ParseStatus reads: an image with a
// few thousand packages has a few MiB.
const maxStatus = 64 << 20

// Installed is a package dpkg says is installed in an image.
type Installed struct {
	Package, Architecture, Version string
	// Source is the source package's name (without the version dpkg may add
	// in parentheses), Package when dpkg names none.
	Source string
}

// ParseStatus reads dpkg's status file (/var/lib/dpkg/status) and returns the
// packages whose state is "installed", in the file's order. It reads at most
// 64 MiB and refuses a paragraph without Package, an installed package
// without Version or Architecture, and a version dpkg would not accept,
// naming the line and the package; the errors wrap errs.ErrInvalidInput.
//
// It parses the status itself rather than with pault.ag/go/debian/control,
// whose continuation lines cost time quadratic in a field's length (a 1 MiB
// field takes a minute): the status comes from an image, which may be
// anyone's, and ParseStatus needs no multi-line field.
func ParseStatus(r io.Reader) ([]Installed, error) {
	br := bufio.NewReader(&boundedReader{r: r, max: maxStatus})
	var (
		out []Installed
		p   statusParagraph
	)
	end := func() error {
		in, ok, err := p.installed()
		if ok {
			out = append(out, in)
		}
		p = statusParagraph{}
		return err
	}
	for line := 1; ; line++ {
		text, err := br.ReadString('\n')
		if errors.Is(err, errTooBig) {
			return nil, fmt.Errorf("%w: dpkg status: more than %s, the most ParseStatus reads: "+
				"this is no dpkg status file, or a damaged one; check the image's /var/lib/dpkg/status", errs.ErrInvalidInput, byteSize(maxStatus))
		}
		if err != nil && err != io.EOF {
			// The reader's own error says what failed, the engine or a file.
			return nil, fmt.Errorf("reading dpkg status at line %d: %w", line, err)
		}
		text = strings.TrimRight(text, "\r\n")
		if strings.TrimSpace(text) == "" {
			if perr := end(); perr != nil {
				return nil, perr
			}
		} else if perr := p.add(text, line); perr != nil {
			return nil, perr
		}
		if err == io.EOF {
			if err := end(); err != nil {
				return nil, err
			}
			return out, nil
		}
	}
}

// statusParagraph holds the fields of one status paragraph that ParseStatus
// needs; the others (Description, Conffiles, ...) are passed over.
type statusParagraph struct {
	start  int // the paragraph's first line, 0 before any
	fields map[string]statusField
}

// statusField is a field's value and the line it is on.
type statusField struct {
	value string
	line  int
}

// statusFields are the fields ParseStatus reads, by their lower-case names
// (field names are case-insensitive in deb822).
var statusFields = map[string]bool{"package": true, "status": true, "version": true, "architecture": true, "source": true}

func (p *statusParagraph) add(text string, line int) error {
	if p.start == 0 {
		p.start = line
		p.fields = map[string]statusField{}
	}
	if text[0] == ' ' || text[0] == '\t' {
		if line == p.start {
			return statusError(line, "", "a continuation line opens a paragraph")
		}
		return nil
	}
	name, value, ok := strings.Cut(text, ":")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		return statusError(line, p.fields["package"].value, "%s is no field (Name: value)", termsafe.String(text))
	}
	name = strings.ToLower(name)
	if !statusFields[name] {
		return nil
	}
	if _, dup := p.fields[name]; dup {
		return statusError(line, p.fields["package"].value, "a second %s field in one paragraph", termsafe.String(name))
	}
	p.fields[name] = statusField{value: strings.TrimSpace(value), line: line}
	return nil
}

// installed is the paragraph's package when dpkg's state for it is
// "installed", whatever its selection (install, hold, deinstall or purge):
// its files are in the image until dpkg removes them.
func (p *statusParagraph) installed() (Installed, bool, error) {
	if p.start == 0 {
		return Installed{}, false, nil
	}
	f := p.fields
	pkg := f["package"].value
	if pkg == "" {
		return Installed{}, false, statusError(p.start, "", "a paragraph without Package")
	}
	if !validName(pkg) {
		return Installed{}, false, statusError(f["package"].line, "", "Package %s is no Debian package name", termsafe.String(pkg))
	}
	status := strings.Fields(f["status"].value)
	if len(status) != 3 {
		return Installed{}, false, statusError(p.start, pkg, "Status %q is not 'selection flag state'", f["status"].value)
	}
	if status[2] != "installed" {
		return Installed{}, false, nil
	}
	in := Installed{Package: pkg, Architecture: f["architecture"].value, Version: f["version"].value, Source: pkg}
	if in.Version == "" {
		return Installed{}, false, statusError(p.start, pkg, "no Version, though installed")
	}
	if _, err := version.Parse(in.Version); err != nil {
		return Installed{}, false, statusError(f["version"].line, pkg, "Version %q: %v", in.Version, err)
	}
	if in.Architecture == "" {
		return Installed{}, false, statusError(p.start, pkg, "no Architecture, though installed")
	}
	if !validName(in.Architecture) {
		return Installed{}, false, statusError(f["architecture"].line, pkg, "Architecture %s is no Debian architecture", termsafe.String(in.Architecture))
	}
	if src, _, _ := strings.Cut(f["source"].value, " "); src != "" {
		if !validName(src) {
			return Installed{}, false, statusError(f["source"].line, pkg, "Source %s is no Debian package name", termsafe.String(src))
		}
		in.Source = src
	}
	return in, true, nil
}

// statusError names the line and, once known, the package of a fault in a
// dpkg status file.
func statusError(line int, pkg, format string, args ...any) error {
	where := fmt.Sprintf("line %d", line)
	if pkg != "" {
		where += ", package " + termsafe.String(pkg)
	}
	return fmt.Errorf("%w: dpkg status, %s: %s: the image's /var/lib/dpkg/status is damaged; rebuild the image",
		errs.ErrInvalidInput, where, fmt.Sprintf(format, args...))
}

// validName says whether s is a Debian package or architecture name as dpkg
// takes them: lower-case letters, digits, '+', '-' and '.', starting with a
// letter or digit.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
