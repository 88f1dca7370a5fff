package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"filippo.io/age"
	"github.com/stackctl/stackctl/internal/stack"
)

// RestoreOptions are the operator's choices for a restore.
type RestoreOptions struct {
	// Force replaces a stack that has data; without it such a restore is refused.
	Force      bool
	Identities []age.Identity
	// Up carries the profile, mirror and timeout, as for up.
	Up       stack.UpOptions
	Progress Progress
}

// RestoreResult is what a restore brought back.
type RestoreResult struct {
	Manifest Manifest
	URL      string
	// Replaced lists the volumes that held data before, with --force.
	Replaced []string
}

// VerifyFile reads the archive at path in full and checks it, changing nothing.
func VerifyFile(path string, identities []age.Identity, progress Progress) (Manifest, error) {
	f, err := openArchive(path)
	if err != nil {
		return Manifest{}, err
	}
	defer f.Close()
	return verifyOpen(f, identities, progress)
}

// openArchive opens an archive to read; a missing one is stack.ErrNotFound.
func openArchive(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", stack.ErrNotFound, err)
	}
	return f, nil
}

// verifyOpen verifies the archive open as f, from its start.
func verifyOpen(f *os.File, identities []age.Identity, progress Progress) (Manifest, error) {
	if progress == nil {
		progress = nopProgress{}
	}
	fi, err := f.Stat()
	if err != nil {
		return Manifest{}, err
	}
	progress.Start("verify "+filepath.Base(f.Name()), fi.Size())
	m, err := Verify(&counting{r: f, p: progress}, identities...)
	progress.Done(err)
	return m, err
}

// Restore brings st back to the state in the archive at file: it verifies the
// whole archive, refuses (changing nothing) an archive of another stack, of a
// newer Redmine or PostgreSQL than the images it would run on, or a stack that
// holds data unless forced; then replaces the stack's volumes, restores the
// database into a fresh PostgreSQL, starts everything and waits for health.
func Restore(ctx context.Context, r stack.Runner, e Engine, st stack.Stack, file string, o RestoreOptions) (RestoreResult, error) {
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	// One open file for both passes: the archive verified is the archive restored,
	// even if its path is pruned or replaced in between (a nightly --keep, say).
	f, err := openArchive(file)
	if err != nil {
		return RestoreResult{}, err
	}
	defer f.Close()
	m, err := verifyOpen(f, o.Identities, o.Progress)
	if err != nil {
		return RestoreResult{}, err
	}
	if m.Stack != st.Name {
		return RestoreResult{}, fmt.Errorf("%w: %s is a backup of stack %s, not %s", ErrRefused, file, m.Stack, st.Name)
	}
	pers, _, err := r.Persistence(ctx, st)
	if err != nil {
		return RestoreResult{}, err
	}
	for _, en := range m.Entries {
		if _, ok := mountOf(pers, en.Volume); !ok {
			return RestoreResult{}, fmt.Errorf("%w: the archive holds volume %s, which stack %s no longer has", ErrRefused, en.Volume, st.Name)
		}
	}
	var existing []string
	for _, mt := range pers.Mounts {
		found, err := e.VolumeExists(ctx, mt.Name)
		if err != nil {
			return RestoreResult{}, err
		}
		if found {
			existing = append(existing, mt.Name)
		}
	}
	if len(existing) > 0 && !o.Force {
		return RestoreResult{}, fmt.Errorf("%w: stack %s has data: volumes %s exist; a restore replaces them: "+
			"back them up first ('stackctl backup-volumes %s'), then re-run with --force, or remove them with 'stackctl down -v %s'",
			ErrRefused, st.Name, strings.Join(existing, ", "), st.Name, st.Name)
	}

	// Build (or find) the images first: their versions decide whether the data can go back.
	prep, err := r.Build(ctx, st, o.Up)
	if err != nil {
		return RestoreResult{}, err
	}
	if err := checkVersions(ctx, e, prep, m); err != nil {
		return RestoreResult{}, err
	}
	if len(existing) > 0 {
		if err := r.Down(ctx, st, true); err != nil {
			return RestoreResult{}, err
		}
		// Down forgets the recorded profile with the volumes; MarkConfigured records it again.
	}
	if err := r.Create(ctx, prep); err != nil {
		return RestoreResult{}, err
	}
	pers = stack.PersistenceOf(st, prep.Project)
	// The helper that writes the volumes starts while PostgreSQL does: both take a while.
	helper := startExtractor(ctx, e, st, prep, pers, m)
	defer func() {
		if x, _ := helper.wait(); x != nil {
			x.Close()
		}
	}()
	if d := pers.Database; d != nil {
		// A fresh PostgreSQL initialises an empty database for the restore to fill.
		if err := r.Start(ctx, prep, o.Up.Timeout, d.Service); err != nil {
			return RestoreResult{}, err
		}
	}
	x, err := helper.wait()
	if err != nil {
		return RestoreResult{}, err
	}
	if err := restoreEntries(ctx, r, e, st, pers, x, f, m, o); err != nil {
		return RestoreResult{}, err
	}
	// The stack must not start beside a helper that still has its volumes open.
	if x != nil {
		if err := x.Close(); err != nil {
			return RestoreResult{}, err
		}
	}
	if err := r.Start(ctx, prep, o.Up.Timeout); err != nil {
		return RestoreResult{}, err
	}
	url, err := r.WaitEntry(ctx, prep, o.Up.Timeout)
	if err != nil {
		return RestoreResult{}, err
	}
	// The first-start configuration (admin password, default data) is in the
	// restored database already: up must not redo it.
	if err := r.MarkConfigured(st, prep); err != nil {
		return RestoreResult{}, err
	}
	return RestoreResult{Manifest: m, URL: url, Replaced: existing}, nil
}

