package archive

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/stackctl/stackctl/internal/signing"
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

// volumeTar is a volume entry's content as the engine streams it and the archive
// holds it: a tar relative to the volume's root ("./"), with one file per content.
func volumeTar(t testing.TB, contents ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []*tar.Header{{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, Uid: 999, Gid: 999}}
	for i, c := range contents {
		hdrs = append(hdrs, &tar.Header{Name: fmt.Sprintf("./file-%d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(c)), Uid: 999, Gid: 999})
	}
	for i, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if _, err := tw.Write(contents[i-1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
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

// writeArchive writes contents (one per planned entry) as an unsigned archive.
func writeArchive(t testing.TB, contents [][]byte, recipients ...age.Recipient) []byte {
	t.Helper()
	return writeSigned(t, nil, contents, recipients...)
}

// writeSigned writes contents as an archive signed by key (nil: unsigned).
func writeSigned(t testing.TB, key *signing.Key, contents [][]byte, recipients ...age.Recipient) []byte {
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
	w, err := NewWriter(dst, testManifest(), key)
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
			r, err := NewReader(bytes.NewReader(tc.archive), ReadOptions{Identities: tc.ids, Trust: signing.AnySigner()})
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
	contents := [][]byte{append([]byte("PGDMP"), testContent(t, 100000)...), volumeTar(t, testContent(t, 3*partSize/2)), volumeTar(t, []byte("plugin\n"))}
	good := writeArchive(t, contents)
	if _, _, err := Verify(bytes.NewReader(good), ReadOptions{Trust: signing.AnySigner()}); err != nil {
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
	w, err := NewWriter(&lying, testManifest(), nil)
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
		// Verify reads the end first (Open): a truncated archive is refused there.
		{"truncated", good[:len(good)*2/3], nil, ErrDamaged, "its end holds no manifest: the archive is truncated"},
		{"truncated at the end", good[:len(good)-20], nil, ErrDamaged, "its end holds no manifest: the archive is truncated"},
		{"flipped byte in files", flipped, nil, ErrDamaged, "entry redmine-files.tar"},
		{"empty", nil, nil, ErrDamaged, "no archive header"},
		{"not a backup", []byte("hello, world\n"), nil, ErrDamaged, "no archive header"},
		{"wrong age key", encrypted, []age.Identity{other}, ErrEncrypted, "none of the identities given opens it"},
		{"no age key", encrypted, nil, ErrEncrypted, "--identity"},
		{"manifest lies", lying.Bytes(), nil, ErrDamaged, "entry redmine-plugins.tar: content differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Verify(bytes.NewReader(tc.archive), ReadOptions{Identities: tc.ids, Trust: signing.AnySigner()})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.mention)
			}
		})
	}

	// A restore reads the archive once, entry by entry, as it writes: every
	// damage is found there too, in the entry it is in (a lying manifest only
	// at the end, which is why a restore writes into a generation it can drop).
	for _, tc := range []struct {
		name    string
		archive []byte
		mention string
	}{
		{"read as a restore does: undamaged", good, ""},
		{"read as a restore does: flipped byte in files", flipped, "entry redmine-files.tar"},
		{"read as a restore does: truncated", good[:len(good)*2/3], "entry redmine-files.tar"},
		{"read as a restore does: manifest lies", lying.Bytes(), "entry redmine-plugins.tar: content differs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := readAll(tc.archive)
			if tc.mention == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want %v mentioning %q", err, ErrDamaged, tc.mention)
			}
		})
	}
}

// readAll reads every entry of archive to its end, as a restore does.
func readAll(archive []byte) error {
	r, err := NewReader(bytes.NewReader(archive), ReadOptions{Trust: signing.AnySigner()})
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		if _, err := r.Next(); errors.Is(err, io.EOF) {
			if _, ok := r.Manifest(); !ok {
				return errors.New("end of archive without a manifest")
			}
			return nil
		} else if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
}

// TestVerifyRefusesEscapingVolume: the checksums prove an archive intact, not
// who made it; a volume member that a restore would write outside the volume is
// refused by verify, so before a restore changes anything.
func TestVerifyRefusesEscapingVolume(t *testing.T) {
	stream := func(hdrs ...*tar.Header) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hdrs {
			if h.Typeflag == 0 {
				h.Typeflag, h.Size = tar.TypeReg, 1
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Size > 0 {
				tw.Write([]byte("x"))
			}
		}
		tw.Close()
		return buf.Bytes()
	}
	root := &tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}
	for _, tc := range []struct {
		name    string
		volume  []byte
		mention string
	}{
		{"dot-dot", stream(root, &tar.Header{Name: "./../redmine-plugins/evil.rb"}), "outside the volume"},
		{"absolute", stream(root, &tar.Header{Name: "/etc/cron.d/evil"}), "outside the volume"},
		{"through a symlink", stream(root,
			&tar.Header{Name: "./l", Typeflag: tar.TypeSymlink, Linkname: "/usr/src/redmine/config"},
			&tar.Header{Name: "./l/initializers/evil.rb"}), "under the symlink"},
		{"hard link out", stream(root, &tar.Header{Name: "./h", Typeflag: tar.TypeLink, Linkname: "./../../etc/shadow"}), "outside the volume"},
		{"not a tar", []byte("plugin\n"), "its tar stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			archive := writeArchive(t, [][]byte{[]byte("PGDMP dump"), tc.volume, nil})
			_, _, err := Verify(bytes.NewReader(archive), ReadOptions{Trust: signing.AnySigner()})
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "entry redmine-files.tar") || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("err = %v, want ErrDamaged naming redmine-files.tar and %q", err, tc.mention)
			}
		})
	}
	// A symlink pointing anywhere is fine as long as nothing is written through it.
	ok := stream(root, &tar.Header{Name: "./l", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, &tar.Header{Name: "./ll"})
	if _, _, err := Verify(bytes.NewReader(writeArchive(t, [][]byte{[]byte("PGDMP dump"), ok, nil})), ReadOptions{Trust: signing.AnySigner()}); err != nil {
		t.Fatalf("a harmless symlink refused: %v", err)
	}
}

