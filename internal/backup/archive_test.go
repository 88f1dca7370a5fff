package backup

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

// testContent is compressible text then random bytes, over several parts.
func testContent(t testing.TB, size int) []byte {
	t.Helper()
	b := bytes.Repeat([]byte("issue #42: the printer on floor 3 is on fire again\n"), size/2/51+1)[:size/2]
	r := make([]byte, size-len(b))
	if _, err := rand.Read(r); err != nil {
		t.Fatal(err)
	}
	return append(b, r...)
}

func testManifest() Manifest {
	return Manifest{
		Stack: "redmine", Profile: "debian", RedmineVersion: "6.0.5", PostgresVersion: "17.6",
		Created: time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC),
		Entries: []Entry{
			{Name: "db-data.pgdump", Kind: KindPostgres, Volume: "db-data"},
			{Name: "redmine-files.tar", Kind: KindVolume, Volume: "redmine-files"},
			{Name: "redmine-plugins.tar", Kind: KindVolume, Volume: "redmine-plugins"},
		},
	}
}

// writeArchive writes contents (one per planned entry) as an archive.
func writeArchive(t testing.TB, contents [][]byte, recipients ...age.Recipient) []byte {
	t.Helper()
	var out bytes.Buffer
	var dst io.Writer = &out
	var enc io.WriteCloser
	if len(recipients) > 0 {
		var err error
		if enc, err = age.Encrypt(&out, recipients...); err != nil {
			t.Fatal(err)
		}
		dst = enc
	}
	w, err := NewWriter(dst, testManifest())
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range testManifest().Entries {
		if _, err := w.Add(e.Name, bytes.NewReader(contents[i])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func TestRoundTrip(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	// An entry of several parts, one of exactly one part, and an empty one.
	contents := [][]byte{testContent(t, 2*partSize+12345), testContent(t, partSize), nil}
	for _, tc := range []struct {
		name    string
		archive []byte
		ids     []age.Identity
	}{
		{"plain", writeArchive(t, contents), nil},
		{"encrypted", writeArchive(t, contents, id.Recipient()), []age.Identity{id}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.archive), tc.ids...)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.Header(); got.Stack != "redmine" || got.RedmineVersion != "6.0.5" || len(got.Entries) != 3 {
				t.Fatalf("header = %+v", got)
			}
			for i := 0; ; i++ {
				e, err := r.Next()
				if errors.Is(err, io.EOF) {
					if i != len(contents) {
						t.Fatalf("%d entries, want %d", i, len(contents))
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, contents[i]) {
					t.Fatalf("entry %s: %d bytes back, differ from the %d written", e.Name, len(got), len(contents[i]))
				}
			}
			m, ok := r.Manifest()
			if !ok || m.Entries[0].Size != int64(len(contents[0])) || m.Entries[2].Size != 0 || m.Entries[1].SHA256 == "" {
				t.Fatalf("manifest = %+v", m)
			}
		})
	}
}

// TestDamage checks that every kind of damage is refused, naming where it is.
func TestDamage(t *testing.T) {
	contents := [][]byte{testContent(t, 100000), testContent(t, 3*partSize/2), []byte("plugin\n")}
	good := writeArchive(t, contents)
	if _, err := Verify(bytes.NewReader(good)); err != nil {
		t.Fatalf("undamaged archive: %v", err)
	}
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	encrypted := writeArchive(t, contents, id.Recipient())

	// The files entry's content sits after the dump's: flip a byte in the middle of the archive.
	flipped := bytes.Clone(good)
	flipped[len(good)/2] ^= 0x40
	// Every frame intact, but the manifest's checksum is of other content.
	var lying bytes.Buffer
	w, err := NewWriter(&lying, testManifest())
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range testManifest().Entries {
		if _, err := w.Add(e.Name, bytes.NewReader(contents[i])); err != nil {
			t.Fatal(err)
		}
	}
	w.m.Entries[2].SHA256 = strings.Repeat("0", 64)
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		archive []byte
		ids     []age.Identity
		want    error
		mention string
	}{
		{"truncated", good[:len(good)*2/3], nil, ErrDamaged, "entry redmine-files.tar"},
		{"truncated at the end", good[:len(good)-20], nil, ErrDamaged, "breaks off"},
		{"flipped byte in files", flipped, nil, ErrDamaged, "entry redmine-files.tar"},
		{"empty", nil, nil, ErrDamaged, "no archive header"},
		{"not a backup", []byte("hello, world\n"), nil, ErrDamaged, "no archive header"},
		{"wrong age key", encrypted, []age.Identity{other}, ErrEncrypted, "none of the identities given opens it"},
		{"no age key", encrypted, nil, ErrEncrypted, "--identity"},
		{"manifest lies", lying.Bytes(), nil, ErrDamaged, "entry redmine-plugins.tar: content differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(tc.archive), tc.ids...)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.mention)
			}
		})
	}
}
