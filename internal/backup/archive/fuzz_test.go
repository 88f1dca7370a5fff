package archive

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/stackctl/stackctl/internal/signing"
)

// FuzzReader feeds the archive reader arbitrary bytes: it must fail cleanly,
// never panic, and never accept an archive that Verify would not.
func FuzzReader(f *testing.F) {
	good := writeArchive(f, [][]byte{[]byte("PGDMP dump"), volumeTar(f, []byte("files")), nil})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(ageMagic + "-> X25519 abc\n"))
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), ReadOptions{Trust: signing.AnySigner()})
		if err != nil {
			return
		}
		defer r.Close()
		for {
			if _, err := r.Next(); err != nil {
				if errors.Is(err, io.EOF) {
					if _, ok := r.Manifest(); !ok {
						t.Fatal("end of archive without a checked manifest")
					}
				}
				return
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
		}
	})
}

// FuzzOpen feeds Open arbitrary bytes, trusting one key: whatever it hands
// out, it hands out only from an archive that key signed, part by part as
// the signed manifest lists them, or from an unsigned one if told to.
func FuzzOpen(f *testing.F) {
	k, _, err := signing.NewKey("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	good := writeSigned(f, k, [][]byte{[]byte("PGDMP dump"), volumeTar(f, []byte("files")), volumeTar(f)})
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(writeArchive(f, [][]byte{[]byte("PGDMP dump"), volumeTar(f, []byte("files")), nil}))
	f.Fuzz(func(t *testing.T, data []byte) {
		trust := signing.NewTrust(&k.Public, "", nil)
		r, err := Open(bytes.NewReader(data), ReadOptions{Trust: trust})
		if err != nil {
			return
		}
		defer r.Close()
		signedManifest, signedOK := r.Expected()
		if !signedOK {
			t.Fatal("opened without a signed manifest, unsigned archives not trusted")
		}
		for i := 0; ; i++ {
			e, err := r.Next()
			if errors.Is(err, io.EOF) {
				if m, ok := r.Manifest(); !ok || !m.Equal(signedManifest) || r.Signer() == nil || r.Signer().Fingerprint() != k.Public.Fingerprint() {
					t.Fatalf("read to its end, but not as signed: %+v %v", m, r.Signer())
				}
				return
			}
			if err != nil {
				return
			}
			b, err := io.ReadAll(r)
			if err != nil {
				return
			}
			// What was handed out is the signed content, whole parts of it.
			want := signedManifest.Entries[i]
			if int64(len(b)) != want.Size {
				t.Fatalf("entry %s: %d bytes handed out, the signed manifest says %d", e.Name, len(b), want.Size)
			}
		}
	})
}
