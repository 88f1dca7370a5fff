package updates

import (
	"context"
	"os"
	"testing"
	"time"
)

// mirrorTestEnv turns on TestDebianMirror, which needs the network.
const mirrorTestEnv = "STACKCTL_UPDATES_MIRROR_TEST"

// TestDebianMirror reads trixie-security and trixie-updates for amd64 from
// Debian's mirror, checked against this host's Debian archive keyring, and
// finds an old openssl's fix in them.
func TestDebianMirror(t *testing.T) {
	if os.Getenv(mirrorTestEnv) != "1" {
		t.Skipf("reads Debian's mirror over the network: set %s=1 to run it", mirrorTestEnv)
	}
	keys, err := LoadKeyring(DefaultKeyring)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := &Fetcher{Keyring: keys, CheckValidUntil: true}
	var indexes []*Index
	for _, s := range []Suite{
		{Mirror: "http://deb.debian.org/debian-security", Name: "trixie-security"},
		{Mirror: "http://deb.debian.org/debian", Name: "trixie-updates"},
	} {
		x, err := f.Fetch(ctx, s, "amd64")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %s: %d packages for amd64 and all, dated %s", s.Mirror, s.Name, x.Len(), x.Date.Format(time.RFC1123))
		indexes = append(indexes, x)
	}

	installed := []Installed{
		{Package: "libssl3t64", Architecture: "amd64", Version: "3.5.0-1", Source: "openssl"},
		{Package: "openssl", Architecture: "amd64", Version: "3.5.0-1", Source: "openssl"},
		{Package: "tzdata", Architecture: "all", Version: "2025a-1", Source: "tzdata"},
		{Package: "base-files", Architecture: "amd64", Version: "13.8", Source: "base-files"},
	}
	us := Pending(installed, indexes...)
	oldest := f.Published(ctx, us)
	t.Logf("%d of %d installed packages pending; oldest published %v", len(us), len(installed), oldest)
	found := false
	for _, u := range us {
		t.Logf("  %s:%s %s -> %s from %s (%s), published %v", u.Package, u.Architecture, u.Installed, u.Available, u.Suite, u.URL, u.Published)
		found = found || (u.Package == "libssl3t64" && u.Suite == "trixie-security")
	}
	if !found {
		t.Errorf("libssl3t64 3.5.0-1 is not pending from trixie-security")
	}
}
