package offsite

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite/offsitetest"
)

// server is a target's server as the tests see it. Each test keeps its archives
// in a place of its own: a directory, or a prefix of the bucket.
type server struct {
	// url is the target URL of place, which prepare makes.
	url     func(place string) string
	prepare func(t testing.TB, place string)
	// held is everything the server keeps in place, archives or not:
	// temporary files, and for S3 the multipart uploads ("upload:<key>").
	held func(t testing.TB, place string) []string
	// stop and start stop and restart the server; nil for a local directory.
	stop, start func()
}

func localServer(t testing.TB) server {
	root := t.TempDir()
	return server{
		url:     func(place string) string { return filepath.Join(root, place) },
		prepare: func(t testing.TB, place string) { mkdir(t, filepath.Join(root, place)) },
		held:    func(t testing.TB, place string) []string { return files(t, filepath.Join(root, place)) },
	}
}

func sftpServer(t testing.TB) server {
	srv := offsitetest.StartSFTP(t)
	return server{
		url:     srv.URL,
		prepare: func(t testing.TB, place string) { mkdir(t, filepath.Join(srv.Dir, place)) },
		held:    func(t testing.TB, place string) []string { return srv.Files(place) },
		stop:    srv.Stop,
		start:   srv.Start,
	}
}

func s3Server(t testing.TB) server {
	srv := offsitetest.StartS3(t)
	return server{
		url:     srv.URL,
		prepare: func(testing.TB, string) {},
		held: func(t testing.TB, place string) []string {
			held := srv.Objects(place + "/")
			for _, k := range srv.Uploads(place + "/") {
				held = append(held, "upload:"+k)
			}
			for i := range held {
				held[i] = strings.Replace(held[i], place+"/", "", 1)
			}
			return held
		},
		stop:  srv.Stop,
		start: srv.Start,
	}
}

// kinds are the kinds of target and how to start each one's server.
var kinds = []struct {
	name  string
	start func(testing.TB) server
}{
	{"local", localServer},
	{"sftp", sftpServer},
	{"s3", s3Server},
}

// TestTargets proves each target against its real server: a local directory,
// OpenSSH's sftp-server, versitygw's S3.
func TestTargets(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			srv := kind.start(t)
			t.Run("round trip", func(t *testing.T) { roundTrip(t, srv) })
			t.Run("commit refuses to replace", func(t *testing.T) { refusesToReplace(t, srv, "replace", nil) })
			if kind.name == "sftp" {
				t.Run("commit refuses to replace without hard links", func(t *testing.T) {
					refusesToReplace(t, srv, "replace-renaming", func(target Target) { target.(*dirTarget).fs.(*sftpFS).noHardLinks = true })
				})
			}
			t.Run("commit checks what the server holds", func(t *testing.T) { commitChecks(t, srv, kind.name == "s3") })
			t.Run("cancelled mid-stream", func(t *testing.T) { cancelled(t, srv) })
			t.Run("abandoned mid-stream", func(t *testing.T) { abandoned(t, srv) })
			if srv.stop != nil {
				t.Run("server stopped mid-stream", func(t *testing.T) { serverStopped(t, srv) })
			}
		})
	}
}

// taken is the time in the archives' names; redmineArchive is the archive most tests write.
var (
	taken          = time.Date(2026, 11, 23, 1, 2, 3, 0, time.UTC)
	redmineArchive = archive.FileName("redmine", taken, false)
)

