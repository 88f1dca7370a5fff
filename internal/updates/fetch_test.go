package updates

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ulikunitz/xz"

	"github.com/stackctl/stackctl/internal/errs"
)

// now is the time the tests' archive is read at.
var now = time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)

// signingKeys are the test archive's key, another, and one that expired.
type signingKeys struct{ archive, other, expired *openpgp.Entity }

// testKeys makes the keys once: ed25519, since RSA keys take seconds to make.
var testKeys = sync.OnceValues(func() (signingKeys, error) {
	var keys signingKeys
	var err error
	config := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}
	if keys.archive, err = openpgp.NewEntity("Test Archive Automatic Signing Key", "", "archive@example.org", config); err != nil {
		return keys, err
	}
	if keys.other, err = openpgp.NewEntity("Someone Else", "", "other@example.org", config); err != nil {
		return keys, err
	}
	keys.expired, err = openpgp.NewEntity("Expired Key", "", "expired@example.org", &packet.Config{
		Algorithm: packet.PubKeyAlgoEdDSA, KeyLifetimeSecs: 3600, // made a day ago, for an hour
		Time: func() time.Time { return time.Now().Add(-24 * time.Hour) },
	})
	return keys, err
})

func signers(t *testing.T) signingKeys {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// publicKeyring writes e's public key to a file, as debian-archive-keyring
// ships its keys (binary) or armored, and reads it back with LoadKeyring.
func publicKeyring(t *testing.T, e *openpgp.Entity, armored bool) openpgp.EntityList {
	t.Helper()
	var buf bytes.Buffer
	if armored {
		w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Serialize(w); err != nil {
			t.Fatal(err)
		}
		w.Close()
	} else if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keyring.gpg")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func clearSign(t *testing.T, e *openpgp.Entity, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := clearsign.Encode(&buf, e.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzText(t *testing.T, text string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// packagesText is testdata/Packages-trixie-security, a Packages file as
// Debian writes them, trimmed: two versions of libssl3t64 (the newer wins),
// openssl, and tzdata for all architectures.
func packagesText(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "Packages-trixie-security"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// testArchive is what the test mirror serves for trixie-security; each
// Fetch case changes one thing from goodArchive.
type testArchive struct {
	suite, codename string
	validUntil      time.Time
	byHash          bool            // the InRelease says Acquire-By-Hash: yes
	signer          *openpgp.Entity // nil: not signed
	tamper          bool            // the InRelease is changed after it is signed
	packages        []byte          // the Packages.xz the InRelease lists
	listedSize      int             // the size the InRelease gives it; 0: its own
	served          []byte          // the Packages.xz the mirror serves; nil: packages
	servedAt        []string        // where the mirror serves it: "plain", "by-hash"
	inRelease       []byte          // served in place of the InRelease made of the above
	noInRelease     bool
}

func goodArchive(t *testing.T) testArchive {
	return testArchive{
		suite: "stable-security", codename: "trixie-security",
		validUntil: now.Add(7 * 24 * time.Hour),
		signer:     signers(t).archive,
		packages:   xzText(t, packagesText(t)),
		servedAt:   []string{"plain"},
	}
}

const (
	releaseDate = "Sun, 06 Dec 2026 02:54:30 UTC"
	dists       = "/debian-security/dists/trixie-security"
)

// serve starts a mirror of a under /debian-security and returns its URL.
func (a testArchive) serve(t *testing.T) string {
	t.Helper()
	sum := sha256.Sum256(a.packages)
	size := len(a.packages)
	if a.listedSize != 0 {
		size = a.listedSize
	}
	text := fmt.Sprintf("Origin: Debian\nLabel: Debian-Security\nSuite: %s\nVersion: 13\nCodename: %s\nDate: %s\nValid-Until: %s\n",
		a.suite, a.codename, releaseDate, a.validUntil.Format(time.RFC1123))
	if a.byHash {
		text += "Acquire-By-Hash: yes\n"
	}
	text += "Architectures: amd64 arm64\nComponents: updates/main\nDescription: Debian 13 - Security Updates\nSHA256:\n" +
		" e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855        0 contrib/binary-amd64/Packages\n" +
		fmt.Sprintf(" %x %8d main/binary-amd64/Packages.xz\n", sum, size) +
		" 23fd273c3128a6b1febbf32e0c6851626b43b0115c0057a50f97b50a9ebf8b26  2291031 main/binary-amd64/Packages\n"
	body := []byte(text)
	if a.signer != nil {
		body = clearSign(t, a.signer, text)
	}
	if a.tamper {
		body = bytes.Replace(body, []byte("Version: 13"), []byte("Version: 14"), 1)
	}
	if a.inRelease != nil {
		body = a.inRelease
	}
	served := a.served
	if served == nil {
		served = a.packages
	}
	files := map[string][]byte{}
	if !a.noInRelease {
		files[dists+"/InRelease"] = body
	}
	for _, at := range a.servedAt {
		switch at {
		case "plain":
			files[dists+"/main/binary-amd64/Packages.xz"] = served
		case "by-hash":
			files[fmt.Sprintf("%s/main/binary-amd64/by-hash/SHA256/%x", dists, sum)] = served
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/debian-security"
}

// TestFetch reads trixie-security's index for amd64 from a test mirror whose
// InRelease the test signs, and refuses each way the mirror can fail it.
func TestFetch(t *testing.T) {
	keys := signers(t)
	keyring := publicKeyring(t, keys.archive, false)
	var big bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&big, "Package: p%d\nVersion: 1.0\nArchitecture: all\nFilename: pool/main/p/p%d_1.0_all.deb\n\n", i, i)
	}
	tests := []struct {
		name  string
		edit  func(a *testArchive)
		fetch func(f *Fetcher)
		arch  string
		// wantErr are substrings of the error, which wraps wantIs.
		wantErr []string
		wantIs  error
	}{
		{name: "good"},
		{name: "armored keyring", fetch: func(f *Fetcher) { f.Keyring = publicKeyring(t, keys.archive, true) }},
		{name: "by hash", edit: func(a *testArchive) { a.byHash = true; a.servedAt = []string{"by-hash"} }},
		{name: "by hash offered, served plain", edit: func(a *testArchive) { a.byHash = true }},
		{name: "unsigned", edit: func(a *testArchive) { a.signer = nil }, wantErr: []string{dists + "/InRelease is not signed"}},
		{name: "signed by another key", edit: func(a *testArchive) { a.signer = keys.other }, wantErr: []string{"signed by no key of the keyring", "debian-archive-keyring"}},
		{name: "signed by an expired key", edit: func(a *testArchive) { a.signer = keys.expired },
			fetch:   func(f *Fetcher) { f.Keyring = publicKeyring(t, keys.expired, false) },
			wantErr: []string{"signature is no longer valid", "key expired", "update debian-archive-keyring"}},
		{name: "altered after signing", edit: func(a *testArchive) { a.tamper = true }, wantErr: []string{"signature does not verify"}},
		{name: "not clear-signed", edit: func(a *testArchive) {
			a.inRelease = []byte("-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n")
		},
			wantErr: []string{"signature does not verify"}},
		{name: "Valid-Until past", edit: func(a *testArchive) { a.validUntil = now.Add(-time.Hour) },
			wantErr: []string{"expired at Mon, 07 Dec 2026 23:00:00 UTC (Valid-Until", "use another mirror"}},
		{name: "Valid-Until past, not checked", edit: func(a *testArchive) { a.validUntil = now.Add(-time.Hour) },
			fetch: func(f *Fetcher) { f.CheckValidUntil = false }},
		{name: "hash mismatch", edit: func(a *testArchive) {
			a.served = bytes.Clone(a.packages)
			a.served[len(a.served)/2] ^= 1
		}, wantErr: []string{"main/binary-amd64/Packages.xz: its SHA-256 is", "InRelease says"}},
		{name: "longer than listed", edit: func(a *testArchive) { a.served = append(bytes.Clone(a.packages), 0) },
			wantErr: []string{"says " + fmt.Sprint(len(xzText(t, packagesText(t)))) + " bytes, the mirror sent more than that"}},
		{name: "shorter than listed", edit: func(a *testArchive) { a.served = a.packages[:len(a.packages)-1] },
			wantErr: []string{"the mirror sent " + fmt.Sprint(len(xzText(t, packagesText(t)))-1) + " bytes"}},
		{name: "suite mismatch", edit: func(a *testArchive) { a.suite, a.codename = "oldstable-security", "bookworm-security" },
			wantErr: []string{"is for suite oldstable-security (codename bookworm-security), not trixie-security"}},
		{name: "suite by its Suite field", edit: func(a *testArchive) { a.suite, a.codename = "trixie-security", "stable-security" }},
		{name: "InRelease not found", edit: func(a *testArchive) { a.noInRelease = true }, wantErr: []string{dists + "/InRelease: not found (404 Not Found)"}},
		{name: "Packages.xz not found", edit: func(a *testArchive) { a.servedAt = nil }, wantErr: []string{"Packages.xz: not found, though the InRelease lists it"}},
		{name: "architecture not listed", arch: "arm64", wantErr: []string{"lists no main/binary-arm64/Packages.xz", "amd64 arm64"}},
		{name: "oversize InRelease", edit: func(a *testArchive) { a.inRelease = bytes.Repeat([]byte("x"), maxInRelease+1) },
			wantErr: []string{"InRelease: too big: over 4 MiB"}},
		{name: "oversize Packages.xz listed", edit: func(a *testArchive) { a.listedSize = maxPackagesXZ + 1 },
			wantErr: []string{"InRelease says main/binary-amd64/Packages.xz is 268435457 bytes, over the 256 MiB Fetch reads"}},
		{name: "oversize unpacked", edit: func(a *testArchive) { a.packages = xzText(t, big.String()) },
			fetch:   func(f *Fetcher) { f.maxPackages = 4096 },
			wantErr: []string{"Packages.xz unpacks to more than 4096 bytes"}},
		{name: "not xz", edit: func(a *testArchive) { a.packages = []byte(packagesText(t)) }, wantErr: []string{"not xz"}},
		{name: "Filename out of the mirror", edit: func(a *testArchive) {
			a.packages = xzText(t, strings.Replace(packagesText(t), "Filename: pool/updates/main/t/", "Filename: ../../t/", 1))
		}, wantErr: []string{`package tzdata: Filename "../../t/tzdata/tzdata_2025c-0+deb13u1_all.deb" is no path under the mirror`}},
		{name: "no keyring", fetch: func(f *Fetcher) { f.Keyring = nil }, wantErr: []string{"no keys to check", DefaultKeyring}, wantIs: errs.ErrInvalidInput},
		{name: "bad architecture", arch: "../amd64", wantErr: []string{"architecture ../amd64"}, wantIs: errs.ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := goodArchive(t)
			if tc.edit != nil {
				tc.edit(&a)
			}
			mirror := a.serve(t)
			f := &Fetcher{Keyring: keyring, CheckValidUntil: true, Now: func() time.Time { return now }}
			if tc.fetch != nil {
				tc.fetch(f)
			}
			arch := cmp.Or(tc.arch, "amd64")
			x, err := f.Fetch(context.Background(), Suite{Mirror: mirror + "/", Name: "trixie-security"}, arch)
			if tc.wantErr != nil {
				wantIs := tc.wantIs
				if wantIs == nil {
					wantIs = errs.ErrUnavailable
				}
				if !errors.Is(err, wantIs) {
					t.Fatalf("Fetch: %v, want an error wrapping %v", err, wantIs)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if x.Suite != (Suite{Mirror: mirror, Name: "trixie-security"}) {
				t.Errorf("Suite = %+v", x.Suite)
			}
			if want := time.Date(2026, 12, 6, 2, 54, 30, 0, time.UTC); !x.Date.Equal(want) {
				t.Errorf("Date = %v, want %v", x.Date, want)
			}
			if x.Len() != 3 {
				t.Errorf("Len = %d, want 3", x.Len())
			}
			want := Available{Package: "libssl3t64", Architecture: "amd64", Version: "3.5.10-1~deb13u1",
				Filename: "pool/updates/main/o/openssl/libssl3t64_3.5.10-1~deb13u1_amd64.deb"}
			if got, ok := x.Lookup("libssl3t64", "amd64"); !ok || got != want {
				t.Errorf("Lookup(libssl3t64, amd64) = %+v, %v, want %+v", got, ok, want)
			}
			if got, ok := x.Lookup("tzdata", "all"); !ok || got.Version != "2025c-0+deb13u1" {
				t.Errorf("Lookup(tzdata, all) = %+v, %v", got, ok)
			}
			if _, ok := x.Lookup("tzdata", "amd64"); ok {
				t.Error("Lookup(tzdata, amd64) found an all package")
			}
		})
	}
}

// TestLoadKeyring: binary and armored keyrings are read; a missing file says
// which package installs Debian's keys, and a file of something else is
// refused.
func TestLoadKeyring(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.gpg")
	if err := os.WriteFile(garbage, []byte("not a keyring"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.gpg")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		path    string
		wantIs  error
		wantErr string
	}{
		{name: "missing", path: filepath.Join(dir, "none.gpg"), wantIs: errs.ErrUnavailable, wantErr: "apt-get install debian-archive-keyring"},
		{name: "garbage", path: garbage, wantIs: errs.ErrInvalidInput, wantErr: garbage + " is no OpenPGP keyring"},
		{name: "empty", path: empty, wantIs: errs.ErrInvalidInput, wantErr: empty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeyring(tc.path)
			if !errors.Is(err, tc.wantIs) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("LoadKeyring(%s) = %v, want an error wrapping %v saying %q", tc.path, err, tc.wantIs, tc.wantErr)
			}
		})
	}
	key := signers(t).archive
	for _, armored := range []bool{false, true} {
		if keys := publicKeyring(t, key, armored); len(keys) != 1 || keys[0].PrimaryKey.KeyId != key.PrimaryKey.KeyId || keys[0].PrivateKey != nil {
			t.Errorf("armored %v: LoadKeyring = %v, want the public key %X", armored, keys, key.PrimaryKey.KeyId)
		}
	}
}
