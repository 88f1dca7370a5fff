package offsite

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite/offsitetest"
)

// TestSFTPTrust connects to a real sshd with each way of trusting it, or not:
// nothing is accepted unless known_hosts or the pin says so, and each refusal
// is its sentinel with a message naming the target.
func TestSFTPTrust(t *testing.T) {
	srv := offsitetest.StartSFTP(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stranger := filepath.Join(dir, "stranger")
	offsitetest.WritePrivateKey(t, stranger)
	locked := filepath.Join(dir, "locked")
	writeLockedKey(t, locked)
	otherKey := publicKey(t)
	fingerprint := ssh.FingerprintSHA256(srv.HostKeys[0])
	home := t.TempDir()
	mkdir(t, filepath.Join(home, ".ssh"))
	link(t, srv.Identity, filepath.Join(home, ".ssh", "id_ed25519"))
	link(t, srv.KnownHosts, filepath.Join(home, ".ssh", "known_hosts"))
	emptyHome := t.TempDir()

	for _, tc := range []struct {
		name string
		home string            // $HOME, for the defaults
		path string            // on the server
		opts map[string]string // the URL's options; nil values drop the default one
		want error             // nil: Check succeeds
		says string
	}{
		{name: "key and known_hosts"},
		{name: "pinned fingerprint", opts: map[string]string{"known-hosts": "", "host-key": fingerprint}},
		{name: "known_hosts holding only another type of key", opts: map[string]string{"known-hosts": file("rsa_only", srv.KnownHostsLine(srv.HostKeys[1])+"\n")}},
		{name: "defaults in ~/.ssh", home: home, opts: map[string]string{"identity": "", "known-hosts": ""}},
		{name: "login directory", path: "/~"},
		{name: "key not authorized", opts: map[string]string{"identity": stranger}, want: ErrAuth, says: "refused the key " + stranger},
		{name: "no identity file", opts: map[string]string{"identity": filepath.Join(dir, "missing")}, want: ErrAuth, says: "reading the identity file"},
		{name: "no default identity", home: emptyHome, opts: map[string]string{"identity": "", "known-hosts": srv.KnownHosts}, want: ErrAuth, says: "no identity file"},
		{name: "key with a passphrase", opts: map[string]string{"identity": locked}, want: ErrAuth, says: "protected by a passphrase"},
		{name: "host unknown", opts: map[string]string{"known-hosts": file("others", "[other.example]:22 "+authorized(otherKey))}, want: ErrHostKey, says: "is not in"},
		{name: "host key changed", opts: map[string]string{"known-hosts": file("changed", srv.KnownHostsLine(otherKey)+"\n")}, want: ErrHostKey, says: "holds another for it"},
		{name: "no known_hosts file", opts: map[string]string{"known-hosts": filepath.Join(dir, "none")}, want: ErrHostKey, says: "no known_hosts file"},
		{name: "pin does not match", opts: map[string]string{"known-hosts": "", "host-key": ssh.FingerprintSHA256(otherKey)}, want: ErrHostKey, says: "not the pinned"},
		{name: "missing directory", path: filepath.Join(srv.Dir, "missing"), want: errs.ErrNotFound, says: "does not exist: create it (ssh -p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.home != "" {
				t.Setenv("HOME", tc.home)
			}
			if tc.path == "" {
				tc.path = srv.Dir
			}
			q := url.Values{"identity": {srv.Identity}, "known-hosts": {srv.KnownHosts}}
			for k, v := range tc.opts {
				if q.Del(k); v != "" {
					q.Set(k, v)
				}
			}
			raw := "sftp://" + srv.User + "@" + srv.Addr + tc.path + "?" + q.Encode()
			checkTarget(t, raw, tc.want, tc.says)
		})
	}
	t.Run("nothing listens", func(t *testing.T) {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(offsitetest.FreePort(t)))
		q := url.Values{"identity": {srv.Identity}, "known-hosts": {srv.KnownHosts}}
		checkTarget(t, "sftp://"+srv.User+"@"+addr+srv.Dir+"?"+q.Encode(), errs.ErrUnavailable, "cannot reach")
	})
}

// checkTarget parses raw and checks the target: it must succeed when want is
// nil, else fail with want and a message naming the target and saying says.
func checkTarget(t *testing.T, raw string, want error, says string) {
	t.Helper()
	target, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	err = target.Check(context.Background())
	switch {
	case want == nil && err != nil:
		t.Fatal(err)
	case want == nil:
		return
	case !errors.Is(err, want):
		t.Fatalf("Check = %v, want %v", err, want)
	case !strings.Contains(err.Error(), target.String()) || !strings.Contains(err.Error(), says):
		t.Fatalf("message %q does not name %s or say %q", err, target, says)
	}
	t.Logf("%v", err)
}

func publicKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func authorized(key ssh.PublicKey) string { return string(ssh.MarshalAuthorizedKey(key)) }

func writeLockedKey(t *testing.T, file string) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKeyWithPassphrase(key, "", []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}

func link(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Symlink(from, to); err != nil {
		t.Fatal(err)
	}
}
