package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/stackctl/stackctl/internal/signing"
)

func testKey(t *testing.T, comment string) *signing.Key {
	t.Helper()
	k, _, err := signing.NewKey(comment)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// signedArchive writes contents as an archive signed by key.
func signedArchive(t *testing.T, key *signing.Key, contents [][]byte) []byte {
	t.Helper()
	return writeSigned(t, key, contents)
}

// rewrite is archive with its members passed through edit (nil drops one),
// each in a zstd frame of its own as the Writer writes them, as someone who
// can write to the backup target could rewrite it.
func rewrite(t *testing.T, archive []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	dec, err := zstd.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	enc, _ := zstd.NewWriter(nil)
	var plain, out bytes.Buffer
	frame := func() { // what the tar writer wrote since the last frame, as one
		out.Write(enc.EncodeAll(plain.Bytes(), nil))
		plain.Reset()
	}
	tr, tw := tar.NewReader(dec), tar.NewWriter(&plain)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if data = edit(h.Name, data); data == nil {
			continue
		}
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
		tw.Flush()
		frame()
	}
	tw.Close()
	frame()
	return out.Bytes()
}

// verifyWith reads archive whole under trust.
func verifyWith(archive []byte, trust *signing.Trust) (*signing.PublicKey, error) {
	_, signer, err := Verify(bytes.NewReader(archive), ReadOptions{Trust: trust})
	return signer, err
}

