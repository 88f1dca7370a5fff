package offsite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/errs"
)

// Sentinel errors of this package; the others a target returns wrap
// errs.ErrInvalidInput (a URL that cannot be used), errs.ErrNotFound (a missing
// directory, bucket or archive) or errs.ErrUnavailable (a server that does not
// answer). Every message names the target by its URL and says what to do.
var (
	// ErrAuth: the target refused the credentials, or there are none to offer.
	// The CLI is to map it to exit code 26.
	ErrAuth = errors.New("off-site target refused the credentials")
	// ErrHostKey: the SFTP server's host key is not in known_hosts, differs from
	// the one recorded there, or differs from the pinned fingerprint. The CLI is
	// to map it to exit code 27.
	ErrHostKey = errors.New("off-site host key not trusted")
)

// Target is a place that keeps a stack's archives. Methods are not to be called
// concurrently, but for the reading of an open Reader. A target dials its server
// on first use and keeps the connection until Close.
type Target interface {
	// String is the target's URL without options, for messages; it never holds a secret.
	String() string
	// Check connects, authenticates and makes sure the directory or bucket exists,
	// so that a backup can fail before it reads anything from the stack.
	Check(ctx context.Context) error
	// Create starts the upload of the archive called name (see archive.FileName).
	// ctx bounds the whole upload: once it is done, Write fails and Commit refuses.
	// It also sweeps the stack's uploads idle for longer than DefaultIdle.
	Create(ctx context.Context, name string) (Upload, error)
	// Open reads the archive called name; errs.ErrNotFound when there is none.
	Open(ctx context.Context, name string) (Reader, error)
	// List is the stack's archives, oldest first; never an upload in progress.
	List(ctx context.Context, stack string) ([]Archive, error)
	// Remove removes the archive called name and its sidecar.
	Remove(ctx context.Context, name string) error
	// ReadSidecar reads the small file kept beside the archive called name
	// (errs.ErrNotFound when there is none); WriteSidecar replaces it at once, so
	// that a reader sees the old content or the new, never part of it.
	ReadSidecar(ctx context.Context, name string) ([]byte, error)
	WriteSidecar(ctx context.Context, name string, data []byte) error
	// Sweep removes what uploads of the stack's archives left behind (killed,
	// or cut off from the server) that has seen no write for idle, and names it.
	Sweep(ctx context.Context, stack string, idle time.Duration) ([]string, error)
	// Close ends the connection to the server, if any.
	Close() error
}

// Upload is an archive being written to a target. Abort it unless Commit succeeded.
type Upload interface {
	io.Writer
	// Commit makes the archive final once the target is shown to hold exactly the
	// bytes written: until then nothing lists or opens under its name. It refuses
	// to replace an archive of the same name. A failed Commit leaves nothing
	// under the name; the upload is then aborted.
	Commit(ctx context.Context) (Committed, error)
	// Abort discards the upload; after Commit it does nothing.
	Abort() error
}

// Reader is an archive opened on a target: read it through as a stream (verify,
// restore), or read a part of it (archive.Open reads its signed end first).
type Reader interface {
	io.ReadCloser
	io.ReaderAt
	// Size is the archive's size in bytes.
	Size() int64
}

// Archive is one archive kept by a target.
type Archive struct {
	Name string
	Size int64
	// Taken is when the backup was taken, from the name.
	Taken time.Time
}

// Committed is an archive an upload made final.
type Committed struct {
	Archive
	// SHA256 is the hex SHA-256 of the bytes written, which the target holds.
	SHA256 string
}

// DefaultIdle is how long an upload may go without a write before the next
// upload of the same stack takes it for dead and sweeps it: far longer than any
// pause of a live backup, which streams as it reads.
const DefaultIdle = time.Hour

// SidecarSuffix ends the name of an archive's sidecar: <archive>.json.
const SidecarSuffix = ".json"

// partialMark sits between an unfinished file's name and its random end:
// .<name>.partial-<random>, as atomicfile names its temporary files.
const partialMark = ".partial-"