func roundTrip(t *testing.T, srv server) {
	ctx := context.Background()
	target := open(t, srv, "round-trip")
	// Over an S3 part (16 MiB) and not a multiple of any buffer.
	data := payload(21<<20+12345, 1)
	got := upload(t, target, redmineArchive, data)
	sum := sha256.Sum256(data)
	want := Committed{Archive: Archive{Name: redmineArchive, Size: int64(len(data)), Taken: taken}, SHA256: hex.EncodeToString(sum[:])}
	if got != want {
		t.Fatalf("Commit = %+v, want %+v", got, want)
	}
	// Another stack's, whose name starts with this one's: never in its list.
	other := archive.FileName("redmine-dev", taken, true)
	upload(t, target, other, []byte("age-encryption.org/v1\n"))

	list, err := target.List(ctx, "redmine")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(list, []Archive{want.Archive}) {
		t.Fatalf("List = %+v, want %+v", list, want.Archive)
	}

	r, err := target.Open(ctx, redmineArchive)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(data)) {
		t.Errorf("Size = %d, want %d", r.Size(), len(data))
	}
	tail := make([]byte, 1<<20)
	if n, err := r.ReadAt(tail, r.Size()-int64(len(tail))); err != nil || !bytes.Equal(tail[:n], data[len(data)-len(tail):]) {
		t.Fatalf("ReadAt of the last MiB: %d bytes, %v, or other bytes", n, err)
	}
	read, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read, data) {
		t.Fatalf("read %d bytes back, not the %d written", len(read), len(data))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := target.ReadSidecar(ctx, redmineArchive); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("ReadSidecar before any = %v, want errs.ErrNotFound", err)
	}
	for _, v := range []string{`{"restore":"pending"}`, `{"restore":"passed"}`} {
		if err := target.WriteSidecar(ctx, redmineArchive, []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := target.ReadSidecar(ctx, redmineArchive); err != nil || string(got) != v {
			t.Fatalf("ReadSidecar = %q, %v; want %q", got, err, v)
		}
	}

	if _, err := target.Create(ctx, redmineArchive); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create of an existing archive = %v, want fs.ErrExist", err)
	}

	if err := target.Remove(ctx, redmineArchive); err != nil {
		t.Fatal(err)
	}
	if list, err := target.List(ctx, "redmine"); err != nil || len(list) > 0 {
		t.Fatalf("List after Remove = %v, %v", list, err)
	}
	if _, err := target.Open(ctx, redmineArchive); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("Open after Remove = %v, want errs.ErrNotFound", err)
	}
	if err := target.Remove(ctx, redmineArchive); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("Remove after Remove = %v, want errs.ErrNotFound", err)
	}
	expectHeld(t, srv, "round-trip", other)
}

// refusesToReplace races two uploads of one name: the first to commit wins, the
// second is refused and leaves nothing.
func refusesToReplace(t *testing.T, srv server, place string, setup func(Target)) {
	ctx := context.Background()
	target := open(t, srv, place)
	if setup != nil {
		setup(target)
	}
	first := create(ctx, t, target, redmineArchive)
	second := create(ctx, t, target, redmineArchive)
	write(t, first, []byte("first"))
	write(t, second, []byte("second"))
	if _, err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := second.Commit(ctx)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), target.String()) {
		t.Fatalf("second Commit = %v, want fs.ErrExist naming %s", err, target)
	}
	if got := readAll(t, target, redmineArchive); string(got) != "first" {
		t.Fatalf("the archive holds %q, want the first upload's", got)
	}
	expectHeld(t, srv, place, redmineArchive)
}

// commitChecks makes an upload's own count of what it wrote disagree with what
// the server received, as bytes lost on the way would: Commit must refuse, and
// leave nothing. A file system keeps no checksum: the size is its check.
func commitChecks(t *testing.T, srv server, checksums bool) {
	for _, tc := range []struct {
		name     string
		checksum bool
		tamper   func(Upload)
	}{
		{"size", false, func(up Upload) {
			switch up := up.(type) {
			case *dirUpload:
				up.tally.n++
			case *s3Upload:
				up.tally.n++
			}
		}},
		{"checksum", true, func(up Upload) {
			if up, ok := up.(*s3Upload); ok {
				up.crc.Write([]byte{0})
			}
		}},
	} {
		if tc.checksum && !checksums {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			place := "checks-" + tc.name
			target := open(t, srv, place)
			up := create(ctx, t, target, redmineArchive)
			write(t, up, payload(17<<20, 6))
			tc.tamper(up)
			_, err := up.Commit(ctx)
			if err == nil || !strings.Contains(err.Error(), target.String()) {
				t.Fatalf("Commit = %v, want a refusal naming %s", err, target)
			}
			t.Log(err)
			expectNoArchive(t, target, redmineArchive)
			expectHeld(t, srv, place)
		})
	}
}

// cancelled cancels an upload's context mid-stream: writing stops, Commit
// refuses, and Abort leaves nothing on the server.
func cancelled(t *testing.T, srv server) {
	target := open(t, srv, "cancelled")
	ctx, cancel := context.WithCancel(context.Background())
	up := create(ctx, t, target, redmineArchive)
	write(t, up, payload(20<<20, 2))
	cancel()
	if _, err := up.Write([]byte("more")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write after cancel = %v, want context.Canceled", err)
	}
	if _, err := up.Commit(context.Background()); err == nil {
		t.Fatal("Commit after cancel succeeded")
	}
	if err := up.Abort(); err != nil {
		t.Fatal(err)
	}
	expectNoArchive(t, target, redmineArchive)
	expectHeld(t, srv, "cancelled")
}

