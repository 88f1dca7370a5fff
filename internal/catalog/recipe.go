package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// Recipe says how to build a debian base image with mmdebstrap and import it.
// Everything that shapes the image is in here, so its hash decides when an
// existing image is stale. The mirror is deliberately left out: any faithful
// mirror of the suite yields the same image.
type Recipe struct {
	Suite    string   `json:"suite"`
	Variant  string   `json:"variant"`
	Packages []string `json:"packages"`
	// DpkgOpts are passed as --dpkgopt, mostly path-exclude rules that keep docs out.
	DpkgOpts []string `json:"dpkg_opts"`
	// AptOpts are passed as --aptopt: what apt needs from the mirror.
	AptOpts []string `json:"apt_opts,omitempty"`
	// Essential is a shell script run once the essential packages are installed
	// and before the others are: debconf preseeding goes here. Like Customize, it
	// runs on the host with /bin/sh -eu and the new root as $1.
	Essential string `json:"essential,omitempty"`
	// Files are installed into the new root (path: content, mode 0755) once
	// packages are installed, before Customize runs.
	Files map[string]string `json:"files,omitempty"`
	// Customize is a shell script run once packages are installed, on the host
	// with the new root as $1.
	Customize string `json:"customize"`
	// Changes are Dockerfile instructions applied at import (ENV, CMD, USER, ...).
	Changes []string `json:"changes"`
	// SuiteAlone builds from the suite alone, without its -security and
	// -updates suites: for a mirror that lacks them, and said so.
	SuiteAlone bool `json:"suite_alone,omitempty"`
}

// Suites are the suites a base is built from: the release's, its security
// fixes and its stable updates, so that a base has every fix published when
// it is built, not only those of the last point release.
func (r Recipe) Suites() []string {
	if r.SuiteAlone {
		return []string{r.Suite}
	}
	return []string{r.Suite, r.Suite + "-updates", r.Suite + "-security"}
}

// recipeFormat is bumped whenever the builder's interpretation of a Recipe changes,
// so images built by an older stackctl are rebuilt. 3: built with the
// suite's -security and -updates suites (Suites).
const recipeFormat = 3

// Hash identifies the recipe's content: equal hashes build equivalent images.
func (r Recipe) Hash() string {
	b, err := json.Marshal(struct {
		Format int    `json:"format"`
		Recipe Recipe `json:"recipe"`
	}{recipeFormat, r})
	if err != nil {
		panic("recipe is always marshalable: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// DocsExcluded keeps documentation, manuals and translations out of a base:
// nothing in a container reads them, and they are a third of a minimal root.
var DocsExcluded = []string{
	"path-exclude=/usr/share/doc/*",
	"path-include=/usr/share/doc/*/copyright",
	"path-exclude=/usr/share/man/*",
	"path-exclude=/usr/share/info/*",
	"path-exclude=/usr/share/locale/*",
	"path-exclude=/usr/share/lintian/*",
}
