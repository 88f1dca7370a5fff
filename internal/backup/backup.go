package backup

import (
	"context"
	"errors"
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

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/retention"
	"github.com/stackctl/stackctl/internal/signing"
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
	// Target receives the archive: a local directory (see LocalTarget), a
	// directory on an SFTP server, or an S3 bucket. The caller closes it.
	Target offsite.Target
	// Keep is the retention policy applied to the stack's archives on Target
	// once the backup is written; an empty policy keeps them all.
	Keep retention.Policy
	// Recipients, when any, encrypt the archive to them.
	Recipients []age.Recipient
	// Key signs the archive (see internal/signing); required.
	Key *signing.Key
	// Progress reports bytes read from the stack; nil for none.
	Progress Progress
	// TestRestore, when set, proves that the new archive restores (issue 18's
	// --test-restore): Backup calls it once the archive and its sidecar are on
	// Target, records what it returns in the sidecar, and applies Keep only
	// when the test passed: an archive that does not restore must not cost
	// an older one that may. It reports a test it could not run as failed.
	TestRestore func(ctx context.Context, t offsite.Target, name string) RestoreTest
}

// Result is what a backup wrote.
type Result struct {
	// Name is the archive's name on the target (see offsite.ArchiveLocation).
	Name     string
	Manifest archive.Manifest
	// Written and SHA256 are the archive's size and checksum, as the target holds it.
	Written int64
	SHA256  string
	// RestoreTest is what Options.TestRestore found; nil when it was not set.
	RestoreTest *RestoreTest
	// Pruned are the archives Keep removed, oldest first.
	Pruned []string
}

// Backup writes one archive of st's persistent state to o.Target while st
// keeps running: the database first, as a pg_dump snapshot, then every other
// named volume, so that every attachment the dump refers to is in the archive.
// The archive streams to the target, becoming final only once complete; its
// sidecar follows, then the retention policy. The target is checked before
// anything is read from the stack.
//
// One backup of a stack runs at a time on a host: the caller holds the
// stack's lock. A local directory is locked as well, for one backup at a time
// into it whatever the stack, which lets a backup clear at once what killed
// ones left there. A remote target has no lock of its own: SFTP and S3 offer
// none that a killed stackctl would not leave held, and none is needed, since
// names carry the stack and the second, a commit refuses to replace an
// archive, and what killed uploads left is swept once idle for an hour
// (offsite.DefaultIdle).
func Backup(ctx context.Context, s *stack.Stack, o Options) (Result, error) {
	if o.Key == nil {
		return Result{}, errors.New("backup: no key to sign the archive with")
	}
	r, e, err := s.Runner(ctx)
	if err != nil {
		return Result{}, err
	}
	return backup(ctx, r, e, s.Def, o)
}