// abandoned leaves an upload as a killed stackctl would, without Commit or
// Abort: nothing lists or opens, and Sweep removes what is left once idle.
func abandoned(t *testing.T, srv server) {
	ctx := context.Background()
	target := open(t, srv, "abandoned")
	up := create(ctx, t, target, redmineArchive)
	write(t, up, payload(17<<20, 3))
	target.Close()

	target = open(t, srv, "abandoned")
	expectNoArchive(t, target, redmineArchive)
	if len(srv.held(t, "abandoned")) != 1 {
		t.Fatalf("the server holds %v, want the unfinished upload", srv.held(t, "abandoned"))
	}
	for _, tc := range []struct {
		stack string
		idle  time.Duration
		want  int
	}{
		{"redmine", time.Hour, 0},
		{"redmine-dev", 0, 0},
		{"redmine", 0, 1},
	} {
		swept, err := target.Sweep(ctx, tc.stack, tc.idle)
		if err != nil || len(swept) != tc.want {
			t.Fatalf("Sweep(%s, %v) = %v, %v; want %d swept", tc.stack, tc.idle, swept, err, tc.want)
		}
	}
	expectHeld(t, srv, "abandoned")
}

// serverStopped stops the server mid-stream: the upload fails, and once the
// server is back nothing lists or opens; Sweep removes what is left.
func serverStopped(t *testing.T, srv server) {
	ctx := context.Background()
	target := open(t, srv, "stopped")
	up := create(ctx, t, target, redmineArchive)
	write(t, up, payload(20<<20, 4))
	srv.stop()
	chunk := payload(1<<20, 5)
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		_, werr = up.Write(chunk)
	}
	_, err := up.Commit(ctx)
	if err == nil {
		t.Fatal("Commit with the server stopped succeeded")
	}
	t.Logf("with the server stopped: Write: %v; Commit: %v", werr, err)
	up.Abort()
	target.Close()
	srv.start()

	target = open(t, srv, "stopped")
	expectNoArchive(t, target, redmineArchive)
	if _, err := target.Sweep(ctx, "redmine", 0); err != nil {
		t.Fatal(err)
	}
	expectHeld(t, srv, "stopped")
}

// open prepares place on the server and opens a target of it, closed when the test ends.
func open(t testing.TB, srv server, place string) Target {
	t.Helper()
	srv.prepare(t, place)
	target, err := Parse(srv.url(place))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	if err := target.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return target
}

func upload(t *testing.T, target Target, name string, data []byte) Committed {
	t.Helper()
	ctx := context.Background()
	up := create(ctx, t, target, name)
	write(t, up, data)
	c, err := up.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func create(ctx context.Context, t testing.TB, target Target, name string) Upload {
	t.Helper()
	up, err := target.Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return up
}

// write writes data in uneven pieces, as an archive writer does.
func write(t *testing.T, w io.Writer, data []byte) {
	t.Helper()
	sizes := []int{1, 4093, 64 << 10, 1<<20 + 7}
	for i := 0; len(data) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(data))
		if _, err := w.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
	}
}

func readAll(t *testing.T, target Target, name string) []byte {
	t.Helper()
	r, err := target.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func expectNoArchive(t *testing.T, target Target, name string) {
	t.Helper()
	if list, err := target.List(context.Background(), "redmine"); err != nil || len(list) > 0 {
		t.Fatalf("List = %v, %v; want nothing", list, err)
	}
	if _, err := target.Open(context.Background(), name); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("Open = %v, want errs.ErrNotFound", err)
	}
}

func expectHeld(t *testing.T, srv server, place string, want ...string) {
	t.Helper()
	held := srv.held(t, place)
	slices.Sort(held)
	slices.Sort(want)
	if !slices.Equal(held, want) {
		t.Fatalf("the server holds %q, want %q", held, want)
	}
}

// payload is n incompressible bytes, the same for the same seed.
func payload(n int, seed uint64) []byte {
	data := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(data)
	return data
}

func mkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

func files(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
