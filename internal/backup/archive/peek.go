package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/klauspost/compress/zstd"
)

// peekTail bounds how much of an archive's end PeekManifest reads: the
// manifest's frame and the tar trailer's, a few KiB for any stack.
const peekTail = 1 << 20

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// PeekManifest reads the manifest of the unencrypted archive f (of size bytes)
// from its end, without reading the rest: every member is its own zstd frame,
// and the manifest's is the last but the tar trailer's. It is not checked
// against the content (only a full read does that): what it says is for
// estimates, such as the room a restore needs. ok is false for an archive
// whose end does not hold one, such as an encrypted archive.
func PeekManifest(f io.ReaderAt, size int64) (m Manifest, ok bool) {
	n := min(size, peekTail)
	tail := make([]byte, n)
	if _, err := f.ReadAt(tail, size-n); err != nil && !errors.Is(err, io.EOF) {
		return Manifest{}, false
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(4*maxJSON), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return Manifest{}, false
	}
	defer dec.Close()
	// The magic may also occur inside a frame's data: try each, nearest the end first.
	for i := bytes.LastIndex(tail, zstdMagic); i >= 0; i = bytes.LastIndex(tail[:i], zstdMagic) {
		plain, err := dec.DecodeAll(tail[i:], nil)
		if err != nil {
			continue
		}
		tr := tar.NewReader(bytes.NewReader(plain))
		hdr, err := tr.Next()
		if err != nil || hdr.Name != manifestName || hdr.Size > maxJSON {
			continue
		}
		if err := json.NewDecoder(tr).Decode(&m); err != nil || m.check() != nil {
			continue
		}
		return m, true
	}
	return Manifest{}, false
}