// An archive is signed over its manifest; verify and restore take it only
// from a trusted signer, and refuse a claimed stranger before reading on.
func TestSignature(t *testing.T) {
	ours, stranger := testKey(t, "ours@host"), testKey(t, "stranger")
	trust := signing.NewTrust(&ours.Public, "trusted-keys", nil)
	contents := [][]byte{[]byte("PGDMP dump"), volumeTar(t, testContent(t, 3000)), volumeTar(t)}
	good := signedArchive(t, ours, contents)

	signer, err := verifyWith(good, trust)
	if err != nil || signer == nil || signer.Fingerprint() != ours.Public.Fingerprint() || signer.Comment != "ours@host" {
		t.Fatalf("our own archive: signer %v, %v", signer, err)
	}
	if m, ok := PeekManifest(bytes.NewReader(good), int64(len(good))); !ok || m.Signer != ours.Public.String() || m.Size() == 0 {
		t.Errorf("peeking a signed archive's manifest: %+v %v", m, ok)
	}

	// Re-signed whole by a stranger: refused with the header, before any entry.
	resigned := signedArchive(t, stranger, contents)
	if _, err := NewReader(bytes.NewReader(resigned), ReadOptions{Trust: trust}); !errors.Is(err, signing.ErrUntrusted) ||
		!strings.Contains(err.Error(), stranger.Public.Fingerprint()) {
		t.Errorf("re-signed by a stranger, opened: %v", err)
	}
	if _, err := verifyWith(resigned, trust); !errors.Is(err, signing.ErrUntrusted) {
		t.Errorf("re-signed by a stranger: %v", err)
	}
	manifestOf := func(a []byte) []byte {
		var m []byte
		rewrite(t, a, func(name string, data []byte) []byte {
			if name == manifestName {
				m = data
			}
			return data
		})
		return m
	}
	forgedSig, err := stranger.Sign(manifestOf(good))
	if err != nil {
		t.Fatal(err)
	}
	unsigned := writeArchive(t, contents)
	for _, tc := range []struct {
		name    string
		archive []byte
		is      error
		msg     string
	}{
		{"our signature replaced by a stranger's over the same manifest", rewrite(t, good, func(name string, data []byte) []byte {
			if name == signatureName {
				return forgedSig
			}
			return data
		}), signing.ErrUntrusted, "but key " + stranger.Public.Fingerprint() + " signed it: it may be forged"},
		{"the signature dropped", rewrite(t, good, func(name string, data []byte) []byte {
			if name == signatureName {
				return nil
			}
			return data
		}), ErrDamaged, "no signature follows it"},
		{"a byte of the signature changed", rewrite(t, good, func(name string, data []byte) []byte {
			if name == signatureName {
				data = bytes.Clone(data)
				data[len(data)/2] ^= 1
			}
			return data
		}), signing.ErrUntrusted, "claims to be signed by key " + ours.Public.Fingerprint() + " (it calls itself ours@host), but its signature fails"},
		{"header and manifest changed alike", rewrite(t, good, func(name string, data []byte) []byte {
			if name == headerName || name == manifestName {
				return bytes.Replace(data, []byte(`"profile": "debian"`), []byte(`"profile": "upstream"`), 1)
			}
			return data
		}), signing.ErrUntrusted, "does not match the signed content"},
		{"a signer named in an unsigned format", rewrite(t, good, func(name string, data []byte) []byte {
			return bytes.Replace(data, []byte(`"format": 2`), []byte(`"format": 1`), 1)
		}), ErrDamaged, "names a signer"},
		{"unsigned, the signer claimed but not named", rewrite(t, good, func(name string, data []byte) []byte {
			var m Manifest
			if name == headerName || name == manifestName {
				json.Unmarshal(data, &m)
				m.Signer = ""
				out, _ := json.MarshalIndent(m, "", "  ")
				return out
			}
			return data
		}), ErrDamaged, "names no signer"},
		{"unsigned", unsigned, signing.ErrUntrusted, "--trust-unsigned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifyWith(tc.archive, trust)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err %v, want %v with %q", err, tc.is, tc.msg)
			}
		})
	}
	trust.Unsigned = true
	if signer, err := verifyWith(unsigned, trust); err != nil || signer != nil {
		t.Errorf("unsigned, trusted so: %v %v", signer, err)
	}
	trust.Unsigned = false

	// The dump replaced, the signed manifest and signature kept: Open takes
	// it, and not a byte of the dump is handed out.
	swapped := rewrite(t, good, func(name string, data []byte) []byte {
		if name == "db-data.pgdump.000000" {
			return []byte("PGDMP COPY t FROM PROGRAM 'id'")
		}
		return data
	})
	r, err := Open(bytes.NewReader(swapped), ReadOptions{Trust: trust})
	if err != nil {
		t.Fatalf("opening an archive whose end is intact: %v", err)
	}
	defer r.Close()
	if _, err := r.Next(); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "entry db-data.pgdump: part 0 differs from the signed manifest") {
		t.Errorf("a swapped dump's first part: %v", err)
	}
	if n, err := r.Read(make([]byte, 10)); n != 0 || err == nil {
		t.Errorf("read %d bytes of a swapped dump (%v)", n, err)
	}
	// A part more than the signed manifest lists, at the end of an entry.
	longer := rewrite(t, good, func(name string, data []byte) []byte {
		if name == "redmine-files.tar.000000" {
			return nil // the entry starts at no part 0: refused there
		}
		return data
	})
	if _, err := verifyWith(longer, trust); !errors.Is(err, ErrDamaged) {
		t.Errorf("a part dropped: %v", err)
	}
	// A stranger's forgery claiming our key is refused before the first entry.
	if _, err := Open(bytes.NewReader(rewrite(t, good, func(name string, data []byte) []byte {
		if name == signatureName {
			return forgedSig
		}
		return data
	})), ReadOptions{Trust: trust}); !errors.Is(err, signing.ErrUntrusted) {
		t.Errorf("a forgery claiming our key, opened: %v", err)
	}
}

// Open needs a trust; NewReader too.
func TestNoTrust(t *testing.T) {
	good := signedArchive(t, testKey(t, "x"), [][]byte{[]byte("PGDMP"), volumeTar(t), volumeTar(t)})
	if _, err := Open(bytes.NewReader(good), ReadOptions{}); err == nil {
		t.Error("opened without a trust")
	}
	if _, err := NewReader(bytes.NewReader(good), ReadOptions{}); err == nil {
		t.Error("read without a trust")
	}
}
