package updates

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ulikunitz/xz"
	"pault.ag/go/debian/control"

	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/termsafe"
)

// DefaultKeyring is where Debian's package debian-archive-keyring puts the
// keys Debian signs its archives with.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// Bounds on what a mirror sends, far above what Debian serves: trixie's own
// InRelease is 137 KiB and its amd64 Packages.xz 9.2 MiB (54 MiB unpacked);
// trixie-security's are 43 KiB and 310 KiB.
const (
	maxKeyring    = 16 << 20
	maxInRelease  = 4 << 20
	maxPackagesXZ = 256 << 20
	maxPackages   = 512 << 20
)

// Fetcher reads suites' indexes from a mirror over HTTP. It is safe for
// concurrent use.
type Fetcher struct {
	// Client makes the requests; nil: a client with a two-minute timeout.
	Client *http.Client
	// Keyring holds the keys an InRelease must be signed by (LoadKeyring);
	// empty, Fetch refuses.
	Keyring openpgp.EntityList
	// CheckValidUntil refuses an InRelease past its Valid-Until: a mirror that
	// stopped syncing, or an old file replayed. Set it for a suite Debian keeps
	// fresh (trixie); a suite whose InRelease a mirror serves past it (forky
	// here) needs it unset. An InRelease without Valid-Until passes, as in apt.
	CheckValidUntil bool
	// Now is the time Valid-Until is checked against; nil: time.Now.
	Now func() time.Time

	// maxPackages bounds a Packages file unpacked; 0: maxPackages.
	maxPackages int64
}

var defaultClient = &http.Client{Timeout: 2 * time.Minute}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return defaultClient
}

func (f *Fetcher) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// LoadKeyring reads an OpenPGP keyring file, binary (as debian-archive-keyring
// installs them) or armored.
func LoadKeyring(path string) (openpgp.EntityList, error) {
	file, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: Debian archive keyring %s is missing: install Debian's archive keys "+
			"(apt-get install debian-archive-keyring)", errs.ErrUnavailable, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: Debian archive keyring: %v: make it readable", errs.ErrUnavailable, err)
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxKeyring+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading Debian archive keyring %s: %v", errs.ErrUnavailable, path, err)
	}
	if len(data) > maxKeyring {
		return nil, fmt.Errorf("%w: Debian archive keyring %s is over %s, which no keyring is: "+
			"reinstall debian-archive-keyring, or name the right file", errs.ErrInvalidInput, path, byteSize(maxKeyring))
	}
	var keys openpgp.EntityList
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		keys, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		keys, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: Debian archive keyring %s is no OpenPGP keyring: %v: "+
			"reinstall debian-archive-keyring, or name the right file", errs.ErrInvalidInput, path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: Debian archive keyring %s holds no key: reinstall debian-archive-keyring, or name the right file", errs.ErrInvalidInput, path)
	}
	return keys, nil
}

// Fetch reads what suite s offers for architecture arch (component main): its
// InRelease, which must be signed by a key of the keyring and be for s (and,
// with CheckValidUntil, not be past its Valid-Until), then the
// main/binary-<arch>/Packages.xz it lists, whose size and SHA-256 must be
// those the InRelease gives. The Packages file of an architecture lists the
// "all" packages too. Errors wrap errs.ErrUnavailable (the mirror, what it
// served) or errs.ErrInvalidInput (s, arch, no keyring).
func (f *Fetcher) Fetch(ctx context.Context, s Suite, arch string) (*Index, error) {
	mirror := strings.TrimRight(s.Mirror, "/")
	if u, err := url.Parse(mirror); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: Debian mirror %s is no http(s) URL: give one like http://deb.debian.org/debian-security",
			errs.ErrInvalidInput, termsafe.String(s.Mirror))
	}
	if !validName(s.Name) || !validName(arch) {
		return nil, fmt.Errorf("%w: suite %s, architecture %s: give a suite like trixie-security and an architecture like amd64",
			errs.ErrInvalidInput, termsafe.String(s.Name), termsafe.String(arch))
	}
	dists := mirror + "/dists/" + s.Name
	if len(f.Keyring) == 0 {
		return nil, fmt.Errorf("%w: no keys to check %s/InRelease against: load Debian's archive keys with LoadKeyring(%s), "+
			"which the package debian-archive-keyring installs", errs.ErrInvalidInput, dists, DefaultKeyring)
	}

	rel, err := f.release(ctx, dists+"/InRelease", s.Name)
	if err != nil {
		return nil, err
	}
	name := "main/binary-" + arch + "/Packages.xz"
	sum, ok := rel.files[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s/InRelease lists no %s: the suite has no architecture %s on this mirror "+
			"(it lists %s); check the architecture, or use a mirror that has it", errs.ErrUnavailable, dists, name, arch, termsafe.String(rel.architectures))
	}
	packed, where, err := f.indexFile(ctx, dists, name, sum, rel.byHash)
	if err != nil {
		return nil, err
	}

	x := &Index{Suite: Suite{Mirror: mirror, Name: s.Name}, Date: rel.date}
	zr, err := xz.NewReader(bytes.NewReader(packed))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: not xz: %v: the mirror serves a damaged index; use another mirror", errs.ErrUnavailable, where, err)
	}
	limit := f.maxPackages
	if limit == 0 {
		limit = maxPackages
	}
	if err := x.readPackages(&boundedReader{r: zr, max: limit}); err != nil {
		if errors.Is(err, errTooBig) {
			return nil, fmt.Errorf("%w: %s unpacks to more than %s, the most Fetch reads: "+
				"no Packages file is that big; use another mirror", errs.ErrUnavailable, where, byteSize(limit))
		}
		return nil, fmt.Errorf("%w: %s: %v: the mirror serves a damaged index; use another mirror", errs.ErrUnavailable, where, err)
	}
	return x, nil
}