// backup is Backup through r, reading the stack's data on e.
func backup(ctx context.Context, r stack.Runner, e Engine, st catalog.Stack, o Options) (Result, error) {
	if err := o.Target.Check(ctx); err != nil {
		return Result{}, err
	}
	pers, err := r.Persistence(ctx)
	if err != nil {
		return Result{}, err
	}
	if pers.Database == nil && len(pers.Mounts) == 0 {
		return Result{}, fmt.Errorf("%w: stack %s keeps no state: there is nothing to back up", errs.ErrInvalidInput, st.Name)
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
	if dir, ok := offsite.LocalDir(o.Target); ok {
		unlock, err := lockDir(dir)
		if err != nil {
			return Result{}, err
		}
		defer unlock()
	}

	name := archive.FileName(st.Name, m.Created, len(o.Recipients) > 0)
	up, err := o.Target.Create(ctx, name)
	if err != nil {
		return Result{}, err
	}
	defer up.Abort() // after Commit, it does nothing
	progress := o.Progress
	if progress == nil {
		progress = nopProgress{}
	}
	progress.Start("backup "+st.Name, stk.estimate(ctx))
	m, err = stk.write(ctx, up, m, o.Recipients, o.Key, progress)
	var c offsite.Committed
	if err == nil {
		c, err = up.Commit(ctx)
	}
	progress.Done(err)
	if err != nil {
		return Result{}, err
	}
	return finish(ctx, st.Name, o, newSidecar(m, c, len(o.Recipients) > 0))
}

// finish does what follows the commit of an archive, described by s (from
// newSidecar): its sidecar, its restore test, the retention policy. The
// archive is kept whatever fails here; the error says so.
func finish(ctx context.Context, stackName string, o Options, s Sidecar) (Result, error) {
	res := Result{Name: s.Archive, Manifest: *s.Manifest, Written: s.Size, SHA256: s.SHA256}
	at := offsite.Location{Target: o.Target, Name: s.Archive}
	if err := writeSidecar(ctx, o.Target, s); err != nil {
		return res, fmt.Errorf("the backup is written to %s, but its sidecar is not: %w", at, err)
	}
	if o.TestRestore != nil {
		rt := o.TestRestore(ctx, o.Target, s.Archive)
		if ctx.Err() != nil {
			// Interrupted, the test proved nothing either way: nothing is recorded.
			return res, fmt.Errorf("the backup is written to %s, but its restore test was interrupted: %w", at, ctx.Err())
		}
		res.RestoreTest = &rt
		if err := RecordRestoreTest(ctx, o.Target, s.Archive, rt); err != nil {
			return res, fmt.Errorf("the backup is written to %s, but: %w", at, err)
		}
		if !rt.Passed {
			return res, fmt.Errorf("the backup is written to %s, but its %w at %q: %s: no older backup was removed", at, ErrRestoreTest, rt.FailedStep, rt.Message)
		}
	}
	if o.Keep.Empty() {
		return res, nil
	}
	listed, err := List(ctx, o.Target, stackName)
	var plan retention.Plan
	if err == nil {
		plan, err = PlanRetention(listed, o.Keep)
	}
	if err == nil {
		res.Pruned, err = Prune(ctx, o.Target, plan, s.Archive)
	}
	if err != nil {
		return res, fmt.Errorf("the backup is written to %s, but pruning older ones failed: %w", at, err)
	}
	return res, nil
}

// LocalTarget is the local directory dir as a target, made when missing (0700:
// it will hold whole trackers), as the backup directory always was; a
// directory named as a target URL must exist instead (see offsite.Parse).
func LocalTarget(dir string) (offsite.Target, error) {
	if strings.Contains(dir, "://") {
		return nil, fmt.Errorf("%w: backup directory %s is a URL: name a directory", errs.ErrInvalidInput, dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	return offsite.Parse(dir)
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
		id, err := r.Container(ctx, d.Service)
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
		id, err := r.Container(ctx, mt.Service)
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
func (s *live) write(ctx context.Context, f io.Writer, m archive.Manifest, recipients []age.Recipient, key *signing.Key, progress Progress) (archive.Manifest, error) {
	dst := f
	var enc io.WriteCloser
	if len(recipients) > 0 {
		var err error
		if enc, err = age.Encrypt(f, recipients...); err != nil {
			return archive.Manifest{}, fmt.Errorf("encrypting: %w", err)
		}
		dst = enc
	}
	w, err := archive.NewWriter(dst, m, key)
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
		return archive.Retar(out, rc, path.Base(mt.Target)+"/", "./", archive.NoLimit)
	}
	return fmt.Errorf("unknown kind %q", e.Kind)
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

// counting reports the bytes read through it as progress.
type counting struct {
	r io.Reader
	p Progress
}

// countingSource is an archive on a target read through with its progress
// reported; what is read at its end (its manifest) is not counted.
type countingSource struct {
	offsite.Reader
	p Progress
}

func (c countingSource) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	c.p.Add(int64(n))
	return n, err
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.p.Add(int64(n))
	return n, err
}
