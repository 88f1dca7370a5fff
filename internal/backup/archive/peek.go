package archive

import (
	"io"
)

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// PeekManifest reads the manifest of the unencrypted archive f (of size bytes)
// from its end, without reading the rest: every member is its own zstd frame,
// and the manifest's is at the end, before its signature's and the tar
// trailer's. It is not checked, against its signature or the content (Open
// does that): what it says is for estimates, such as the room a restore
// needs. ok is false for an archive whose end does not hold one, such as an
// encrypted archive.
func PeekManifest(f io.ReaderAt, size int64) (m Manifest, ok bool) {
	t, ok := readTail(f, size)
	if !ok || decodeJSON(t.manifest, &m) != nil || m.check() != nil {
		return Manifest{}, false
	}
	return m, true
}
