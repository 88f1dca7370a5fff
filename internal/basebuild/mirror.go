package basebuild

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// DefaultMirror is the Debian mirror bases are built from unless the operator
// names another (--mirror or STACKCTL_DEBIAN_MIRROR).
const DefaultMirror = "http://deb.debian.org/debian"

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
