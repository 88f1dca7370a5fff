package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/signing"
)

// redminePers is the Redmine stack's persistence as the runner reports it.
var redminePers = catalog.Persistence{
	Database: &catalog.Database{Service: "db", Volume: "db-data", User: "redmine", Name: "redmine"},
	Mounts: []catalog.Mount{
		{Volume: "db-data", Name: "stackctl-redmine_db-data", Service: "db", Target: "/var/lib/postgresql/data"},
		{Volume: "redmine-files", Name: "stackctl-redmine_redmine-files", Service: "redmine", Target: "/usr/src/redmine/files"},
	},
}

const dump = "PGDMP custom-format dump"

// liveStack is the running Redmine stack as openLive finds it: the database's
// container "dbc", the files' "rmc", over e.
func liveStack(e Engine) *live {
	return &live{e: e, pers: redminePers, db: "dbc", mounts: map[string]string{"redmine-files": "rmc"}, entries: []archive.Entry{
		{Name: "db-data.pgdump", Kind: archive.KindPostgres, Volume: "db-data"},
		{Name: "redmine-files.tar", Kind: archive.KindVolume, Volume: "redmine-files"},
	}}
}

// stackEngine answers as a running Redmine stack: PostgreSQL 17.11 in dbc,
// Redmine 6.0.5's image in rmc, one attachment.
func stackEngine(t *testing.T) *fakeEngine {
	return &fakeEngine{
		run: func(container string, cmd []string) (string, error) {
			q := strings.Join(cmd, " ")
			switch {
			case container == "dbc" && strings.HasSuffix(q, "SHOW server_version"):
				return "17.11 (Debian 17.11-0+deb13u1)\n", nil
			case container == "dbc" && strings.Contains(q, "pg_database_size"):
				return " 7000000\n", nil
			case container == "dbc" && cmd[0] == "pg_dump":
				return dump, nil
			case container == "rmc" && cmd[0] == "du":
				return "5000\t/usr/src/redmine/files\n", nil
			}
			return "", errors.New("unexpected " + q)
		},
		tars:   map[string][]byte{"rmc:/usr/src/redmine/files": tarOf(t, "files", "2026/11/a.png", "PNG")},
		images: map[string]string{"rmc": "sha256:redmine", "dbc": "sha256:postgres"},
		envs:   map[string][]string{"sha256:redmine": {"PATH=/usr/bin", "REDMINE_VERSION=6.0.5"}, "sha256:postgres": {"PG_MAJOR=17"}},
	}
}

func TestLiveVersions(t *testing.T) {
	for _, tc := range []struct {
		name              string
		change            func(*fakeEngine, *live)
		redmine, postgres string
		err               string
	}{
		{name: "from the image and the server", redmine: "6.0.5", postgres: "17.11"},
		{name: "an image that does not say", change: func(e *fakeEngine, _ *live) { e.envs["sha256:redmine"] = []string{"PATH=/usr/bin"} },
			postgres: "17.11"},
		{name: "no database", change: func(_ *fakeEngine, s *live) { s.pers.Database = nil }, redmine: "6.0.5"},
		{name: "PostgreSQL does not answer", change: func(e *fakeEngine, _ *live) {
			e.run = func(string, []string) (string, error) { return "", errors.New("psql exited with 2") }
		}, err: "reading PostgreSQL's version: psql exited with 2"},
		{name: "the container is gone", change: func(e *fakeEngine, _ *live) { delete(e.images, "rmc") }, err: "inspecting container rmc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := stackEngine(t)
			s := liveStack(e)
			if tc.change != nil {
				tc.change(e, s)
			}
			redmine, postgres, err := s.versions(context.Background())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || redmine != tc.redmine || postgres != tc.postgres {
				t.Errorf("versions = %q, %q, %v; want %q, %q", redmine, postgres, err, tc.redmine, tc.postgres)
			}
		})
	}
}

// The estimate adds the database's size and the volumes' on disk; what
// cannot be measured counts as nothing rather than failing the backup.
func TestLiveEstimate(t *testing.T) {
	e := stackEngine(t)
	if got := liveStack(e).estimate(context.Background()); got != 7005000 {
		t.Errorf("estimate %d, want the database's 7000000 and the files' 5000", got)
	}
	run := e.run
	e.run = func(c string, cmd []string) (string, error) {
		if cmd[0] == "du" {
			return "", errors.New("du: permission denied")
		}
		return run(c, cmd)
	}
	if got := liveStack(e).estimate(context.Background()); got != 7000000 {
		t.Errorf("estimate %d with du failing, want the database's alone", got)
	}
}

// recorder is a Progress that keeps what it was told.
type recorder struct {
	mu      sync.Mutex
	what    string
	total   int64
	entries []string
	added   int64
	done    []error
}

