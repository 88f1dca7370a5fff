package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/stackctl/stackctl/internal/atomicfile"
	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/stack"
)

// Engine is what a backup needs from the Docker engine, beyond the stack
// runner; engine.Engine has it.
type Engine interface {
	Exec(ctx context.Context, container string, cmd []string, o engine.ExecOptions) error
	CopyFrom(ctx context.Context, container, path string) (io.ReadCloser, error)
	ImageEnv(ctx context.Context, ref string) (env []string, found bool, err error)
	ContainerImage(ctx context.Context, container string) (string, error)
}

// Options are the operator's choices for a backup.
type Options struct {
	// Dir receives the archive.
	Dir string
	// Keep, when above zero, prunes the stack's older archives in Dir down to Keep.
	Keep int
	// Recipients, when any, encrypt the archive to them.
	Recipients []age.Recipient
	// Progress reports bytes read from the stack; nil for none.
	Progress Progress
}

// Result is what a backup wrote.
type Result struct {
	Path     string
	Manifest archive.Manifest
	// Written is the archive's size on disk.
	Written int64
	Pruned  []string
}

// Backup writes one archive of st's persistent state while st keeps running: the
// database first, as a pg_dump snapshot, then every other named volume, so that
// every attachment the dump refers to is in the archive.
func Backup(ctx context.Context, r stack.Runner, e Engine, st catalog.Stack, o Options) (Result, error) {
	pers, err := r.Persistence(ctx, st)
	if err != nil {
		return Result{}, err
	}
	if pers.Database == nil && len(pers.Mounts) == 0 {
		return Result{}, fmt.Errorf("%w: stack %s keeps no state: there is nothing to back up", errs.InvalidInput, st.Name)
	}
	state, err := r.State.Load(st.Name)
	if err != nil {
		return Result{}, err
	}
	stk, err := openLive(ctx, r, e, st, pers)
	if err != nil {
		return Result{}, err
	}
	m := archive.Manifest{Stack: st.Name, Profile: string(state.Profile), Created: time.Now().UTC().Truncate(time.Second), Entries: stk.entries}
	if m.RedmineVersion, m.PostgresVersion, err = stk.versions(ctx); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return Result{}, fmt.Errorf("creating %s: %w", o.Dir, err)
	}
	unlock, err := lockDir(o.Dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()

	name := archive.FileName(st.Name, m.Created, len(o.Recipients) > 0)
	final := filepath.Join(o.Dir, name)
	if _, err := os.Lstat(final); err == nil {
		return Result{}, fmt.Errorf("%s exists already: wait a second and run the backup again", final)
	}
	progress := o.Progress
	if progress == nil {
		progress = nopProgress{}
	}
	progress.Start("backup "+st.Name, stk.estimate(ctx))
	written, m, err := writeAtomic(final, func(f io.Writer) (archive.Manifest, error) {
		return stk.write(ctx, f, m, o.Recipients, progress)
	})
	progress.Done(err)
	if err != nil {
		return Result{}, err
	}
	res := Result{Path: final, Manifest: m, Written: written}
	if o.Keep > 0 {
		if res.Pruned, err = prune(o.Dir, st.Name, o.Keep, name); err != nil {
			return res, fmt.Errorf("the backup is written to %s, but pruning older ones failed: %w", final, err)
		}
	}
	return res, nil
}

// live is the running stack as a backup reads it: the containers that hold what the archive takes.
type live struct {
	r       stack.Runner
	e       Engine
	st      catalog.Stack
	pers    catalog.Persistence
	db      string
	mounts  map[string]string // volume → container ID
	entries []archive.Entry
}

