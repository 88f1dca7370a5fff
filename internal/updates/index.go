package updates

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"pault.ag/go/debian/control"
	"pault.ag/go/debian/version"
)

// Suite is one archive suite on one mirror:
// {Mirror: "http://deb.debian.org/debian-security", Name: "trixie-security"}.
type Suite struct {
	Mirror, Name string
}

// security says whether the suite is one of Debian's security suites, which
// win a tie against the updates suites in Pending.
func (s Suite) security() bool {
	return strings.HasSuffix(s.Name, "-security")
}

// Available is one binary package an index offers.
type Available struct {
	Package, Architecture, Version string
	// Filename is the .deb's path under the mirror, as the index gives it.
	Filename string
}

// Index is what one suite offers for one architecture (component main): the
// newest version of each package for that architecture and for "all".
type Index struct {
	Suite Suite
	// Date is the InRelease's Date: when the archive published this index.
	Date     time.Time
	packages map[string]offer // by indexKey
}

// offer is an Available with its version parsed once.
type offer struct {
	Available
	version version.Version
}

func indexKey(pkg, arch string) string { return pkg + "/" + arch }

// Lookup is the newest version of pkg for arch the index offers.
func (x *Index) Lookup(pkg, arch string) (Available, bool) {
	o, ok := x.packages[indexKey(pkg, arch)]
	return o.Available, ok
}

// Len is the number of (package, architecture) pairs the index offers.
func (x *Index) Len() int { return len(x.packages) }

// add keeps a, unless the index offers a version of its package as new.
func (x *Index) add(a Available) error {
	v, err := version.Parse(a.Version)
	if err != nil {
		return fmt.Errorf("package %s: Version %q: %v", a.Package, a.Version, err)
	}
	if x.packages == nil {
		x.packages = map[string]offer{}
	}
	k := indexKey(a.Package, a.Architecture)
	if old, ok := x.packages[k]; ok && version.Compare(old.version, v) >= 0 {
		return nil
	}
	x.packages[k] = offer{Available: a, version: v}
	return nil
}

// readPackages adds to x every binary paragraph of a Packages file. The file
// is the one the signed InRelease lists, its hash checked, so the control
// package's parser (slow on long multi-line fields) meets only Debian's own.
// An error names the package (or the paragraph's number) and the reason.
func (x *Index) readPackages(r io.Reader) error {
	pr, err := control.NewParagraphReader(r, nil)
	if err != nil {
		return err
	}
	for n := 1; ; n++ {
		p, err := pr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("paragraph %d: %w", n, err)
		}
		a := Available{
			Package:      p.Values["Package"],
			Architecture: p.Values["Architecture"],
			Version:      p.Values["Version"],
			Filename:     p.Values["Filename"],
		}
		switch {
		case !validName(a.Package):
			return fmt.Errorf("paragraph %d: Package %q is no Debian package name", n, a.Package)
		case !validName(a.Architecture):
			return fmt.Errorf("package %s: Architecture %q is no Debian architecture", a.Package, a.Architecture)
		case !validFilename(a.Filename):
			return fmt.Errorf("package %s: Filename %q is no path under the mirror", a.Package, a.Filename)
		}
		if err := x.add(a); err != nil {
			return err
		}
	}
}

// validFilename says whether name is a plain relative path, one that keeps
// the .deb's URL under the mirror and needs no escaping in it.
func validFilename(name string) bool {
	return fs.ValidPath(name) && name != "." &&
		!strings.ContainsFunc(name, func(c rune) bool { return c <= ' ' || c >= 0x7f || strings.ContainsRune(`?#%\`, c) })
}
