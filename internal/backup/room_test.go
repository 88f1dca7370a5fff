package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/signing"
)

// filesOnly is a stack's persistence with its files volume alone, of
// generation 2: what the tests write to.
var filesOnly = catalog.Persistence{Mounts: []catalog.Mount{
	{Volume: "redmine-files", Name: "stackctl-redmine_redmine-files-g2", Service: "redmine", Target: "/usr/src/redmine/files"},
}}

// filesManifest plans an archive of the files volume alone.
var filesManifest = archive.Manifest{Stack: "redmine", Profile: "debian", Created: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC),
	Entries: []archive.Entry{{Name: "redmine-files.tar", Kind: archive.KindVolume, Volume: "redmine-files"}}}

// dfSays answers df with the free space frees gives, one call after the
// other (the last for every call after), and records where it was asked.
func dfSays(frees ...int64) (exec func(container string, cmd []string) (string, int), asked func() []string) {
	var mu sync.Mutex
	var calls []string
	exec = func(container string, cmd []string) (string, int) {
		mu.Lock()
		defer mu.Unlock()
		if cmd[0] != "df" {
			return "", 127
		}
		free := frees[min(len(calls), len(frees)-1)]
		calls = append(calls, container+": "+strings.Join(cmd, " "))
		return fmt.Sprintf("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb1 1048576 0 %d 0%% %s\n", free>>10, cmd[len(cmd)-1]), 0
	}
	return exec, func() []string { mu.Lock(); defer mu.Unlock(); return calls }
}

// volumeFiles is the new generation's volumes as the direct writer writes
// them: every member through the gate within the limit it is given; what it
// would write is counted, and the regular files it would make.
type volumeFiles struct {
	limits  []archive.Limit
	written int64
	files   map[string]int64
}

func (v *volumeFiles) ID() string { return "helper" }

func (v *volumeFiles) WriteVolume(_ context.Context, key string, content io.Reader, limit archive.Limit) error {
	v.limits = append(v.limits, limit)
	return archive.EachMember(content, limit, func(hdr *tar.Header, r io.Reader) error {
		n, err := io.Copy(io.Discard, r)
		v.written += n
		if hdr.Typeflag == tar.TypeReg {
			if v.files == nil {
				v.files = map[string]int64{}
			}
			v.files[key+":"+hdr.Name] += n
		}
		return err
	})
}

