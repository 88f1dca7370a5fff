package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/stackctl/stackctl/internal/termsafe"
)

// Source is an archive that can be read through and read at its end: a
// file, or an archive on an off-site target.
type Source interface {
	io.Reader
	io.ReaderAt
	Size() int64
}

// Open opens the archive src as NewReader does, after reading its manifest
// and signature from its end (decrypting just that, when it is encrypted)
// and checking them: the signature, made by a key o.Trust trusts, over the
// manifest, which names every part's SHA-256. The reader then checks each
// part as it reads it, before it hands out a byte of it, so that nothing of
// an archive no trusted key signed reaches pg_restore or a volume. An
// unsigned archive (format 1) is opened only when o.Trust accepts it, and
// is checked entry by entry as NewReader checks it.
func Open(src Source, o ReadOptions) (*Reader, error) {
	if o.Trust == nil {
		return nil, errors.New("reading an archive: no trust given (signing.AnySigner trusts any)")
	}
	end, size := io.ReaderAt(src), src.Size()
	magic := make([]byte, len(ageMagic))
	if n, _ := src.ReadAt(magic, 0); n == len(magic) && string(magic) == ageMagic {
		if len(o.Identities) == 0 {
			return nil, fmt.Errorf("%w: the archive is encrypted: pass the age identity that opens it with --identity FILE", ErrEncrypted)
		}
		plain, plainSize, err := age.DecryptReaderAt(src, size, o.Identities...)
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, fmt.Errorf("%w: none of the identities given opens it (%v): pass the identity of one of the recipients it was encrypted to", ErrEncrypted, err)
		}
		if err != nil {
			return nil, damaged("", "its age encryption: %v", err)
		}
		end, size = plain, plainSize
	}
	// The header first: what is not a backup at all is named so, and a
	// stranger's key the header claims is refused before the end is read.
	r, err := newReader(src, o)
	if err != nil {
		return nil, err
	}
	if err := r.expectSigned(end, size); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// expectSigned reads the manifest and its signature from the end of the
// plain archive end (size bytes), checks them against the header and the
// trust, and has every part checked against that manifest as it is read.
func (r *Reader) expectSigned(end io.ReaderAt, size int64) error {
	t, ok := readTail(end, size)
	if !ok {
		return damaged("", "its end holds no manifest: the archive is truncated, or is not a stackctl backup")
	}
	var m Manifest
	if err := decodeJSON(t.manifest, &m); err != nil {
		return damaged(manifestName, "%v", err)
	}
	if err := m.check(); err != nil {
		return damaged(manifestName, "%v", err)
	}
	if !equalJSON(m.planned(), r.header) {
		return damaged(manifestName, "the manifest at the archive's end does not match its header")
	}
	if m.Format != FormatVersion {
		// Unsigned: the header's trust check was the one there is.
		return nil
	}
	if t.signature == nil {
		return damaged(signatureName, "the manifest names a signer, and no signature follows it")
	}
	signer, err := verifySignature(m, t.manifest, t.signature)
	if err != nil {
		return err
	}
	if err := m.checkParts(); err != nil {
		return damaged(manifestName, "%v", err)
	}
	if err := r.trust.Check(signer); err != nil {
		return err
	}
	r.expect, r.expectJSON = &m, t.manifest
	return nil
}

// Expected is the manifest Open read and checked first, signed: what the
// archive holds, each entry's size and checksum, before it is read through.
// ok is false for an unsigned archive, whose manifest is checked only at its end.
func (r *Reader) Expected() (m Manifest, ok bool) {
	if r.expect == nil {
		return Manifest{}, false
	}
	return *r.expect, true
}

// checkParts refuses a signed manifest whose entries do not list one
// well-formed checksum per part of their size.
func (m Manifest) checkParts() error {
	for _, e := range m.Entries {
		want := max(1, (e.Size+partSize-1)/partSize)
		if e.Size < 0 || int64(len(e.Parts)) != want {
			return fmt.Errorf("entry %s: %d bytes in %d parts listed, not %d", termsafe.String(e.Name), e.Size, len(e.Parts), want)
		}
		for _, p := range e.Parts {
			if len(p) != 64 {
				return fmt.Errorf("entry %s: a part's SHA-256 %q is not 64 hex digits", termsafe.String(e.Name), p)
			}
		}
	}
	return nil
}

// tail is what an archive's end holds: the manifest's bytes, and the
// signature's when it has one.
type tail struct {
	manifest, signature []byte
}

// Sizes of the end readTail reads, tried in turn: a manifest lists a line per
// 8 MiB part, a few KiB for most stacks.
var tailSizes = []int64{1 << 20, 16 << 20, 2*maxJSON + 1<<20}

// readTail reads the manifest member, and the signature after it, from the
// end of the plain (decrypted) archive f of size bytes, without reading the
// rest: every member is its own zstd frame. ok is false when none is found.
func readTail(f io.ReaderAt, size int64) (t tail, ok bool) {
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(4*maxJSON), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return tail{}, false
	}
	defer dec.Close()
	for _, n := range tailSizes {
		n = min(n, size)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
			return tail{}, false
		}
		// The magic may also occur inside a frame's data: try each, nearest the end first.
		for i := bytes.LastIndex(buf, zstdMagic); i >= 0; i = bytes.LastIndex(buf[:i], zstdMagic) {
			if t, ok := tailAt(dec, buf[i:]); ok {
				return t, true
			}
		}
		if n == size {
			break
		}
	}
	return tail{}, false
}

// tailAt reads frames (from one frame's start to the archive's end) as the
// manifest member, the signature member if any, and the tar stream's end.
func tailAt(dec *zstd.Decoder, frames []byte) (tail, bool) {
	plain, err := dec.DecodeAll(frames, nil)
	if err != nil {
		return tail{}, false
	}
	tr := tar.NewReader(bytes.NewReader(plain))
	var t tail
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) && i > 0 {
			return t, true
		}
		if err != nil || hdr.Typeflag != tar.TypeReg || hdr.Size > maxJSON {
			return tail{}, false
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return tail{}, false
		}
		switch {
		case i == 0 && hdr.Name == manifestName:
			t.manifest = data
		case i == 1 && hdr.Name == signatureName:
			t.signature = data
		default:
			return tail{}, false
		}
	}
}

// decodeJSON reads a header or manifest strictly: unknown fields refused.
func decodeJSON(data []byte, v any) error {
	if len(data) > maxJSON {
		return fmt.Errorf("%d bytes, more than a manifest can be", len(data))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