func openLive(ctx context.Context, r stack.Runner, e Engine, st catalog.Stack, pers catalog.Persistence) (*live, error) {
	s := &live{r: r, e: e, st: st, pers: pers, mounts: map[string]string{}}
	if d := pers.Database; d != nil {
		id, err := r.Container(ctx, st, d.Service)
		if err != nil {
			return nil, err
		}
		s.db = id
		s.entries = append(s.entries, archive.Entry{Name: d.Volume + ".pgdump", Kind: archive.KindPostgres, Volume: d.Volume})
	}
	for _, mt := range pers.Mounts {
		if pers.Database != nil && mt.Volume == pers.Database.Volume {
			continue
		}
		id, err := r.Container(ctx, st, mt.Service)
		if err != nil {
			return nil, err
		}
		s.mounts[mt.Volume] = id
		s.entries = append(s.entries, archive.Entry{Name: mt.Volume + ".tar", Kind: archive.KindVolume, Volume: mt.Volume})
	}
	return s, nil
}

// versions reads the Redmine version from its image's environment (the official
// image's contract, honoured by the debian twin) and PostgreSQL's from the server.
func (s *live) versions(ctx context.Context) (redmine, postgres string, err error) {
	for _, mt := range s.pers.Mounts {
		id, ok := s.mounts[mt.Volume]
		if !ok {
			continue
		}
		image, err := s.e.ContainerImage(ctx, id)
		if err != nil {
			return "", "", err
		}
		env, _, err := s.e.ImageEnv(ctx, image)
		if err != nil {
			return "", "", err
		}
		if v := envValue(env, "REDMINE_VERSION"); v != "" {
			redmine = v
			break
		}
	}
	if d := s.pers.Database; d != nil {
		var out strings.Builder
		if err := s.e.Exec(ctx, s.db, []string{"psql", "-U", d.User, "-d", d.Name, "-tAc", "SHOW server_version"}, engine.ExecOptions{Stdout: &out}); err != nil {
			return "", "", fmt.Errorf("reading PostgreSQL's version: %w", err)
		}
		// "17.11 (Debian 17.11-0+deb13u1)": the number is what a restore compares.
		postgres, _, _ = strings.Cut(strings.TrimSpace(out.String()), " ")
	}
	return redmine, postgres, nil
}

// estimate is the size the backup will read, for the progress display; zero when unknown.
func (s *live) estimate(ctx context.Context) int64 {
	var total int64
	if d := s.pers.Database; d != nil {
		var out strings.Builder
		if s.e.Exec(ctx, s.db, []string{"psql", "-U", d.User, "-d", d.Name, "-tAc", "SELECT pg_database_size(current_database())"}, engine.ExecOptions{Stdout: &out}) == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
			total += n
		}
	}
	for _, mt := range s.pers.Mounts {
		id, ok := s.mounts[mt.Volume]
		if !ok {
			continue
		}
		var out strings.Builder
		if s.e.Exec(ctx, id, []string{"du", "-sb", mt.Target}, engine.ExecOptions{Stdout: &out}) == nil {
			n, _ := strconv.ParseInt(strings.Fields(out.String() + " 0")[0], 10, 64)
			total += n
		}
	}
	return total
}

// write streams every entry into an archive on f.
func (s *live) write(ctx context.Context, f io.Writer, m archive.Manifest, recipients []age.Recipient, progress Progress) (archive.Manifest, error) {
	dst := f
	var enc io.WriteCloser
	if len(recipients) > 0 {
		var err error
		if enc, err = age.Encrypt(f, recipients...); err != nil {
			return archive.Manifest{}, fmt.Errorf("encrypting: %w", err)
		}
		dst = enc
	}
	w, err := archive.NewWriter(dst, m)
	if err != nil {
		return archive.Manifest{}, err
	}
	for _, e := range m.Entries {
		if err := ctx.Err(); err != nil {
			return archive.Manifest{}, err
		}
		progress.Entry(e.Name)
		if err := s.add(ctx, w, e, progress); err != nil {
			return archive.Manifest{}, err
		}
	}
	m, err = w.Close()
	if err != nil {
		return archive.Manifest{}, err
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return archive.Manifest{}, fmt.Errorf("encrypting: %w", err)
		}
	}
	return m, nil
}

