package archive

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"testing"

	"github.com/stackctl/stackctl/internal/signing"
)

// benchArchive is an archive of contents as a backup writes it: signed.
func benchArchive(b *testing.B, contents [][]byte) ([]byte, *signing.Trust) {
	b.Helper()
	k, _, err := signing.NewKey("bench")
	if err != nil {
		b.Fatal(err)
	}
	return writeSigned(b, k, contents), signing.NewTrust(&k.Public, "", nil)
}

// benchContents is an archive's entries as bench/backup.sh's volume has them:
// n pairs of 8 MiB files, random bytes and base64 text, in one volume entry.
func benchContents(b *testing.B, n int) [][]byte {
	b.Helper()
	var files [][]byte
	for range n {
		random := make([]byte, 8<<20)
		text := make([]byte, 6<<20)
		if _, err := rand.Read(random); err != nil {
			b.Fatal(err)
		}
		if _, err := rand.Read(text); err != nil {
			b.Fatal(err)
		}
		files = append(files, random, []byte(base64.StdEncoding.EncodeToString(text))[:8<<20])
	}
	return [][]byte{[]byte("PGDMP dump"), volumeTar(b, files...), volumeTar(b)}
}

// BenchmarkVerify is verify-backup: the signed end read first, every part
// decompressed and hashed, every volume member checked. MB/s of content.
func BenchmarkVerify(b *testing.B) {
	arch, trust := benchArchive(b, benchContents(b, 16))
	b.SetBytes(256 << 20)
	for b.Loop() {
		if _, _, err := Verify(bytes.NewReader(arch), ReadOptions{Trust: trust}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRestoreRead is restore-volumes' one pass up to the engine: every
// entry decompressed and hashed, the volume entry re-tarred under the volume's
// key through the member gate.
func BenchmarkRestoreRead(b *testing.B) {
	arch, trust := benchArchive(b, benchContents(b, 16))
	b.SetBytes(256 << 20)
	for b.Loop() {
		r, err := Open(bytes.NewReader(arch), ReadOptions{Trust: trust})
		if err != nil {
			b.Fatal(err)
		}
		for {
			e, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if e.Kind == KindVolume {
				if err := Retar(io.Discard, r, "./", e.Volume+"/", NoLimit); err != nil {
					b.Fatal(err)
				}
			}
		}
		r.Close()
	}
}

// BenchmarkWrite is backup-volumes' archive writing, signed (a SHA-256 per
// part beside the entry's) and not. MB/s of content.
func BenchmarkWrite(b *testing.B) {
	contents := benchContents(b, 16)
	k, _, err := signing.NewKey("bench")
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  *signing.Key
	}{{"unsigned", nil}, {"signed", k}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(256 << 20)
			for b.Loop() {
				w, err := NewWriter(io.Discard, testManifest(), tc.key)
				if err != nil {
					b.Fatal(err)
				}
				for i, e := range testManifest().Entries {
					if _, err := w.Add(e.Name, bytes.NewReader(contents[i])); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
