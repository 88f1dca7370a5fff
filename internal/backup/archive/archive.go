package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"regexp"
	"runtime"
	"slices"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/stackctl/stackctl/internal/signing"
	"github.com/stackctl/stackctl/internal/termsafe"
)

// The archive is a POSIX tar stream compressed with zstd, optionally encrypted to
// age recipients, so that standard tools can open it too:
//
//	age -d -i key.txt x.tar.zst.age | zstd -d | tar -t
//
// Its members, in order:
//
//	stackctl-backup.json   the header: stack, versions, time and the planned entries
//	<entry>.000000 …       each entry cut into parts of at most partSize bytes
//	manifest.json          the header again, with the size and SHA-256 of every entry
//	manifest.sig           format 2: the signer's SSHSIG signature of manifest.json's bytes
//
// Entries are cut into parts because a tar member's size must be known before its
// content, and a pg_dump or volume stream's is not: a part is buffered, then written.
// Every part ends a zstd frame, whose checksum the decoder checks at its end, so a
// damaged byte is reported within the entry that holds it. The manifest comes last
// because only then are the checksums known; a reader checks every entry against it.
// The signature proves the archive's origin: it covers the manifest, which
// names the signer and every entry's checksum; format 1 archives, made before
// archives were signed, have none.
const (
	// FormatVersion is the archive layout this code writes: signed.
	FormatVersion = 2
	// formatUnsigned is the layout without a signature, still read.
	formatUnsigned = 1
	headerName     = "stackctl-backup.json"
	manifestName   = "manifest.json"
	signatureName  = "manifest.sig"
	partSize       = 8 << 20
	// maxJSON bounds the header and manifest a reader accepts: a member is a
	// part at most. With a part's SHA-256 listed in 70 bytes, that is some
	// 120,000 parts, an archive of 900 GiB.
	maxJSON = partSize
	// maxWindow bounds the decoder's memory on a hostile stream; the encoder's
	// default window is 8 MiB at most.
	maxWindow = 64 << 20
)

// Kinds of entries.
const (
	// KindPostgres is a pg_dump custom-format dump of the stack's database.
	KindPostgres = "postgres-dump"
	// KindVolume is a tar stream of a named volume's content, relative to its root.
	KindVolume = "volume-tar"
)

// ageMagic starts every binary age file.
const ageMagic = "age-encryption.org/v1\n"

// Entry is one stream in the archive.
type Entry struct {
	// Name is the entry's name in the archive: lowercase letters, digits, '.', '-', '_'.
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Volume is the stack's named volume the entry restores (as written in the compose file).
	Volume string `json:"volume"`
	// Size and SHA256 are of the entry's content; known once it is written.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Parts are the SHA-256 of each part (format 2): with the signed manifest
	// read first, a reader checks every part before it hands out a byte of it.
	Parts []string `json:"parts,omitempty"`
}

// Manifest describes an archive. The header member carries it with the planned
// entries; the manifest member, last, with every entry's size and checksum.
type Manifest struct {
	Format          int       `json:"format"`
	Stack           string    `json:"stack"`
	Profile         string    `json:"profile"`
	RedmineVersion  string    `json:"redmine_version,omitempty"`
	PostgresVersion string    `json:"postgres_version,omitempty"`
	Created         time.Time `json:"created"`
	// Signer is the signing key's authorized_keys line (format 2): what the
	// header claims until the signature at the end is checked.
	Signer  string  `json:"signer,omitempty"`
	Entries []Entry `json:"entries"`
}

// SignerKey is the key the manifest names as its signer; nil when unsigned.
func (m Manifest) SignerKey() (*signing.PublicKey, error) {
	if m.Signer == "" {
		return nil, nil
	}
	k, err := signing.ParsePublicKey(m.Signer)
	if err != nil {
		return nil, fmt.Errorf("its signer: %v", err)
	}
	return &k, nil
}

// Size is the total size of the entries' content.
func (m Manifest) Size() int64 {
	var n int64
	for _, e := range m.Entries {
		n += e.Size
	}
	return n
}

// EntrySize is the size of entry name's content, as the manifest records it.
func (m Manifest) EntrySize(name string) int64 {
	for _, e := range m.Entries {
		if e.Name == name {
			return e.Size
		}
	}
	return 0
}

