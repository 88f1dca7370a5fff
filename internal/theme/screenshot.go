package theme

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/stackctl/stackctl/internal/errs"
)

// chromiumNames are the names Debian's and other distributions' Chromium installs under.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// Screenshot renders url with headless Chromium into file, a PNG. pin, for
// an https url, is the base64 SHA-256 of the public key of the certificate
// stackctl verified there (Client.Pin): Chromium trusts that key alone,
// whatever CA signed it and whatever name the url has (the published
// address, not the site's host name).
func Screenshot(ctx context.Context, url, file, pin string) error {
	bin := ""
	for _, n := range chromiumNames {
		if p, err := exec.LookPath(n); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		return fmt.Errorf("%w: Chromium is not installed: install Debian's package with 'apt-get install chromium' (scripts/bootstrap does)", ErrScreenshot)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	_ = os.Remove(file)
	// --no-sandbox: Chromium's sandbox refuses to run as root, as stackctl does.
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900", "--screenshot=" + file}
	if pin != "" {
		// Chromium honours the pin only with a profile of its own, which
		// also keeps the operator's profile out of it.
		profile, err := os.MkdirTemp("", "stackctl-chromium-")
		if err != nil {
			return fmt.Errorf("%w: %v", ErrScreenshot, err)
		}
		defer os.RemoveAll(profile)
		args = append(args, "--user-data-dir="+profile, "--ignore-certificate-errors-spki-list="+pin)
	}
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s: %v\n%s", ErrScreenshot, bin, err, errs.LastLines(out.String(), 10))
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("%w: Chromium wrote no %s: %v", ErrScreenshot, file, err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		return fmt.Errorf("%w: %s is not a PNG", ErrScreenshot, file)
	}
	return nil
}