// add streams one entry from the stack into w.
func (s *live) add(ctx context.Context, w *archive.Writer, e archive.Entry, progress Progress) error {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The producer's error reaches Add as a read error.
		pw.CloseWithError(s.produce(ctx, e, pw))
	}()
	_, err := w.Add(e.Name, &counting{r: pr, p: progress})
	// A failed Add stops the producer too.
	pr.CloseWithError(err)
	<-done
	return err
}

// produce writes the content of entry e.
func (s *live) produce(ctx context.Context, e archive.Entry, out io.Writer) error {
	switch e.Kind {
	case archive.KindPostgres:
		d := s.pers.Database
		// -Fc is one consistent snapshot taken while Redmine serves; -Z0 leaves
		// compression to zstd, which does it better and faster.
		return s.e.Exec(ctx, s.db, []string{"pg_dump", "-Fc", "-Z0", "-U", d.User, "-d", d.Name}, engine.ExecOptions{Stdout: out})
	case archive.KindVolume:
		mt, _ := mountOf(s.pers, e.Volume)
		rc, err := s.e.CopyFrom(ctx, s.mounts[e.Volume], mt.Target)
		if err != nil {
			return err
		}
		defer rc.Close()
		return archive.Retar(out, rc, path.Base(mt.Target)+"/", "./", -1)
	}
	return fmt.Errorf("unknown kind %q", e.Kind)
}

// writeAtomic writes an archive with atomicfile.Write, so that an interrupted run
// never leaves a file that looks complete, and counts its bytes. The file is
// created 0600: it holds the whole tracker.
func writeAtomic(final string, write func(io.Writer) (archive.Manifest, error)) (int64, archive.Manifest, error) {
	var (
		n int64
		m archive.Manifest
	)
	err := atomicfile.Write(final, 0o600, func(w io.Writer) error {
		cw := &countingWriter{w: w}
		var err error
		m, err = write(cw)
		n = cw.n
		return err
	})
	if err != nil {
		return 0, archive.Manifest{}, err
	}
	return n, m, nil
}

// lockDir takes an exclusive lock on dir for one backup at a time, and clears the
// partial files that earlier, killed runs left: none of them can still be written.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".stackctl-backup.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another backup is writing to %s: wait for it to finish", dir)
	}
	if partial, _ := filepath.Glob(filepath.Join(dir, ".*"+archive.Suffix+"*.partial-*")); len(partial) > 0 {
		for _, p := range partial {
			os.Remove(p)
		}
	}
	return func() { f.Close() }, nil
}

// prune removes the stack's archives in dir beyond the keep newest, never keepName.
func prune(dir, stackName string, keep int, keepName string) ([]string, error) {
	names, err := Archives(dir, stackName)
	if err != nil {
		return nil, err
	}
	var removed []string
	for i := 0; i < len(names)-keep; i++ {
		if names[i] == keepName {
			continue
		}
		if err := os.Remove(filepath.Join(dir, names[i])); err != nil {
			return removed, err
		}
		removed = append(removed, filepath.Join(dir, names[i]))
	}
	return removed, nil
}

// Archives lists the file names of stackName's archives in dir, oldest first
// (their names carry the UTC time they were taken).
func Archives(dir, stackName string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range entries {
		if _, ok := ArchiveTime(de.Name(), stackName); ok && de.Type().IsRegular() {
			names = append(names, de.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// ArchiveTime is when the archive named name, of stack stackName, was
// taken, by its name; ok is false for a name that is not such an archive's.
func ArchiveTime(name, stackName string) (t time.Time, ok bool) {
	stack, t, ok := archive.ParseFileName(name)
	return t, ok && stack == stackName
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

type counting struct {
	r io.Reader
	p Progress
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.p.Add(int64(n))
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