// zeros reads as zeros, forever.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// filesArchive is an archive of the files volume holding files of the sizes
// given, of zeros, encrypted to to, as a backup writes it.
func filesArchive(t *testing.T, to age.Recipient, sizes ...int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := age.Encrypt(&buf, to)
	if err != nil {
		t.Fatal(err)
	}
	w, err := archive.NewWriter(enc, filesManifest, nil)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: filesManifest.Created})
		for i, size := range sizes {
			if err == nil {
				err = tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("./f%d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: filesManifest.Created})
			}
			if err == nil {
				_, err = io.Copy(tw, io.LimitReader(zeros{}, size))
			}
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	if _, err := w.Add("redmine-files.tar", pr); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// partSize is the archive's: each entry is cut into tar members of 8 MiB.
const partSize = 8 << 20

// bomb is an encrypted archive of the files volume whose entry expands to
// parts parts of 8 MiB, nearly all zeros, written the way the archive is laid
// out (a tar member per part, a zstd frame each) but without compressing
// gigabytes: one part's zeros are compressed once and their frame repeated.
// The entry's tar stream is one file filling every part (one), or a file per
// part. It stops there: a restore must refuse it long before its end.
func bomb(t *testing.T, to age.Recipient, parts int, one bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := age.Encrypt(&buf, to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := archive.NewWriter(enc, filesManifest, nil); err != nil { // writes the header's frame
		t.Fatal(err)
	}
	z, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	filling := z.EncodeAll(make([]byte, partSize-512), nil)
	header := func(h *tar.Header) []byte {
		var b bytes.Buffer
		if err := tar.NewWriter(&b).WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for i := range parts {
		// The part's header, then the first 512 bytes of its content: a file's
		// header in the entry's tar stream, or zeros inside the one file.
		start := header(&tar.Header{Name: fmt.Sprintf("redmine-files.tar.%06d", i), Typeflag: tar.TypeReg, Mode: 0o600, Size: partSize, ModTime: filesManifest.Created})
		switch {
		case !one:
			start = append(start, header(&tar.Header{Name: fmt.Sprintf("./f%04d", i), Typeflag: tar.TypeReg, Mode: 0o644, Size: partSize - 512, ModTime: filesManifest.Created})...)
		case i == 0:
			start = append(start, header(&tar.Header{Name: "./zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(parts)*partSize - 512, ModTime: filesManifest.Created})...)
		default:
			start = append(start, make([]byte, 512)...)
		}
		if _, err := enc.Write(z.EncodeAll(start, nil)); err != nil {
			t.Fatal(err)
		}
		if _, err := enc.Write(filling); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A restore writes each volume within the room its file system has, less the
// margin, measured just before: an encrypted archive too, whose sizes are not
// known until its end. The member that would pass it is refused by its header,
// before a byte of it is written; a compressed bomb is refused as quickly,
// having expanded little more than the room.
func TestWriteVolumeBound(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	const name = "/backups/redmine-20261120T060000Z.tar.zst.age"
	for _, tc := range []struct {
		name    string
		archive func() []byte
		free    int64
		// written is what the volume gets, files the files written whole.
		written int64
		files   int
		says    string
	}{
		{name: "within the room", archive: func() []byte { return filesArchive(t, id.Recipient(), 3<<20, 3<<20, 1000) },
			free: 8 << 20, written: 6<<20 + 1000, files: 3},
		{name: "an entry past the room", archive: func() []byte { return filesArchive(t, id.Recipient(), 3<<20, 3<<20, 3<<20) },
			free: 8 << 20, written: 6 << 20, files: 2,
			says: name + `: volume stackctl-redmine_redmine-files-g2 needs at least 9.004MiB on disk with its member ./f2 (3MiB), ` +
				`and its file system (/dev/sdb1 of 1048576 KiB) has 8MiB free, of which a restore leaves 409.6KiB for the serving generation: ` +
				`make room (remove old generations with 'stackctl prune redmine', or what 'docker system df' shows), then restore again`},
		// The archive: 540 KiB that expand to 4 GiB, as one file.
		{name: "a 4 GiB file from a few hundred KiB", archive: func() []byte { return bomb(t, id.Recipient(), 512, true) },
			free: 64 << 20, written: 0, files: 0,
			says: "needs at least 4GiB on disk with its member ./zeros (4GiB), and its file system (/dev/sdb1 of 1048576 KiB) has 64MiB free"},
		{name: "4 GiB of 8 MiB files from a few hundred KiB", archive: func() []byte { return bomb(t, id.Recipient(), 512, false) },
			free: 64 << 20, written: 7 * (partSize - 512), files: 7,
			says: "needs at least 64MiB on disk with its member ./f0007 (8MiB), and its file system (/dev/sdb1 of 1048576 KiB) has 64MiB free, of which a restore leaves 3.2MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content := tc.archive()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			ar, err := archive.NewReader(bytes.NewReader(content), archive.ReadOptions{Identities: []age.Identity{id}, Trust: signing.AnySigner()})
			if err != nil {
				t.Fatal(err)
			}
			defer ar.Close()
			exec, asked := dfSays(tc.free)
			st, _ := catalog.LookupStack("redmine")
			p := &recorder{}
			rs := &restore{e: &engine.Engine{API: &engineAPI{exec: exec}}, st: st, name: name, size: int64(len(content)), ar: ar, m: ar.Header(), progress: p, gen: 2}
			w := &volumeFiles{}
			err = rs.entries(t.Context(), filesOnly, w)
			ar.Close()
			runtime.ReadMemStats(&after)
			if want := []string{"helper: df -Pk /restore/redmine-files"}; strings.Join(asked(), "\n") != strings.Join(want, "\n") {
				t.Errorf("df asked %q, want %q: the volume's room, measured before it is written", asked(), want)
			}
			if left := tc.free - margin(tc.free); len(w.limits) != 1 || w.limits[0] != (archive.Limit{Content: -1, Disk: left}) {
				t.Errorf("written within %+v, want the room less the margin (%d) and no content bound (the manifest is not known)", w.limits, left)
			}
			if w.written != tc.written || len(w.files) != tc.files {
				t.Errorf("wrote %d bytes in %d files, want %d in %d", w.written, len(w.files), tc.written, tc.files)
			}
			if w.written > tc.free-margin(tc.free) {
				t.Errorf("wrote %d bytes, past the bound of %d", w.written, tc.free-margin(tc.free))
			}
			if tc.says == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v, want ErrRefused saying %q", err, tc.says)
			}
			// Expanded: what the writer read of the entry, and what the reader
			// may have read ahead (a few parts).
			if limit := tc.free + 4*partSize; p.added > limit {
				t.Errorf("%d bytes expanded before the refusal, want at most %d", p.added, limit)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
				t.Errorf("%d MiB allocated to refuse a %d KiB archive, want at most 256 MiB", alloc>>20, len(content)>>10)
			}
			t.Logf("a %d KiB archive refused, %d MiB expanded, %d MiB allocated", len(content)>>10, p.added>>20, (after.TotalAlloc-before.TotalAlloc)>>20)
		})
	}
}

// The room check before a restore writes: by the manifest's sizes, each file
// system must keep its margin free; an archive whose manifest is not known
// (encrypted) is checked by what is known, its entries as empty, and bounded
// as it is written.
func TestRoomFor(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	content := filesArchive(t, id.Recipient(), 1000)
	sized := func(size int64) archive.Manifest {
		m := filesManifest
		m.Entries = []archive.Entry{{Name: "redmine-files.tar", Kind: archive.KindVolume, Volume: "redmine-files", Size: size}}
		return m
	}
	for _, tc := range []struct {
		name  string
		sizes archive.Manifest
		free  int64
		says  string
	}{
		{name: "fits, with the margin", sizes: sized(95 << 20), free: 100 << 20},
		{name: "fits, but not with the margin", sizes: sized(96 << 20), free: 100 << 20,
			says: "not enough room for generation 2 of stack redmine: volumes stackctl-redmine_redmine-files-g2 need about 96MiB, " +
				"and their file system (/dev/sdb1 of 1048576 KiB) has 100MiB free, of which a restore leaves 5MiB for the serving generation: make room"},
		{name: "sizes not known", free: 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ar, err := archive.NewReader(bytes.NewReader(content), archive.ReadOptions{Identities: []age.Identity{id}, Trust: signing.AnySigner()})
			if err != nil {
				t.Fatal(err)
			}
			defer ar.Close()
			exec, asked := dfSays(tc.free)
			st, _ := catalog.LookupStack("redmine")
			rs := &restore{e: &engine.Engine{API: &engineAPI{exec: exec}}, st: st, name: "x", ar: ar, m: ar.Header(), sizes: tc.sizes, gen: 2}
			err = rs.roomFor(t.Context(), filesOnly, &volumeFiles{})
			if len(asked()) != 1 || rs.margins["/dev/sdb1 of 1048576 KiB"] != margin(tc.free) {
				t.Errorf("df asked %q, margins %v: want the volume measured once, and its file system's margin fixed", asked(), rs.margins)
			}
			if tc.says == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v, want ErrRefused saying %q", err, tc.says)
			}
		})
	}
}

// The margin: a twentieth of the room, at most 1 GiB.
func TestMargin(t *testing.T) {
	for free, want := range map[int64]int64{0: 0, 100 << 20: 5 << 20, 20 << 30: 1 << 30, 500 << 30: 1 << 30} {
		if got := margin(free); got != want {
			t.Errorf("margin(%d) = %d, want %d", free, got, want)
		}
	}
}

// The database's restore within its room: a dump larger than the room takes
// at dbGrowth is cut off, and a restore that fills the file system while it
// runs (its indexes, which no dump declares a size for) is stopped once less
// than the margin is left.
func TestRestoreDatabaseBound(t *testing.T) {
	mt := catalog.Mount{Volume: "db-data", Name: "stackctl-redmine_db-data-g2", Service: "db", Target: "/var/lib/postgresql/data"}
	for _, tc := range []struct {
		name  string
		dump  int64
		frees []int64
		// waits: the restore goes on after its input, until stopped.
		waits bool
		says  string
	}{
		{name: "within the room", dump: 1 << 20, frees: []int64{100 << 20}},
		{name: "a dump past the room", dump: 64 << 20, frees: []int64{100 << 20},
			says: "x: the database needs more room than volume stackctl-redmine_db-data-g2 has: its dump passes 47.5MiB, which restored takes about 95MiB or more, " +
				"and its file system (/dev/sdb1 of 1048576 KiB) has 100MiB free, of which a restore leaves 5MiB for the serving generation: make room"},
		{name: "the file system fills as it restores", dump: 1 << 20, frees: []int64{100 << 20, 50 << 20, 4 << 20}, waits: true,
			says: "x: the database needs more room than volume stackctl-redmine_db-data-g2 has: as it was restored, its file system (/dev/sdb1 of 1048576 KiB) " +
				"went from 100MiB free to 4MiB, less than the 5MiB a restore leaves for the serving generation: make room"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exec, asked := dfSays(tc.frees...)
			st, _ := catalog.LookupStack("redmine")
			rs := &restore{e: &engine.Engine{API: &engineAPI{exec: exec}}, st: st, name: "x", gen: 2, dbWatch: time.Millisecond}
			var fed int64
			err := rs.restoreDatabase(t.Context(), "dbc", mt, io.LimitReader(zeros{}, tc.dump), func(ctx context.Context, in io.Reader) error {
				n, err := io.Copy(io.Discard, in)
				fed = n
				if err != nil {
					return fmt.Errorf("pg_restore exited with 1: %w", err)
				}
				if tc.waits {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			})
			if got := asked(); len(got) == 0 || got[0] != "dbc: df -Pk /var/lib/postgresql/data" {
				t.Errorf("df asked %q, want the database's container about its data first", got)
			}
			if limit := (tc.frees[0] - margin(tc.frees[0])) / dbGrowth; fed > limit {
				t.Errorf("fed pg_restore %d bytes, past the bound of %d", fed, limit)
			}
			if tc.says == "" {
				if err != nil || fed != tc.dump {
					t.Fatalf("fed %d bytes of %d, err %v", fed, tc.dump, err)
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v, want ErrRefused saying %q", err, tc.says)
			}
		})
	}
}