// cutShort is a source that ends like a tar stream broken off mid-member.
type cutShort struct{ r io.Reader }

func (c cutShort) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// TestAddRefusesCutShortSource: an entry whose source broke off must fail the
// backup, not be stored as complete with a valid checksum.
func TestAddRefusesCutShortSource(t *testing.T) {
	w, err := NewWriter(io.Discard, testManifest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add("db-data.pgdump", strings.NewReader("dump")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add("redmine-files.tar", cutShort{bytes.NewReader(testContent(t, 1000))}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Add of a cut-short source: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

// TestVerifyRefusesTrailingDataAndDamagedAgeHeader: data appended after the
// archive's end is damage, and so is an age header that does not parse (which
// is not a wrong key: exit 20, not 21).
func TestVerifyRefusesTrailingDataAndDamagedAgeHeader(t *testing.T) {
	good := writeArchive(t, [][]byte{[]byte("PGDMP dump"), volumeTar(t, []byte("files")), nil})
	var extra bytes.Buffer
	zw, _ := zstd.NewWriter(&extra)
	zw.Write([]byte("appended after the end"))
	zw.Close()
	if _, _, err := Verify(bytes.NewReader(append(bytes.Clone(good), extra.Bytes()...)), ReadOptions{Trust: signing.AnySigner()}); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "after the archive's end") {
		t.Fatalf("trailing frame: err = %v, want ErrDamaged", err)
	}
	id, _ := age.GenerateX25519Identity()
	enc := writeArchive(t, [][]byte{[]byte("PGDMP dump"), volumeTar(t, []byte("files")), nil}, id.Recipient())
	broken := enc[:60] // the age header breaks off inside its recipient stanza
	if _, _, err := Verify(bytes.NewReader(broken), ReadOptions{Identities: []age.Identity{id}, Trust: signing.AnySigner()}); !errors.Is(err, ErrDamaged) || errors.Is(err, ErrEncrypted) {
		t.Fatalf("damaged age header: err = %v, want ErrDamaged", err)
	}
}

// TestHeaderIsACopy: editing the header a Reader hands out (as a tool that
// rewrites archives does) leaves what the Reader reads unchanged.
func TestHeaderIsACopy(t *testing.T) {
	data := writeArchive(t, [][]byte{{}, {}, {}})
	r, err := NewReader(bytes.NewReader(data), ReadOptions{Trust: signing.AnySigner()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := r.Header()
	h.Entries = slices.DeleteFunc(h.Entries, func(e Entry) bool { return e.Kind == KindPostgres })
	for _, want := range testManifest().Entries {
		e, err := r.Next()
		if err != nil || e.Name != want.Name {
			t.Fatalf("Next = %q, %v; want %q", e.Name, err, want.Name)
		}
	}
}

// Verify calls a database entry that is no pg_dump archive damaged, not
// intact: the three bytes, and an empty one.
func TestVerifyRefusesNoDump(t *testing.T) {
	for _, dump := range []string{"abc", ""} {
		_, _, err := Verify(bytes.NewReader(writeArchive(t, [][]byte{[]byte(dump), volumeTar(t), nil})), ReadOptions{Trust: signing.AnySigner()})
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "entry db-data.pgdump: it is no pg_dump custom-format archive") {
			t.Errorf("a dump of %q: %v", dump, err)
		}
	}
}