// planned is m with the checksums that are unknown before writing left out.
func (m Manifest) planned() Manifest {
	m.Entries = slices.Clone(m.Entries)
	for i := range m.Entries {
		m.Entries[i].Size, m.Entries[i].SHA256, m.Entries[i].Parts = 0, "", nil
	}
	return m
}

var entryName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,99}$`)

func (m Manifest) check() error {
	switch {
	case m.Format != FormatVersion && m.Format != formatUnsigned:
		return fmt.Errorf("archive format %d, this stackctl reads formats %d and %d", m.Format, formatUnsigned, FormatVersion)
	case m.Format == formatUnsigned && m.Signer != "":
		return fmt.Errorf("archive format %d names a signer: only format %d archives are signed", m.Format, FormatVersion)
	case m.Format == FormatVersion && m.Signer == "":
		return fmt.Errorf("archive format %d names no signer", m.Format)
	}
	if _, err := m.SignerKey(); err != nil {
		return err
	}
	if m.Stack == "" {
		return errors.New("no stack named")
	}
	seen := map[string]bool{}
	for _, e := range m.Entries {
		if !entryName.MatchString(e.Name) || e.Name == headerName || e.Name == manifestName {
			return fmt.Errorf("bad entry name %q", e.Name)
		}
		if seen[e.Name] {
			return fmt.Errorf("entry %q listed twice", e.Name)
		}
		seen[e.Name] = true
		if e.Kind != KindPostgres && e.Kind != KindVolume {
			return fmt.Errorf("entry %q: unknown kind %q", e.Name, e.Kind)
		}
	}
	return nil
}

// Writer writes an archive. Add each planned entry in order, then Close.
type Writer struct {
	key  *signing.Key
	dst  io.Writer
	enc  *zstd.Encoder
	tw   *tar.Writer
	m    Manifest
	next int
	buf  []byte
}

// NewWriter starts an archive for the entries m plans, writing to dst (which
// the caller encrypts, syncs and closes), signed with key; with none, the
// archive is unsigned (format 1): for tests of what reads it.
func NewWriter(dst io.Writer, m Manifest, key *signing.Key) (*Writer, error) {
	m.Format, m.Signer = formatUnsigned, ""
	if key != nil {
		m.Format, m.Signer = FormatVersion, key.Public.String()
	}
	m = m.planned()
	if err := m.check(); err != nil {
		return nil, err
	}
	enc, err := zstd.NewWriter(dst,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
		// Spread one frame's blocks over the cores: a part is one frame.
		zstd.WithConcurrentBlocks(true),
		// Text that repeats nothing (base64 exports, logs of random ids) still
		// compresses by a quarter through entropy coding alone; the default skips it.
		zstd.WithAllLitEntropyCompression(true))
	if err != nil {
		return nil, err
	}
	w := &Writer{key: key, dst: dst, enc: enc, tw: tar.NewWriter(enc), m: m, buf: make([]byte, partSize)}
	if _, err := w.writeJSON(headerName, m); err != nil {
		return nil, err
	}
	return w, nil
}

// Add writes the next planned entry, named name, from src to its end.
func (w *Writer) Add(name string, src io.Reader) (Entry, error) {
	if w.next >= len(w.m.Entries) || w.m.Entries[w.next].Name != name {
		return Entry{}, fmt.Errorf("entry %q is not the next one planned", name)
	}
	sum := sha256.New()
	var size int64
	var parts []string
	for part := 0; ; part++ {
		n, err := fill(src, w.buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return Entry{}, fmt.Errorf("reading %s: %w", name, err)
		}
		if n > 0 || part == 0 {
			// A signed archive lists each part's SHA-256 too: hashed beside
			// the entry's hash and the compression, which only read the part.
			var partSum [sha256.Size]byte
			hashed := make(chan struct{})
			if w.key != nil {
				go func() { partSum = sha256.Sum256(w.buf[:n]); close(hashed) }()
			} else {
				close(hashed)
			}
			sum.Write(w.buf[:n])
			size += int64(n)
			err := w.writeMember(fmt.Sprintf("%s.%06d", name, part), w.buf[:n])
			<-hashed
			if err != nil {
				return Entry{}, fmt.Errorf("writing %s: %w", name, err)
			}
			if w.key != nil {
				parts = append(parts, hex.EncodeToString(partSum[:]))
			}
		}
		if err != nil {
			break
		}
	}
	e := &w.m.Entries[w.next]
	e.Size, e.SHA256, e.Parts = size, hex.EncodeToString(sum.Sum(nil)), parts
	w.next++
	return *e, nil
}

// fill reads src into buf until buf is full or src ends with io.EOF. Unlike
// io.ReadFull it passes on io.ErrUnexpectedEOF from src, which is how a tar
// stream cut short mid-member says so: that entry is incomplete, not at its end.
func fill(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Close writes the manifest and ends the compressed stream; it does not close dst.
func (w *Writer) Close() (Manifest, error) {
	if w.next != len(w.m.Entries) {
		return Manifest{}, fmt.Errorf("entry %q was planned but not written", w.m.Entries[w.next].Name)
	}
	data, err := w.writeJSON(manifestName, w.m)
	if err != nil {
		return Manifest{}, err
	}
	if w.key != nil {
		sig, err := w.key.Sign(data)
		if err != nil {
			return Manifest{}, fmt.Errorf("signing the manifest: %w", err)
		}
		if err := w.writeMember(signatureName, sig); err != nil {
			return Manifest{}, err
		}
	}
	if err := w.tw.Close(); err != nil {
		return Manifest{}, err
	}
	return w.m, w.enc.Close()
}

// writeJSON writes v as member name, and returns the bytes written.
func (w *Writer) writeJSON(name string, v any) ([]byte, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	return data, w.writeMember(name, data)
}

// writeMember writes one tar member as its own zstd frame.
func (w *Writer) writeMember(name string, data []byte) error {
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: w.m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := w.tw.Write(data); err != nil {
		return err
	}
	// Flush pads the member to the block boundary, so the frame ends with it.
	if err := w.tw.Flush(); err != nil {
		return err
	}
	if err := w.enc.Close(); err != nil {
		return err
	}
	w.enc.Reset(w.dst)
	return nil
}

// Reader reads an archive entry by entry, checking every entry against the
// manifest. Its errors wrap ErrDamaged (or ErrEncrypted) and name the entry.
//
// A goroutine reads ahead (decrypting, decompressing, splitting the tar stream
// into whole members) while the caller's goroutine hashes and consumes: on two
// cores that halves a verify pass, whose cost is SHA-256 and zstd in equal parts.
type Reader struct {
	ahead  *readAhead
	header Manifest
	// entry is the index of the current entry in header.Entries, -1 before the first.
	entry int
	part  int
	// cur is the current part's member, off how much of it was read.
	cur     member
	off     int
	partEOF bool
	sum     hash.Hash
	size    int64
	// pending is a member read ahead while looking for the current entry's next part.
	pending *member
	seen    []Entry
	final   *Manifest
	trust   *signing.Trust
	// signer is who signed the archive, once the signature is checked.
	signer *signing.PublicKey
	// expect is the signed manifest Open read from the archive's end and
	// checked first, and expectJSON its bytes: every part is checked against
	// it before a byte of it is handed out. nil for NewReader's stream alone.
	expect     *Manifest
	expectJSON []byte
	// err is sticky: a damaged archive stays damaged.
	err error
}

// ReadOptions are what a Reader needs besides the archive.
type ReadOptions struct {
	// Identities decrypt an encrypted archive.
	Identities []age.Identity
	// Trust is whose archives are accepted (signing.AnySigner for a reader
	// that only copies or lists); required.
	Trust *signing.Trust
}

// NewReader opens an archive, decrypting it with o.Identities when it is
// encrypted, and reads its header, refusing (ErrUntrusted) a signer o.Trust
// does not trust before anything is read further. Close releases it; until
// then it may read ahead of what the caller has consumed.
//
// NewReader checks the signature only at the archive's end: content is handed
// out before it is known to be signed. What acts on content before the end
// (a restore) opens an archive with Open, which checks it first.
func NewReader(src io.Reader, o ReadOptions) (*Reader, error) {
	if o.Trust == nil {
		return nil, errors.New("reading an archive: no trust given (signing.AnySigner trusts any)")
	}
	return newReader(src, o)
}

// newReader is NewReader without the check of its options.
func newReader(src io.Reader, o ReadOptions) (*Reader, error) {
	identities := o.Identities
	br := bufio.NewReader(src)
	magic, _ := br.Peek(len(ageMagic))
	var plain io.Reader = br
	if string(magic) == ageMagic {
		if len(identities) == 0 {
			return nil, fmt.Errorf("%w: the archive is encrypted: pass the age identity that opens it with --identity FILE", ErrEncrypted)
		}
		r, err := age.Decrypt(br, identities...)
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, fmt.Errorf("%w: none of the identities given opens it (%v): pass the identity of one of the recipients it was encrypted to", ErrEncrypted, err)
		}
		if err != nil {
			// A header that does not parse is a damaged file, not a wrong key.
			return nil, damaged("", "its age encryption header: %v", err)
		}
		plain = r
	}
	// Concurrency 1 decodes in the read-ahead goroutine itself: the decoder's own
	// goroutines only add hand-offs when every frame is a single part (measured:
	// a verify pass took 1.7x as long with them).
	dec, err := zstd.NewReader(plain, zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderMaxMemory(256<<20),
		zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, err
	}
	r := &Reader{ahead: startReadAhead(dec), entry: -1, trust: o.Trust}
	m := r.ahead.next()
	if m.err != nil {
		r.Close()
		if errors.Is(m.err, io.EOF) {
			m.err = errors.New("the archive is empty")
		}
		return nil, damaged("", "no archive header: %v", m.err)
	}
	if m.hdr.Name != headerName {
		r.Close()
		return nil, damaged("", "not a stackctl backup: it starts with %q, not %s", m.hdr.Name, headerName)
	}
	err = readJSON(m, &r.header)
	r.ahead.release(m)
	if err != nil {
		r.Close()
		return nil, damaged(headerName, "%v", err)
	}
	if err := r.header.check(); err != nil {
		r.Close()
		return nil, damaged(headerName, "%v", err)
	}
	// What the header claims is checked again once the signature is: an
	// archive claiming a stranger's key is refused before its content is read.
	claimed, _ := r.header.SignerKey()
	if err := r.trust.Check(claimed); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Header is the archive's header: what it says it holds, not yet verified.
func (r *Reader) Header() Manifest {
	m := r.header
	m.Entries = slices.Clone(m.Entries) // the reader's own list is what it reads by
	return m
}

// Close stops the read-ahead and releases the decoder. Once it returns, nothing
// reads the source any more: the caller may seek it or close it.
func (r *Reader) Close() { r.ahead.stop() }

// Next moves to the next entry, skipping what is left of the current one. After
// the last entry it reads and checks the manifest and returns io.EOF.
func (r *Reader) Next() (Entry, error) {
	if r.err != nil {
		return Entry{}, r.err
	}
	e, err := r.next()
	if err != nil {
		r.err = err
	}
	return e, err
}

func (r *Reader) next() (Entry, error) {
	if r.entry >= 0 && r.entry < len(r.header.Entries) {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return Entry{}, err
		}
	}
	r.entry++
	if r.entry == len(r.header.Entries) {
		return Entry{}, r.finish()
	}
	e := r.header.Entries[r.entry]
	m, err := r.member()
	if err != nil {
		return Entry{}, damaged(e.Name, "%v", err)
	}
	if m.hdr.Name != partName(e.Name, 0) {
		r.ahead.release(m)
		return Entry{}, damaged(e.Name, "expected its first part, found %q", termsafe.String(m.hdr.Name))
	}
	if err := r.checkPart(m, 0); err != nil {
		r.ahead.release(m)
		return Entry{}, err
	}
	r.cur, r.off, r.part, r.partEOF, r.sum, r.size = m, 0, 0, false, sha256.New(), 0
	return e, nil
}

// checkPart checks part n of the current entry, read whole, against the
// signed manifest Open checked first, before a byte of it is handed out.
func (r *Reader) checkPart(m member, n int) error {
	if r.expect == nil {
		return nil
	}
	e := r.expect.Entries[r.entry]
	if m.err != nil {
		return damaged(e.Name, "part %d: %v", n, m.err)
	}
	if n >= len(e.Parts) {
		return damaged(e.Name, "part %d is not in the signed manifest, which lists %d", n, len(e.Parts))
	}
	// Hashed here, on the caller's goroutine, while the read-ahead
	// decompresses the next part: on two cores that keeps a pass as fast as
	// one that hashes entries alone.
	sum := sha256.Sum256(m.data)
	if got := hex.EncodeToString(sum[:]); got != e.Parts[n] {
		return damaged(e.Name, "part %d differs from the signed manifest: SHA-256 %s, the manifest says %s", n, got, termsafe.String(e.Parts[n]))
	}
	return nil
}

// Read reads the current entry's content.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.entry < 0 || r.entry >= len(r.header.Entries) {
		return 0, io.EOF
	}
	n, err := r.read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		r.err = err
	}
	return n, err
}

func (r *Reader) read(p []byte) (int, error) {
	name := r.header.Entries[r.entry].Name
	for {
		if r.partEOF {
			return 0, io.EOF
		}
		if r.off < len(r.cur.data) {
			n := copy(p, r.cur.data[r.off:])
			if r.expect == nil {
				// Checked parts make the entry's checksum: it is the signed one.
				r.sum.Write(p[:n])
			}
			r.off += n
			r.size += int64(n)
			return n, nil
		}
		if r.cur.err != nil {
			return 0, damaged(name, "part %d: %v", r.part, r.cur.err)
		}
		r.ahead.release(r.cur)
		r.cur, r.off = member{}, 0
		// This part is done: the entry goes on only if the next member is its next part.
		m, err := r.member()
		if errors.Is(err, zstd.ErrCRCMismatch) {
			// The checksum is checked where the part's frame ends, just here.
			return 0, damaged(name, "part %d fails its checksum", r.part)
		}
		if err != nil {
			return 0, damaged(name, "the archive breaks off or is damaged after part %d: %v", r.part, err)
		}
		if m.hdr.Name != partName(name, r.part+1) {
			if r.expect != nil && r.part+1 != len(r.expect.Entries[r.entry].Parts) {
				r.ahead.release(m)
				return 0, damaged(name, "ends after %d parts, the signed manifest lists %d", r.part+1, len(r.expect.Entries[r.entry].Parts))
			}
			r.pending, r.partEOF = &m, true
			sum := hex.EncodeToString(r.sum.Sum(nil))
			if r.expect != nil {
				sum = r.expect.Entries[r.entry].SHA256
			}
			r.seen = append(r.seen, Entry{Name: name, Size: r.size, SHA256: sum})
			return 0, io.EOF
		}
		if err := r.checkPart(m, r.part+1); err != nil {
			r.ahead.release(m)
			return 0, err
		}
		r.cur = m
		r.part++
	}
}

// member returns the next tar member, the one read ahead first.
func (r *Reader) member() (member, error) {
	if m := r.pending; m != nil {
		r.pending = nil
		return *m, nil
	}
	m := r.ahead.next()
	if errors.Is(m.err, io.EOF) {
		return member{}, errors.New("the archive ends here: it is truncated")
	}
	if m.hdr == nil {
		return member{}, m.err
	}
	return m, nil
}

// finish reads the manifest and checks the archive against it.
func (r *Reader) finish() error {
	mm, err := r.member()
	if err != nil {
		return damaged(manifestName, "%v", err)
	}
	defer r.ahead.release(mm)
	if mm.hdr.Name != manifestName {
		return damaged(manifestName, "expected the manifest, found %q", mm.hdr.Name)
	}
	var m Manifest
	if err := readJSON(mm, &m); err != nil {
		return damaged(manifestName, "%v", err)
	}
	if err := m.check(); err != nil {
		return damaged(manifestName, "%v", err)
	}
	if !equalJSON(m.planned(), r.header) {
		return damaged(manifestName, "it does not match the archive's header")
	}
	if r.expect != nil && !bytes.Equal(mm.data, r.expectJSON) {
		return damaged(manifestName, "it differs from the one at the archive's end, read first")
	}
	if m.Format == FormatVersion {
		if err := r.checkSignature(m, mm.data); err != nil {
			return err
		}
	}
	for i, e := range m.Entries {
		got := r.seen[i]
		if got.Size != e.Size || got.SHA256 != e.SHA256 {
			return damaged(e.Name, "content differs from the manifest: %d bytes with SHA-256 %s, manifest says %d bytes with %s",
				got.Size, got.SHA256, e.Size, termsafe.String(e.SHA256))
		}
	}
	// The read-ahead ends the stream with io.EOF only once it has read the tar
	// trailer's frame to its end: its checksum checked and nothing after it.
	switch end := r.ahead.next(); {
	case end.hdr != nil:
		r.ahead.release(end)
		return damaged(manifestName, "data after the manifest")
	case !errors.Is(end.err, io.EOF):
		return damaged(manifestName, "after the manifest: %v", end.err)
	}
	r.final = &m
	return io.EOF
}

// checkSignature reads the signature member that follows the manifest and
// checks it over the manifest's bytes, made by the key the manifest names,
// and that key against the reader's trust.
func (r *Reader) checkSignature(m Manifest, manifest []byte) error {
	sm, err := r.member()
	if err != nil {
		return damaged(signatureName, "%v", err)
	}
	defer r.ahead.release(sm)
	if sm.hdr.Name != signatureName {
		return damaged(signatureName, "expected the manifest's signature, found %q", termsafe.String(sm.hdr.Name))
	}
	if sm.err != nil {
		return damaged(signatureName, "%v", sm.err)
	}
	signer, err := verifySignature(m, manifest, sm.data)
	if err != nil {
		return err
	}
	if err := r.trust.Check(signer); err != nil {
		return err
	}
	r.signer = signer
	return nil
}

// verifySignature checks sig, the archive's signature member, over manifest,
// the bytes of m, made by the key m names, and returns that key. Every part's
// frame has its own checksum, so a signature that fails over intact frames is
// no accident: it is refused as untrusted, naming the key it claims.
func verifySignature(m Manifest, manifest, sig []byte) (*signing.PublicKey, error) {
	signer, err := m.SignerKey()
	if err != nil {
		return nil, damaged(manifestName, "%v", err)
	}
	key, err := signing.Verify(sig, manifest)
	if err != nil {
		return nil, fmt.Errorf("%w: the archive claims to be signed by key %s, but its signature fails (%s): it may be forged; it is not restored",
			signing.ErrUntrusted, signer.Claimed(), termsafe.String(err.Error()))
	}
	if key.Fingerprint() != signer.Fingerprint() {
		return nil, fmt.Errorf("%w: the archive claims to be signed by key %s, but key %s signed it: it may be forged; it is not restored",
			signing.ErrUntrusted, signer.Claimed(), key.Fingerprint())
	}
	return signer, nil
}

// Signer is who signed the archive, once Next has returned io.EOF (the
// signature checked); nil for an unsigned archive.
func (r *Reader) Signer() *signing.PublicKey { return r.signer }

// Manifest is the checked manifest, once Next has returned io.EOF.
func (r *Reader) Manifest() (Manifest, bool) {
	if r.final == nil {
		return Manifest{}, false
	}
	return *r.final, true
}

func readJSON(m member, v any) error {
	if m.hdr.Size > maxJSON {
		return fmt.Errorf("%s is %d bytes, more than a manifest can be", termsafe.String(m.hdr.Name), m.hdr.Size)
	}
	if m.err != nil {
		return m.err
	}
	dec := json.NewDecoder(bytes.NewReader(m.data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("reading %s: %v", termsafe.String(m.hdr.Name), err)
	}
	return nil
}

// member is one member of the archive's tar stream, read whole; or, with no
// hdr, the error that ended the stream (io.EOF at a clean end).
type member struct {
	hdr  *tar.Header
	data []byte
	// err, with hdr, is why data stops short of hdr.Size.
	err error
}

// readAhead splits the decompressed stream into members in a goroutine of its
// own, a few members ahead of the reader; at most aheadParts buffers exist.
type readAhead struct {
	dec     *zstd.Decoder
	members chan member
	free    chan []byte
	quit    chan struct{}
	done    chan struct{}
	// last is what ended the stream, handed out again to every later call.
	last *member
}

const aheadParts = 3

func startReadAhead(dec *zstd.Decoder) *readAhead {
	a := &readAhead{dec: dec, members: make(chan member, aheadParts-1), free: make(chan []byte, aheadParts),
		quit: make(chan struct{}), done: make(chan struct{})}
	for range aheadParts {
		a.free <- nil // allocated on first use: small archives need no 8 MiB buffers
	}
	go a.run()
	return a
}

func (a *readAhead) run() {
	defer close(a.done)
	defer close(a.members)
	tr := tar.NewReader(a.dec)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			err = a.end()
		}
		if err != nil {
			a.send(member{err: err})
			return
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size < 0 || hdr.Size > partSize {
			a.send(member{err: fmt.Errorf("unexpected member %q", hdr.Name)})
			return
		}
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.quit:
			return
		}
		if buf == nil {
			buf = make([]byte, partSize)
		}
		n, err := io.ReadFull(tr, buf[:hdr.Size])
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if !a.send(member{hdr: hdr, data: buf[:n], err: err}) || err != nil {
			return
		}
	}
}

// end reads the compressed stream past the tar trailer: that checks the last
// frame's checksum, and that nothing follows the archive.
func (a *readAhead) end() error {
	n, err := io.Copy(io.Discard, a.dec)
	if err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("%d bytes of data after the archive's end", n)
	}
	return io.EOF
}

func (a *readAhead) send(m member) bool {
	select {
	case a.members <- m:
		return true
	case <-a.quit:
		return false
	}
}

// next returns the next member, or the error that ended the stream.
func (a *readAhead) next() member {
	if a.last != nil {
		return *a.last
	}
	m, ok := <-a.members
	if !ok {
		m = member{err: errors.New("the archive reader is closed")}
	}
	if m.hdr == nil || m.err != nil {
		a.last = &member{err: m.err}
	}
	return m
}

// release hands a member's buffer back for reading ahead.
func (a *readAhead) release(m member) {
	if m.data != nil {
		a.free <- m.data[:cap(m.data)]
	}
}

func (a *readAhead) stop() {
	select {
	case <-a.quit:
	default:
		close(a.quit)
	}
	<-a.done
	a.dec.Close()
}

func partName(entry string, part int) string { return entry + "." + fmt.Sprintf("%06d", part) }

// Equal says whether m and o record the same archive, entry for entry.
func (m Manifest) Equal(o Manifest) bool { return equalJSON(m, o) }

func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// Verify reads the whole archive and checks every entry against the
// manifest, and its signature; signer is who signed it (nil: unsigned).
func Verify(src Source, o ReadOptions) (m Manifest, signer *signing.PublicKey, err error) {
	r, err := Open(src, o)
	if err != nil {
		return Manifest{}, nil, err
	}
	defer r.Close()
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			m, _ := r.Manifest()
			return m, r.Signer(), nil
		} else if err != nil {
			return Manifest{}, nil, err
		}
		if e.Kind == KindVolume {
			// What a restore would refuse is refused here, before a restore
			// changes anything. No size bound: entry sizes come with the manifest,
			// last, and with sparse members refused a tar cannot expand past its bytes.
			if err := EachMember(r, NoLimit, func(*tar.Header, io.Reader) error { return nil }); err != nil {
				if errors.Is(err, ErrDamaged) || errors.Is(err, ErrEncrypted) {
					return Manifest{}, nil, err
				}
				return Manifest{}, nil, damaged(e.Name, "its tar stream: %v", err)
			}
		}
		if e.Kind == KindPostgres {
			// A restore refuses what is no pg_dump archive (by its table of
			// contents): verify says so too, rather than "intact".
			head := make([]byte, len(pgDumpMagic))
			n, err := io.ReadFull(r, head)
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				return Manifest{}, nil, err
			}
			if string(head[:n]) != pgDumpMagic {
				return Manifest{}, nil, damaged(e.Name, "it is no pg_dump custom-format archive (it starts with %q, not %s)", head[:n], pgDumpMagic)
			}
		}
	}
}

// pgDumpMagic starts every pg_dump custom-format archive.
const pgDumpMagic = "PGDMP"