// release is what Fetch reads from an InRelease.
type release struct {
	date          time.Time
	byHash        bool
	architectures string
	files         map[string]fileSum // SHA256 list, by path under dists/<suite>
}

type fileSum struct {
	sha256 string // lower-case hex
	size   int64
}

// release reads, verifies and parses the InRelease at addr for suite.
func (f *Fetcher) release(ctx context.Context, addr, suite string) (release, error) {
	body, err := f.get(ctx, addr, maxInRelease)
	if err != nil {
		return release{}, err
	}
	keys := f.Keyring
	pr, err := control.NewParagraphReader(bytes.NewReader(body), &keys)
	if errors.Is(err, pgperrors.ErrUnknownIssuer) {
		return release{}, fmt.Errorf("%w: %s is signed by no key of the keyring: it is not Debian's, or the keyring is older than the key; "+
			"update debian-archive-keyring, or use another mirror", errs.ErrUnavailable, addr)
	}
	if errors.Is(err, pgperrors.ErrKeyExpired) || errors.Is(err, pgperrors.ErrKeyRevoked) || errors.Is(err, pgperrors.ErrSignatureExpired) {
		return release{}, fmt.Errorf("%w: %s: its signature is no longer valid: %s: update debian-archive-keyring, or use another mirror",
			errs.ErrUnavailable, addr, termsafe.String(err.Error()))
	}
	if err != nil {
		return release{}, fmt.Errorf("%w: %s: its signature does not verify: %s: the file was altered or damaged; use another mirror",
			errs.ErrUnavailable, addr, termsafe.String(err.Error()))
	}
	// The control package takes a document that is not clear-signed as it is,
	// and says so only by naming no signer.
	if pr.Signer() == nil {
		return release{}, fmt.Errorf("%w: %s is not signed: nothing says it is Debian's; use a mirror that serves Debian's signed InRelease",
			errs.ErrUnavailable, addr)
	}
	p, err := pr.Next()
	if err != nil {
		return release{}, fmt.Errorf("%w: %s: %s: the mirror serves a damaged InRelease; use another mirror", errs.ErrUnavailable, addr, termsafe.String(err.Error()))
	}
	v := p.Values

	if v["Suite"] != suite && v["Codename"] != suite {
		return release{}, fmt.Errorf("%w: %s is for suite %s (codename %s), not %s: the mirror serves another suite there; use another mirror",
			errs.ErrUnavailable, addr, termsafe.String(v["Suite"]), termsafe.String(v["Codename"]), suite)
	}
	rel := release{byHash: v["Acquire-By-Hash"] == "yes", architectures: v["Architectures"], files: map[string]fileSum{}}
	if rel.date, err = releaseTime(v["Date"]); err != nil {
		return release{}, fmt.Errorf("%w: %s: Date: %v: the mirror serves a damaged InRelease; use another mirror", errs.ErrUnavailable, addr, err)
	}
	if f.CheckValidUntil && v["Valid-Until"] != "" {
		until, err := releaseTime(v["Valid-Until"])
		if err != nil {
			return release{}, fmt.Errorf("%w: %s: Valid-Until: %v: the mirror serves a damaged InRelease; use another mirror", errs.ErrUnavailable, addr, err)
		}
		if now := f.now(); now.After(until) {
			return release{}, fmt.Errorf("%w: %s expired at %s (Valid-Until; it is now %s): the mirror has stopped following Debian's, "+
				"or an old file is served in place of the current one; use another mirror", errs.ErrUnavailable, addr,
				until.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123))
		}
	}
	for _, line := range strings.Split(v["SHA256"], "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		sum, err := parseFileSum(fields)
		if err != nil {
			return release{}, fmt.Errorf("%w: %s: SHA256 line %s: %v: the mirror serves a damaged InRelease; use another mirror",
				errs.ErrUnavailable, addr, termsafe.String(line), err)
		}
		rel.files[fields[2]] = sum
	}
	return rel, nil
}

