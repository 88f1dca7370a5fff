package secretscan

import (
	"strings"

	"github.com/DefangLabs/secret-detector/pkg/detectors/aws"
	"github.com/DefangLabs/secret-detector/pkg/detectors/azure"
	"github.com/DefangLabs/secret-detector/pkg/detectors/basicauth"
	"github.com/DefangLabs/secret-detector/pkg/detectors/generic"
	"github.com/DefangLabs/secret-detector/pkg/detectors/github"
	"github.com/DefangLabs/secret-detector/pkg/detectors/jwt"
	"github.com/DefangLabs/secret-detector/pkg/detectors/keyword"
	"github.com/DefangLabs/secret-detector/pkg/detectors/npm"
	"github.com/DefangLabs/secret-detector/pkg/detectors/privatekey"
	"github.com/DefangLabs/secret-detector/pkg/detectors/sendgrid"
	"github.com/DefangLabs/secret-detector/pkg/detectors/slack"
	"github.com/DefangLabs/secret-detector/pkg/detectors/stripe"
	"github.com/DefangLabs/secret-detector/pkg/secrets"
)

// detectors are the Compose SDK's own secret detector's rules ('docker
// compose publish' refuses to publish what they find): a secret-sounding name
// with a literal value, a password in a URL, and the token formats of well-known
// services. The high-entropy detector is left out: it flags digests and ids.
var detectors = []secrets.Detector{
	keyword.NewDetector(),
	generic.NewURLPasswordDetector(),
	basicauth.NewDetector(),
	aws.NewClientIdDetector(),
	aws.NewSecretKeyDetector(),
	azure.NewDetector(),
	github.NewDetector(),
	jwt.NewDetector(),
	npm.NewDetector(),
	privatekey.NewDetector(),
	sendgrid.NewDetector(),
	slack.NewDetector(),
	stripe.NewDetector(),
}

// Kind says what makes the value of key look secret, or "" when nothing does.
func Kind(key, value string) string {
	for _, d := range detectors {
		if hits, err := d.ScanMap(map[string]string{key: value}); err == nil && len(hits) > 0 {
			return hits[0].Type
		}
	}
	return ""
}

// secretWords are the words of a key that names a secret.
var secretWords = []string{"password", "passwd", "secret", "token", "private", "credential", "apikey", "api_key"}

// SecretName says whether key's name says it holds a secret.
func SecretName(key string) bool {
	k := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}
