package basebuild

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/errs"
)

// DefaultMirror is the Debian mirror bases are built from unless the operator
// names another (--mirror or STACKCTL_DEBIAN_MIRROR).
const DefaultMirror = "http://deb.debian.org/debian"

// SecurityMirrorEnv names the mirror of Debian's security suites when it is
// not the main mirror's debian-security beside its debian; "none" builds
// bases from the suite alone, without security fixes (said at every build).
const SecurityMirrorEnv = "STACKCTL_DEBIAN_SECURITY_MIRROR"

// Sources are the mirrors a base is built from: Debian's archive, and the
// security archive, which Debian keeps apart (debian-security).
type Sources struct {
	Mirror, Security string
}

// NewSources is mirror and the security archive beside it: security, else
// $STACKCTL_DEBIAN_SECURITY_MIRROR, else mirror's /debian made /debian-security.
// alone says bases are built from the suite alone (security is "none").
func NewSources(mirror, security string) (src Sources, alone bool, err error) {
	mirror = strings.TrimRight(mirror, "/")
	if security == "" {
		security = os.Getenv(SecurityMirrorEnv)
	}
	switch {
	case security == "none":
		return Sources{Mirror: mirror}, true, nil
	case security != "":
		return Sources{Mirror: mirror, Security: strings.TrimRight(security, "/")}, false, nil
	case strings.HasSuffix(mirror, "/debian"):
		return Sources{Mirror: mirror, Security: mirror + "-security"}, false, nil
	}
	return Sources{}, false, fmt.Errorf("%w: Debian mirror %s: where is its security archive (debian-security)? "+
		"set %s to its URL, or to none to build without security fixes (not for a tracker others use)", errs.ErrInvalidInput, mirror, SecurityMirrorEnv)
}

// Lines are the apt sources of r's suites, as mmdebstrap takes them.
func (src Sources) Lines(r catalog.Recipe) []string {
	var lines []string
	for _, suite := range r.Suites() {
		mirror := src.Mirror
		if strings.HasSuffix(suite, "-security") {
			mirror = src.Security
		}
		lines = append(lines, "deb "+mirror+" "+suite+" main")
	}
	return lines
}

// Check fails with errs.ErrUnavailable unless every suite of r is served,
// so that an unreachable mirror, or one without the security suite, is
// reported in seconds, before anything is built.
func (src Sources) Check(ctx context.Context, r catalog.Recipe) error {
	for _, suite := range r.Suites() {
		mirror := src.Mirror
		if strings.HasSuffix(suite, "-security") {
			mirror = src.Security
		}
		err := CheckMirror(ctx, mirror, suite)
		switch {
		case err == nil:
		case strings.HasSuffix(suite, "-security"):
			return fmt.Errorf("%w: bases are built with Debian's security fixes: set %s to a mirror of debian-security that has %s "+
				"(or to none, to build without them, not for a tracker others use)", err, SecurityMirrorEnv, suite)
		case suite != r.Suite:
			return fmt.Errorf("%w: bases are built with the suite's stable updates: use a mirror that has %s "+
				"(or set %s=none to build from %s alone, without security fixes either)", err, suite, SecurityMirrorEnv, r.Suite)
		default:
			return err
		}
	}
	return nil
}

// CheckMirror fails with errs.ErrUnavailable unless mirror serves suite's release file,
// so an unreachable mirror is reported in seconds, before anything is built.
func CheckMirror(ctx context.Context, mirror, suite string) error {
	if strings.HasPrefix(mirror, "file:") {
		return nil
	}
	url := mirror + "/dists/" + suite + "/InRelease"
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return fmt.Errorf("%w: Debian mirror %q: %v: pass a URL like %s with --mirror", errs.ErrInvalidInput, mirror, err, DefaultMirror)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: Debian mirror %s is not reachable: %v: check the network or pass another with --mirror (or STACKCTL_DEBIAN_MIRROR)", errs.ErrUnavailable, mirror, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: Debian mirror %s has no %s (%s for %s): check the URL and suite, or pass another with --mirror", errs.ErrUnavailable, mirror, suite, resp.Status, url)
	}
	return nil
}