// pendingExtractor is an extractor being started in the background.
type pendingExtractor struct {
	done chan struct{}
	x    *stack.Extractor
	err  error
}

// wait returns the started extractor (nil when the archive holds no volume), as
// often as it is called.
func (p *pendingExtractor) wait() (*stack.Extractor, error) {
	<-p.done
	return p.x, p.err
}

// startExtractor starts, in the background, the helper that writes the
// archive's volumes: from the image of the service that mounts the first of
// them (an image stackctl has just built or found), with all of them mounted.
func startExtractor(ctx context.Context, e Engine, st stack.Stack, prep stack.Prepared, pers stack.Persistence, m Manifest) *pendingExtractor {
	p := &pendingExtractor{done: make(chan struct{})}
	volumes := map[string]string{}
	image := ""
	for _, en := range m.Entries {
		if mt, ok := mountOf(pers, en.Volume); ok && en.Kind == KindVolume {
			volumes[en.Volume] = mt.Name
			if image == "" {
				image = prep.Project.Services[mt.Service].Image
			}
		}
	}
	if len(volumes) == 0 {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		p.x, p.err = e.StartExtractor(ctx, image, volumes, st.Name)
	}()
	return p
}

// restoreEntries reads the archive a second time and puts every entry back:
// the database through pg_restore in its container, volumes through x.
func restoreEntries(ctx context.Context, r stack.Runner, e Engine, st stack.Stack, pers stack.Persistence, x *stack.Extractor, f *os.File, m Manifest, o RestoreOptions) (rerr error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	ar, err := NewReader(f, o.Identities...)
	if err != nil {
		return err
	}
	defer ar.Close()
	ar.SkipChecksums()
	o.Progress.Start("restore "+st.Name, m.Size())
	defer func() { o.Progress.Done(rerr) }()
	for {
		en, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		o.Progress.Entry(en.Name)
		src := &counting{r: ar, p: o.Progress}
		switch en.Kind {
		case KindPostgres:
			d := pers.Database
			id, err := r.Container(ctx, st, d.Service)
			if err != nil {
				return err
			}
			// One transaction: a failed restore leaves the fresh database empty, not half full.
			cmd := []string{"pg_restore", "-U", d.User, "-d", d.Name, "--exit-on-error", "--single-transaction", "--no-owner"}
			if err := e.ExecStream(ctx, id, cmd, src, io.Discard); err != nil {
				return fmt.Errorf("restoring the database: %w", err)
			}
		case KindVolume:
			// The extractor has the volume mounted under its key: the members go
			// there, the volume's root ("./") included, so it gets its owner and mode.
			pr, pw := io.Pipe()
			done := make(chan struct{})
			go func() {
				defer close(done)
				pw.CloseWithError(retar(pw, src, "./", en.Volume+"/"))
			}()
			err = x.Extract(ctx, pr)
			pr.CloseWithError(err)
			// retar reads the archive: it must be done before the next entry, or the archive's close.
			<-done
			if err != nil {
				return fmt.Errorf("restoring volume %s: %w", en.Volume, err)
			}
		}
	}
	got, _ := ar.Manifest()
	if !equalJSON(got, m) {
		return fmt.Errorf("%w: %s changed while it was being restored", ErrDamaged, f.Name())
	}
	return nil
}

// checkVersions refuses data from a newer Redmine or PostgreSQL than the images
// would run: neither can take a database schema from its future.
func checkVersions(ctx context.Context, e Engine, prep stack.Prepared, m Manifest) error {
	for _, svc := range prep.Project.Services {
		env, found, err := e.ImageEnv(ctx, svc.Image)
		if err != nil || !found {
			continue
		}
		if v := envValue(env, "REDMINE_VERSION"); v != "" && m.RedmineVersion != "" && newer(m.RedmineVersion, v) {
			return fmt.Errorf("%w: the archive is from Redmine %s, newer than the %s in image %s: "+
				"Redmine cannot migrate a database down; restore it on an image of Redmine %s or later",
				ErrRefused, m.RedmineVersion, v, svc.Image, m.RedmineVersion)
		}
		if v := envValue(env, "PG_MAJOR"); v != "" && m.PostgresVersion != "" && newer(major(m.PostgresVersion), v) {
			return fmt.Errorf("%w: the archive is from PostgreSQL %s, newer than the %s in image %s: restore it on PostgreSQL %s or later",
				ErrRefused, m.PostgresVersion, v, svc.Image, major(m.PostgresVersion))
		}
	}
	return nil
}

func major(v string) string { s, _, _ := strings.Cut(v, "."); return s }

// newer says whether dotted version a is above b; parts that are not numbers compare as 0.
func newer(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(pa), len(pb)); i++ {
		x, y := num(pa, i), num(pb, i)
		if x != y {
			return x > y
		}
	}
	return false
}

func num(parts []string, i int) int {
	if i >= len(parts) {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimFunc(parts[i], func(r rune) bool { return r < '0' || r > '9' }))
	return n
}

func mountOf(p stack.Persistence, volume string) (stack.Mount, bool) {
	for _, mt := range p.Mounts {
		if mt.Volume == volume {
			return mt, true
		}
	}
	return stack.Mount{}, false
}
