package backup

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/signing"
	"github.com/stackctl/stackctl/internal/stack"
)

// archiveBytes is an archive of the running stack liveStack reads, as a
// backup writes it signed with ownKey, encrypted to recipients when any.
func archiveBytes(t *testing.T, recipients ...age.Recipient) []byte {
	t.Helper()
	return signedArchive(t, ownKey(), recipients...)
}

// signedArchive is archiveBytes signed with key (nil: unsigned).
func signedArchive(t *testing.T, key *signing.Key, recipients ...age.Recipient) []byte {
	t.Helper()
	s := liveStack(stackEngine(t))
	m := archive.Manifest{Stack: "redmine", Profile: "debian", RedmineVersion: "6.0.5", PostgresVersion: "17.11",
		Created: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), Entries: s.entries}
	var buf bytes.Buffer
	if _, err := s.write(context.Background(), &buf, m, recipients, key, nopProgress{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ownKey signs the tests' archives, and ownTrust trusts it alone.
var ownKey = sync.OnceValue(func() *signing.Key {
	k, _, err := signing.NewKey("tests")
	if err != nil {
		panic(err)
	}
	return k
})

func ownTrust() *signing.Trust { return signing.NewTrust(&ownKey().Public, "", nil) }

// crafted is an unsigned archive written by the archive's own writer for the entries
// m plans, whatever they say: a dump's content is a few bytes, a tar's an
// empty tar stream.
func crafted(t *testing.T, m archive.Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := archive.NewWriter(&buf, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range m.Entries {
		content := []byte("PGDMP")
		if en.Kind == archive.KindVolume {
			content = make([]byte, 1024)
		}
		if _, err := w.Add(en.Name, bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Verify reads an archive on a target in full, reporting its progress, and
// names what is wrong with one that does not check.
func TestVerify(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	good := archiveBytes(t)
	damaged := bytes.Clone(good)
	damaged[len(damaged)/2] ^= 0xff
	stranger, _, err := signing.NewKey("stranger")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		content  []byte
		ids      []age.Identity
		unsigned bool
		is       error
	}{
		{name: "whole", content: good},
		{name: "signed by a stranger", content: signedArchive(t, stranger), is: signing.ErrUntrusted},
		{name: "encrypted, signed by a stranger", content: signedArchive(t, stranger, id.Recipient()), ids: []age.Identity{id}, is: signing.ErrUntrusted},
		{name: "unsigned", content: signedArchive(t, nil), is: signing.ErrUntrusted},
		{name: "unsigned, trusted so", content: signedArchive(t, nil), unsigned: true},
		{name: "encrypted, with its identity", content: archiveBytes(t, id.Recipient()), ids: []age.Identity{id}},
		{name: "encrypted, without", content: archiveBytes(t, id.Recipient()), is: archive.ErrEncrypted},
		{name: "a byte changed", content: damaged, is: archive.ErrDamaged},
		{name: "cut short", content: good[:len(good)-100], is: archive.ErrDamaged},
		{name: "no archive", is: errs.ErrNotFound},
		// Whole and checked, but no backup stackctl writes: a restore would
		// refuse it, so it is not intact either.
		{name: "a dump and a tar for one volume", content: crafted(t, with(holding("db-data", "redmine-files"), "redmine-files.tar",
			func(e *archive.Entry) { e.Volume = "db-data" })), unsigned: true, is: archive.ErrDamaged},
		{name: "a dump into the files", content: crafted(t, with(holding("db-data", "redmine-files"), "redmine-files.tar",
			func(e *archive.Entry) { e.Kind = archive.KindPostgres })), unsigned: true, is: archive.ErrDamaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target, _ := localTarget(t)
			name := archive.FileName("redmine", time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), tc.ids != nil)
			if tc.content != nil {
				put(t, target, name, string(tc.content))
			}
			p := &recorder{}
			trust := ownTrust()
			trust.Unsigned = tc.unsigned
			m, signer, err := Verify(context.Background(), offsite.Location{Target: target, Name: name}, archive.ReadOptions{Identities: tc.ids, Trust: trust}, p)
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Fatalf("err %v, want %v", err, tc.is)
				}
				if tc.content != nil && (len(p.done) != 1 || p.done[0] != err) {
					t.Errorf("progress ended with %v, want the error", p.done)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Stack != "redmine" || m.EntrySize("db-data.pgdump") != int64(len(dump)) {
				t.Errorf("manifest %+v", m)
			}
			if tc.unsigned != (signer == nil) || signer != nil && signer.Fingerprint() != ownKey().Public.Fingerprint() {
				t.Errorf("signed by %v, want the tests' own key", signer)
			}
			if p.what != "verify "+name || p.total != int64(len(tc.content)) || p.added != int64(len(tc.content)) || len(p.done) != 1 || p.done[0] != nil {
				t.Errorf("progress %q of %d: %d bytes read, done %v; want every byte of the file", p.what, p.total, p.added, p.done)
			}
		})
	}
}

// withPlugins is the Redmine stack's persistence with its plugins volume.
var withPlugins = catalog.Persistence{
	Database: redminePers.Database,
	Mounts: append(slices.Clone(redminePers.Mounts),
		catalog.Mount{Volume: "redmine-plugins", Name: "stackctl-redmine_redmine-plugins", Service: "redmine", Target: "/usr/src/redmine/plugins"}),
}

// holding is a manifest of the Redmine stack with an entry for each volume:
// a dump for the database's, a tar for the others.
func holding(volumes ...string) archive.Manifest {
	m := archive.Manifest{Stack: "redmine"}
	for _, v := range volumes {
		if v == "db-data" {
			m.Entries = append(m.Entries, archive.Entry{Name: v + ".pgdump", Kind: archive.KindPostgres, Volume: v})
			continue
		}
		m.Entries = append(m.Entries, archive.Entry{Name: v + ".tar", Kind: archive.KindVolume, Volume: v})
	}
	return m
}

// with is m with its entry named name changed by change.
func with(m archive.Manifest, name string, change func(*archive.Entry)) archive.Manifest {
	m.Entries = slices.Clone(m.Entries)
	for i := range m.Entries {
		if m.Entries[i].Name == name {
			change(&m.Entries[i])
		}
	}
	return m
}

// The volume decisions of a restore: what an archive must hold, what --only
// takes from it and leaves to copy from the active generation.
func TestRefuseVolumes(t *testing.T) {
	st, _ := catalog.LookupStack("redmine")
	const file = "/backups/redmine-20261120T060000Z.tar.zst"
	for _, tc := range []struct {
		name   string
		m      archive.Manifest
		only   []string
		copied []string
		is     error
		says   string
	}{
		{name: "a whole backup", m: holding("db-data", "redmine-files", "redmine-plugins")},
		{name: "a volume the stack no longer has", m: holding("db-data", "redmine-files", "redmine-plugins", "redmine-themes"), is: ErrRefused,
			says: "the archive holds volume redmine-themes, which stack redmine no longer has"},
		{name: "a volume missing", m: holding("db-data", "redmine-files"), is: ErrRefused,
			says: file + " holds no redmine-plugins: the restored generation of stack redmine would have an empty redmine-plugins: " +
				"restore what it holds with --only db-data redmine-files (the rest is copied from the active generation), or restore a whole backup"},
		{name: "only the database", m: holding("db-data", "redmine-files"), only: []string{"db-data"}, copied: []string{"redmine-files", "redmine-plugins"}},
		{name: "only a volume the stack lacks", m: holding("db-data"), only: []string{"db"}, is: errs.ErrInvalidInput,
			says: "--only db: stack redmine has no such volume: it has db-data, redmine-files, redmine-plugins"},
		{name: "only a volume the archive lacks", m: holding("db-data", "redmine-files"), only: []string{"redmine-plugins"}, is: ErrRefused,
			says: "--only redmine-plugins: " + file + " holds no redmine-plugins: it holds db-data, redmine-files"},
		// An entry's kind must match its volume (issue 30): a dump goes into
		// the database's volume alone, and one volume takes one entry.
		{name: "the database as a tar", m: with(holding("db-data", "redmine-files", "redmine-plugins"), "db-data.pgdump",
			func(e *archive.Entry) { e.Kind = archive.KindVolume }), is: ErrRefused,
			says: file + ": entry db-data.pgdump is a volume-tar for the database's volume db-data, which only a database dump restores"},
		{name: "a dump into the files", m: with(holding("db-data", "redmine-files", "redmine-plugins"), "redmine-files.tar",
			func(e *archive.Entry) { e.Kind = archive.KindPostgres }), is: ErrRefused,
			says: file + ": entry redmine-files.tar is a database dump for volume redmine-files, which is not the database's (db-data)"},
		{name: "a dump and a tar for one volume", m: with(holding("db-data", "redmine-files", "redmine-plugins"), "redmine-plugins.tar",
			func(e *archive.Entry) { e.Volume = "db-data" }), is: ErrRefused,
			says: file + ": entries db-data.pgdump and redmine-plugins.tar both restore volume db-data"},
		{name: "two tars for one volume", m: with(holding("db-data", "redmine-files", "redmine-plugins"), "redmine-plugins.tar",
			func(e *archive.Entry) { e.Volume = "redmine-files" }), is: ErrRefused,
			says: "entries redmine-files.tar and redmine-plugins.tar both restore volume redmine-files"},
		// A crafted manifest's volume names reach the message escaped.
		{name: "a volume named to forge a line", m: holding("db-data", "redmine-files", "redmine-plugins", "x\x1b[2J\rall good"), is: ErrRefused,
			says: `the archive holds volume "x\x1b[2J\rall good", which stack redmine no longer has`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copied, err := refuseVolumes(st, file, tc.m, tc.only, withPlugins)
			if tc.is != nil {
				if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("err %v, want %v saying %q", err, tc.is, tc.says)
				}
				return
			}
			if err != nil || !slices.Equal(copied, tc.copied) {
				t.Fatalf("copied %q, %v; want %q", copied, err, tc.copied)
			}
		})
	}
}

// The manifest peeked at an archive's end gives sizes only when it plans
// what the header does.
func TestSameEntries(t *testing.T) {
	a := holding("db-data", "redmine-files")
	sized := holding("db-data", "redmine-files")
	sized.Entries[0].Size, sized.Entries[0].SHA256 = 10, "ab"
	other := holding("db-data", "redmine-files")
	other.Stack = "nginx"
	renamed := holding("db-data", "redmine-files")
	renamed.Entries[1].Name = "files.tar"
	for name, tc := range map[string]struct {
		b    archive.Manifest
		want bool
	}{
		"sizes and checksums added":  {sized, true},
		"another stack's":            {other, false},
		"an entry fewer":             {holding("db-data"), false},
		"an entry renamed":           {renamed, false},
		"the volumes in other order": {holding("redmine-files", "db-data"), false},
	} {
		if got := sameEntries(a, tc.b); got != tc.want {
			t.Errorf("%s: sameEntries = %v, want %v", name, got, tc.want)
		}
	}
}

// A restore refuses data from a newer Redmine or PostgreSQL than the images
// it would run: neither can take a schema from its future.
func TestCheckVersions(t *testing.T) {
	api := &engineAPI{envs: map[string][]string{
		"stackctl/redmine:6.0.4": {"REDMINE_VERSION=6.0.4"}, "stackctl/redmine:6.0.10": {"REDMINE_VERSION=6.0.10"},
		"postgres:17": {"PG_MAJOR=17"}, "postgres:18": {"PG_MAJOR=18"},
	}}
	ar, err := archive.NewReader(bytes.NewReader(archiveBytes(t)), archive.ReadOptions{Trust: signing.AnySigner()})
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	for _, tc := range []struct {
		name                  string
		redmineImage, pgImage string
		redmine, postgres     string
		copy                  bool
		says                  string
	}{
		{name: "the same releases", redmineImage: "stackctl/redmine:6.0.4", pgImage: "postgres:17", redmine: "6.0.4", postgres: "17.11"},
		{name: "older data", redmineImage: "stackctl/redmine:6.0.10", pgImage: "postgres:18", redmine: "6.0.5", postgres: "17.11"},
		{name: "newer Redmine", redmineImage: "stackctl/redmine:6.0.4", pgImage: "postgres:17", redmine: "6.0.5", postgres: "17.11",
			says: "the archive is from Redmine 6.0.5, newer than the 6.0.4 in image stackctl/redmine:6.0.4: " +
				"Redmine cannot migrate a database down; restore it on an image of Redmine 6.0.5 or later"},
		{name: "newer PostgreSQL, copied", redmineImage: "stackctl/redmine:6.0.10", pgImage: "postgres:17", redmine: "6.0.5", postgres: "18.1", copy: true,
			says: "the data of the active generation is from PostgreSQL 18.1, newer than the 17 in image postgres:17: restore it on PostgreSQL 18 or later"},
		{name: "an image not there yet", redmineImage: "stackctl/redmine:7.0.0", pgImage: "postgres:19", redmine: "6.0.5", postgres: "18.1"},
		{name: "versions unknown", redmineImage: "stackctl/redmine:6.0.4", pgImage: "postgres:17"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := &restore{e: &engine.Engine{API: api}, name: "the active generation",
				m: archive.Manifest{Stack: "redmine", RedmineVersion: tc.redmine, PostgresVersion: tc.postgres}}
			if !tc.copy {
				rs.ar, rs.name = ar, "/backups/x.tar.zst"
			}
			services := types.Services{}
			for name, image := range map[string]string{"redmine": tc.redmineImage, "db": tc.pgImage} {
				svc := types.ServiceConfig{Name: name}
				svc.Image = image
				services[name] = svc
			}
			p := stack.Prepared{Project: &types.Project{Services: services}}
			err := rs.Check(context.Background(), p)
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

func TestFreeSpace(t *testing.T) {
	for _, tc := range []struct {
		name string
		out  string
		code int
		key  string
		free int64
		err  string
	}{
		{name: "df's portable output", out: "Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/sda1         102400      2048    100352       2% /var/lib/postgresql/data\n",
			key: "/dev/sda1 of 102400 KiB", free: 100352 << 10},
		{name: "no file system line", out: "Filesystem 1024-blocks Used Available Capacity Mounted on\n", err: "df printed"},
		{name: "not a number", out: "Filesystem 1024-blocks Used Available Capacity Mounted on\nfs 10 2 lots 2% /x\n", err: "df printed"},
		{name: "df fails", code: 1, err: "df exited with 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			api := &engineAPI{exec: func(container string, cmd []string) (string, int) {
				ran = append(ran, container+": "+strings.Join(cmd, " "))
				return tc.out, tc.code
			}}
			key, free, err := FreeSpace(context.Background(), &engine.Engine{API: api}, "dbc", "/var/lib/postgresql/data")
			if !slices.Equal(ran, []string{"dbc: df -Pk /var/lib/postgresql/data"}) {
				t.Errorf("ran %q, want df's portable form on the directory", ran)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || key != tc.key || free != tc.free {
				t.Errorf("FreeSpace = %q, %d, %v; want %q, %d", key, free, err, tc.key, tc.free)
			}
		})
	}
}

// A seed that never started its writer ends, and closes, without waiting.
func TestRestoreCloseWithoutWriter(t *testing.T) {
	ar, err := archive.NewReader(bytes.NewReader(archiveBytes(t)), archive.ReadOptions{Trust: signing.AnySigner()})
	if err != nil {
		t.Fatal(err)
	}
	f := &closer{}
	rs := &restore{ar: ar, file: f, copy: false}
	rs.close()
	if !f.closed {
		t.Error("the archive's file was left open")
	}
	if rs.CopiesActive() {
		t.Error("a seed from an archive says it copies the active generation")
	}
	if (&restore{copy: true}).CopiesActive() != true {
		t.Error("a copy does not say so")
	}
}

type closer struct{ closed bool }

func (c *closer) Close() error { c.closed = true; return nil }

// What --only leaves out is read all the same, and checked: an archive
// damaged anywhere fails the restore, even where nothing is restored from.
func TestEntriesCheckWhatOnlyLeaves(t *testing.T) {
	good := archiveBytes(t)
	damaged := bytes.Clone(good)
	damaged[len(damaged)/2] ^= 0xff
	for _, tc := range []struct {
		name    string
		content []byte
		is      error
	}{
		{name: "whole", content: good},
		{name: "damaged where nothing is restored", content: damaged, is: archive.ErrDamaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ar, err := archive.NewReader(bytes.NewReader(tc.content), archive.ReadOptions{Trust: signing.AnySigner()})
			if err != nil {
				t.Fatal(err)
			}
			defer ar.Close()
			st, _ := catalog.LookupStack("redmine")
			p := &recorder{}
			rs := &restore{st: st, ar: ar, size: int64(len(tc.content)), only: []string{"redmine-plugins"}, progress: p}
			err = rs.entries(context.Background(), withPlugins, nil)
			if !errors.Is(err, tc.is) || tc.is == nil && err != nil {
				t.Fatalf("err %v, want %v", err, tc.is)
			}
			if len(p.entries) != 0 {
				t.Errorf("entries %q restored, want none: --only names none of them", p.entries)
			}
			if p.what != "restore redmine" || p.total != int64(len(tc.content)) || len(p.done) != 1 || p.done[0] != err {
				t.Errorf("progress %q of %d, done %v: want the archive's size without a peeked manifest, and the run's end", p.what, p.total, p.done)
			}
		})
	}
}

// The room a restore plans for is what it takes from the archive, by the
// sizes its manifest records: only what --only names.
func TestPlanned(t *testing.T) {
	sizes := holding("db-data", "redmine-files")
	sizes.Entries[0].Size, sizes.Entries[1].Size = 100, 200
	for _, tc := range []struct {
		name string
		only []string
		want []string
	}{
		{name: "everything", want: []string{"db-data", "redmine-files"}},
		{name: "only the files", only: []string{"redmine-files"}, want: []string{"redmine-files"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := (&restore{sizes: sizes, only: tc.only}).planned(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if volumes := heldOf(archive.Manifest{Entries: got}); !slices.Equal(volumes, tc.want) {
				t.Errorf("planned %q, want %q", volumes, tc.want)
			}
		})
	}
}