// Parse reads a target URL. Options are query parameters; secrets never are:
//
//	/var/backups/stackctl                  a local directory (any path without "://")
//	sftp://user@host[:port]/path           an absolute path on the server
//	sftp://user@host[:port]/~/path         a path under the user's login directory
//	    identity=FILE       the private key; default those of ~/.ssh/id_ed25519, id_ecdsa, id_rsa there
//	    known-hosts=FILE    default ~/.ssh/known_hosts, which must hold the host's key
//	    host-key=SHA256:…   trust only the key of this fingerprint instead (ssh-keygen -lf)
//	s3://bucket[/prefix]
//	    endpoint=URL        an S3 server other than AWS's, such as http://127.0.0.1:7070
//	    region=NAME         default $AWS_REGION or the profile's, else us-east-1
//	    path-style=true     the bucket in the URL's path rather than its host name
//	    profile=NAME        the profile to read; default $AWS_PROFILE, else "default"
//	    credentials-file=FILE  a shared credentials file whose profile's keys are used first; private, as any secret file
//
// S3 credentials come from credentials-file or from the standard environment:
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with
// AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE (default ~/.aws/credentials and
// ~/.aws/config). SFTP authenticates with a key only. A directory, local or on
// the server, must exist: a backup to a disk that is not mounted must fail, not
// fill the disk beneath it. Parse checks the URL only; it reads no file and
// connects to nothing.
func Parse(raw string) (Target, error) {
	scheme, _, found := strings.Cut(raw, "://")
	switch {
	case raw == "":
		return nil, fmt.Errorf("%w: no backup target given: pass a directory, sftp://user@host/path or s3://bucket/prefix", errs.ErrInvalidInput)
	case !found:
		return newLocal(raw)
	case scheme == "sftp":
		return parseSFTP(raw)
	case scheme == "s3":
		return parseS3(raw)
	}
	return nil, fmt.Errorf("%w: backup target %q: unknown scheme %q: use a directory, sftp://user@host/path or s3://bucket/prefix", errs.ErrInvalidInput, redact(raw), scheme)
}

// options reads a URL's query parameters, refusing any not in known: a misspelt
// option must not silently mean the default (a host key not pinned).
func options(target string, query map[string][]string, known ...string) (map[string]string, error) {
	opts := map[string]string{}
	for k, v := range query {
		if !slices.Contains(known, k) {
			return nil, fmt.Errorf("%w: %s: unknown option %q: the options are %s", errs.ErrInvalidInput, target, k, strings.Join(known, ", "))
		}
		if len(v) != 1 {
			return nil, fmt.Errorf("%w: %s: option %q given %d times: give it once", errs.ErrInvalidInput, target, k, len(v))
		}
		opts[k] = v[0]
	}
	return opts, nil
}

// redact cuts what may be a secret out of a URL that failed to parse: the user
// information and the query.
func redact(raw string) string {
	scheme, rest, _ := strings.Cut(raw, "://")
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "…@" + rest[at+1:]
	}
	rest, _, _ = strings.Cut(rest, "?")
	return scheme + "://" + rest
}

// checkName refuses a name that is not an archive's: it is joined to the
// target's directory or prefix, and must not climb out of it.
func checkName(t Target, name string) (stack string, err error) {
	stack, _, ok := archive.ParseFileName(name)
	if !ok || path.Base(name) != name || strings.HasPrefix(name, ".") {
		return "", fmt.Errorf("%w: %s: %q is not a backup archive's name (<stack>-<UTC time>%s[.age])", errs.ErrInvalidInput, t, name, archive.Suffix)
	}
	return stack, nil
}

// begin starts every operation on the archive called name: it checks the name,
// then the target (see Target.Check).
func begin(ctx context.Context, t Target, name string) (stack string, err error) {
	if stack, err = checkName(t, name); err != nil {
		return "", err
	}
	return stack, t.Check(ctx)
}

// partialOf is the archive or sidecar name a temporary file stands for, and
// whether it is one: ".<name>.partial-<random>".
func partialOf(file string) (name string, ok bool) {
	rest, ok := strings.CutPrefix(file, ".")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, partialMark)
	if i < 0 {
		return "", false
	}
	return rest[:i], true
}

// sweepable tells whether the file or key base name is left over from an upload
// of the stack's archive or sidecar.
func sweepable(name, stack string) bool {
	s, _, ok := archive.ParseFileName(strings.TrimSuffix(name, SidecarSuffix))
	return ok && s == stack
}

// archiveOf is the archive a listed file or key base name stands for, when it is one of stack's.
func archiveOf(name, stack string, size int64) (Archive, bool) {
	s, taken, ok := archive.ParseFileName(name)
	if !ok || s != stack {
		return Archive{}, false
	}
	return Archive{Name: name, Size: size, Taken: taken}, true
}

// tally counts and hashes what an upload writes, for Commit's check and result.
type tally struct {
	n   int64
	sha hash.Hash
}

func newTally() *tally { return &tally{sha: sha256.New()} }

func (t *tally) add(p []byte) {
	t.n += int64(len(p))
	t.sha.Write(p)
}

func (t *tally) committed(name string) Committed {
	_, taken, _ := archive.ParseFileName(name)
	return Committed{Archive: Archive{Name: name, Size: t.n, Taken: taken}, SHA256: hex.EncodeToString(t.sha.Sum(nil))}
}

// mismatch is Commit's error when the target holds other than what was written.
func mismatch(t Target, name string, wrote, holds int64) error {
	return fmt.Errorf("%s: upload of %s incomplete: wrote %d bytes, the target holds %d: nothing was kept under that name; run the backup again", t, name, wrote, holds)
}

// cleanupContext bounds the clean-up after a failure, which must run even when
// the caller's context is what ended the upload.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}