func (r *recorder) Start(what string, total int64) { r.what, r.total = what, total }
func (r *recorder) Entry(name string)              { r.entries = append(r.entries, name) }
func (r *recorder) Add(n int64)                    { r.mu.Lock(); r.added += n; r.mu.Unlock() }
func (r *recorder) Done(err error)                 { r.done = append(r.done, err) }

// readArchive is every entry's content in the archive src, checked.
func readArchive(t *testing.T, src io.Reader, ids ...age.Identity) (archive.Manifest, map[string][]byte) {
	t.Helper()
	r, err := archive.NewReader(src, archive.ReadOptions{Identities: ids, Trust: signing.AnySigner()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[string][]byte{}
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			m, _ := r.Manifest()
			return m, out
		}
		if err != nil {
			t.Fatal(err)
		}
		if out[e.Name], err = io.ReadAll(r); err != nil {
			t.Fatal(err)
		}
	}
}

// members lists a tar stream's member names and their contents.
func members(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(tr)
		out = append(out, h.Name+"="+string(content))
	}
}

// A backup streams the dump and every volume into one archive, the volume's
// members rebased to its root ("./"), as a restore writes them back.
func TestLiveWrite(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		recipients []age.Recipient
		ids        []age.Identity
	}{
		{name: "plain"},
		{name: "encrypted", recipients: []age.Recipient{id.Recipient()}, ids: []age.Identity{id}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := stackEngine(t)
			s := liveStack(e)
			m := archive.Manifest{Stack: "redmine", Profile: "debian", Created: time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), Entries: s.entries}
			var buf bytes.Buffer
			p := &recorder{}
			written, err := s.write(context.Background(), &buf, m, tc.recipients, ownKey(), p)
			if err != nil {
				t.Fatal(err)
			}
			if encrypted := bytes.HasPrefix(buf.Bytes(), []byte("age-encryption.org/v1\n")); encrypted != (tc.recipients != nil) {
				t.Errorf("archive encrypted %v, want %v", encrypted, tc.recipients != nil)
			}
			if tc.ids != nil {
				if _, _, err := archive.Verify(bytes.NewReader(buf.Bytes()), archive.ReadOptions{Trust: signing.AnySigner()}); err == nil {
					t.Error("an encrypted archive read without its identity")
				}
			}
			got, content := readArchive(t, bytes.NewReader(buf.Bytes()), tc.ids...)
			if string(content["db-data.pgdump"]) != dump {
				t.Errorf("dump %q, want pg_dump's output", content["db-data.pgdump"])
			}
			if want := []string{"./=", "./2026/11/a.png=PNG"}; !slices.Equal(members(t, content["redmine-files.tar"]), want) {
				t.Errorf("files members %q, want %q", members(t, content["redmine-files.tar"]), want)
			}
			if !got.Equal(written) || written.EntrySize("db-data.pgdump") != int64(len(dump)) {
				t.Errorf("write returned %+v, the archive's manifest is %+v", written, got)
			}
			if !slices.Equal(p.entries, []string{"db-data.pgdump", "redmine-files.tar"}) || p.added != written.Size() {
				t.Errorf("progress entries %q, %d bytes; want both entries and every byte read from the stack", p.entries, p.added)
			}
			if !slices.Contains(e.cmds, "dbc: pg_dump -Fc -Z0 -U redmine -d redmine") {
				t.Errorf("commands %q: want one consistent custom-format dump, uncompressed (zstd compresses)", e.cmds)
			}
		})
	}
}

func TestLiveWriteFails(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		change func(*fakeEngine, *live)
		err    string
	}{
		{name: "pg_dump fails", change: func(e *fakeEngine, _ *live) {
			e.run = func(string, []string) (string, error) {
				return "", errors.New("pg_dump exited with 1: connection refused")
			}
		}, err: "pg_dump exited with 1: connection refused"},
		{name: "a volume cannot be read", change: func(e *fakeEngine, _ *live) { delete(e.tars, "rmc:/usr/src/redmine/files") },
			err: "reading /usr/src/redmine/files from rmc"},
		{name: "a volume's tar escapes it", change: func(e *fakeEngine, _ *live) {
			e.tars["rmc:/usr/src/redmine/files"] = tarOf(t, "files", "../../etc/passwd", "root")
		}, err: `member "files/../../etc/passwd" lies outside the volume`},
		{name: "an entry of an unknown kind", change: func(_ *fakeEngine, s *live) {
			s.entries = append(s.entries, archive.Entry{Name: "x.bin", Kind: "blob", Volume: "x"})
		}, err: `unknown kind "blob"`},
		{name: "interrupted", ctx: cancelled, err: context.Canceled.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := stackEngine(t)
			s := liveStack(e)
			if tc.change != nil {
				tc.change(e, s)
			}
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			m := archive.Manifest{Stack: "redmine", Profile: "debian", Created: time.Now().UTC(), Entries: s.entries}
			if _, err := s.write(ctx, io.Discard, m, nil, nil, nopProgress{}); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
}
