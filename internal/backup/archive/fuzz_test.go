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
	good := writeArchive(f, [][]byte{[]byte("dump"), volumeTar(f, []byte("files")), nil})
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