func parseFileSum(fields []string) (fileSum, error) {
	if len(fields) != 3 {
		return fileSum{}, errors.New("not 'sha256 size path'")
	}
	if b, err := hex.DecodeString(fields[0]); err != nil || len(b) != sha256.Size {
		return fileSum{}, errors.New("no SHA-256")
	}
	size, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || size < 0 {
		return fileSum{}, errors.New("no size")
	}
	return fileSum{sha256: strings.ToLower(fields[0]), size: size}, nil
}

// releaseTime parses an InRelease date: RFC 1123 in UTC, as Debian writes
// them ("Sat, 06 Dec 2026 02:54:30 UTC"), or with a numeric zone.
func releaseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC1123, time.RFC1123Z, "Mon, 2 Jan 2006 15:04:05 MST", "Mon, 2 Jan 2006 15:04:05 -0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s is no date like 'Sat, 06 Dec 2026 02:54:30 UTC'", termsafe.String(s))
}

// indexFile reads dists/name, checked against sum, and says where it read it.
// With byHash the archive keeps each index under its hash too, which a
// mirror updating between the InRelease and the index cannot change under
// us; a mirror without that copy is read at the index's own path.
func (f *Fetcher) indexFile(ctx context.Context, dists, name string, sum fileSum, byHash bool) ([]byte, string, error) {
	if sum.size > maxPackagesXZ {
		return nil, "", fmt.Errorf("%w: %s/InRelease says %s is %d bytes, over the %s Fetch reads: no Packages.xz is that big; use another mirror",
			errs.ErrUnavailable, dists, name, sum.size, byteSize(maxPackagesXZ))
	}
	where := dists + "/" + name
	if byHash {
		dir, _, _ := strings.Cut(name, "/Packages")
		hashed := dists + "/" + dir + "/by-hash/SHA256/" + sum.sha256
		data, err := f.get(ctx, hashed, sum.size)
		if !errors.Is(err, errNotFound) {
			return data, hashed, checkSum(hashed, data, err, sum)
		}
	}
	data, err := f.get(ctx, where, sum.size)
	return data, where, checkSum(where, data, err, sum)
}

// checkSum is the error of reading addr, else an error unless data has
// sum's size and SHA-256.
func checkSum(addr string, data []byte, err error, sum fileSum) error {
	if errors.Is(err, errTooBig) || (err == nil && int64(len(data)) != sum.size) {
		got := strconv.Itoa(len(data)) + " bytes"
		if errors.Is(err, errTooBig) {
			got = "more than that"
		}
		return fmt.Errorf("%w: %s: the InRelease says %d bytes, the mirror sent %s: the mirror is mid-update or serves a damaged file; "+
			"try again in a few minutes, or use another mirror", errs.ErrUnavailable, addr, sum.size, got)
	}
	if errors.Is(err, errNotFound) {
		return fmt.Errorf("%w: %s: not found, though the InRelease lists it: the mirror is mid-update or incomplete; "+
			"try again in a few minutes, or use another mirror", errs.ErrUnavailable, addr)
	}
	if err != nil {
		return err
	}
	if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum.sha256 {
		return fmt.Errorf("%w: %s: its SHA-256 is %x, the InRelease says %s: the mirror is mid-update or serves an altered file; "+
			"try again in a few minutes, or use another mirror", errs.ErrUnavailable, addr, got, sum.sha256)
	}
	return nil
}

// errNotFound marks a 404 from get, for a caller with somewhere else to look.
var errNotFound = errors.New("not found")

// get reads addr whole, refusing more than max bytes (an error wrapping
// errTooBig) whatever length the server announces.
func (f *Fetcher) get(ctx context.Context, addr string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v: check the mirror's URL", errs.ErrInvalidInput, addr, err)
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, requestError(ctx, addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %s: %w (%s): check the mirror's URL and the suite's name",
			errs.ErrUnavailable, addr, errNotFound, termsafe.String(resp.Status))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: %s: the mirror answered %s: try again later, or use another mirror",
			errs.ErrUnavailable, addr, termsafe.String(resp.Status))
	}
	data, err := io.ReadAll(&boundedReader{r: resp.Body, max: max})
	if errors.Is(err, errTooBig) {
		return nil, fmt.Errorf("%w: %s: %w: over %s, the most Fetch reads there: the mirror serves something else; use another mirror",
			errs.ErrUnavailable, addr, errTooBig, byteSize(max))
	}
	if err != nil {
		return nil, requestError(ctx, addr, err)
	}
	return data, nil
}

// requestError reports a request to addr that failed on the way: the
// context's error kept for the caller (an interrupt is no mirror's fault),
// any other escaped, since it may quote the server.
func requestError(ctx context.Context, addr string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s: %w", errs.ErrUnavailable, addr, ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%w: %s: %s: check the network and the mirror's URL, or try again later",
		errs.ErrUnavailable, addr, termsafe.String(err.Error()))
}
