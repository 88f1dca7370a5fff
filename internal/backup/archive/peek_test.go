package archive

import (
	"bytes"
	"crypto/rand"
	"testing"

	"filippo.io/age"

	"github.com/stackctl/stackctl/internal/signing"
)

// TestPeekManifest: the manifest at an archive's end is found without reading
// the rest, random content (whose bytes may hold zstd's magic) and all; an
// encrypted or truncated archive has none to peek at.
func TestPeekManifest(t *testing.T) {
	random := make([]byte, 3<<20)
	rand.Read(random)
	data := writeArchive(t, [][]byte{[]byte("PGDMP dump"), random, bytes.Repeat([]byte("plugin "), 1000)})
	m, ok := PeekManifest(bytes.NewReader(data), int64(len(data)))
	if !ok {
		t.Fatal("no manifest found at the end of an archive")
	}
	r, err := NewReader(bytes.NewReader(data), ReadOptions{Trust: signing.AnySigner()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for err == nil {
		_, err = r.Next()
	}
	full, _ := r.Manifest()
	if !m.Equal(full) || m.Size() != int64(len("PGDMP dump")+len(random)+7000) {
		t.Errorf("peeked manifest %+v, want %+v", m, full)
	}
	id, _ := age.GenerateX25519Identity()
	enc := writeArchive(t, [][]byte{[]byte("PGDMP dump"), random, nil}, id.Recipient())
	if _, ok := PeekManifest(bytes.NewReader(enc), int64(len(enc))); ok {
		t.Error("found a manifest in an encrypted archive")
	}
	cut := data[:len(data)-600]
	if _, ok := PeekManifest(bytes.NewReader(cut), int64(len(cut))); ok {
		t.Error("found a manifest in a truncated archive")
	}
}
