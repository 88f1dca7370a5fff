package backup

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/offsite"
	"github.com/stackctl/stackctl/internal/signing"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/state"
	"github.com/stackctl/stackctl/internal/termsafe"
	"github.com/stackctl/stackctl/internal/volume"
)

// RestoreOptions are the operator's choices for a restore.
type RestoreOptions struct {
	Identities []age.Identity
	// Trust is whose archives are restored (see internal/signing): an
	// archive claiming another signer is refused before anything is written,
	// and one whose signature fails at its end is not switched to.
	Trust *signing.Trust
	// Only names the volumes to restore from the archive; the stack's others are
	// copied from its active generation. Empty: every volume, from the archive.
	Only []string
	// Up carries the profile, mirror and timeout, as for up.
	Up       stack.UpOptions
	Progress Progress
	// FilesVolume is the shared storage a restore on a swarm writes the
	// files into, for a stack whose files are shared.
	FilesVolume map[string]string
}

// RestoreResult is what a restore brought back.
type RestoreResult struct {
	Manifest archive.Manifest
	URL      string
	// From was the active generation (0: none), Gen is the restored one, now active.
	From, Gen int
	// Switched says the stack kept serving throughout the restore.
	Switched bool
}

// Verify reads the archive at loc in full and checks it, its signature and
// its signer against o's trust, changing nothing; signer is who signed it
// (nil: unsigned, accepted only when o's trust says so).
func Verify(ctx context.Context, loc offsite.Location, o archive.ReadOptions, progress Progress) (m archive.Manifest, signer *signing.PublicKey, err error) {
	if progress == nil {
		progress = nopProgress{}
	}
	src, err := loc.Open(ctx)
	if err != nil {
		return archive.Manifest{}, nil, err
	}
	defer src.Close()
	progress.Start("verify "+loc.Name, src.Size())
	m, signer, err = archive.Verify(countingSource{Reader: src, p: progress}, o)
	if err == nil {
		err = verifyKinds(m)
	}
	progress.Done(err)
	return m, signer, err
}

// verifyKinds refuses, as damaged, an archive whose entries a restore would
// refuse for their kinds (kindsMatch): the database's volume is known from
// the stack the manifest names, when stackctl knows it (a restore refuses
// another stack's archive anyway).
func verifyKinds(m archive.Manifest) error {
	db := ""
	st, err := catalog.LookupStack(m.Stack)
	if err == nil && st.Database != nil {
		db = st.Database.Volume
	}
	if err := kindsMatch(m, db, err == nil); err != nil {
		return fmt.Errorf("%w: %v", archive.ErrDamaged, err)
	}
	return nil
}

// Restore brings st back to the state in the archive at loc, as a new
// generation beside the active one, which keeps serving until the switch and
// stays afterwards (reachable by 'stackctl rollback'): nothing is destroyed.
// From the archive's header it refuses, changing nothing, an archive of
// another stack or one that lacks some of the stack's volumes; the runner then
// makes the generation with the archive as its seed, which refuses data from a
// newer Redmine or PostgreSQL than the images and too little room, and reads
// the archive once, checking it as it writes.
//
// On a swarm the new generation is made on the stack's data node and then
// deployed (stack.Stack.NewGeneration); --only is refused there.
func Restore(ctx context.Context, s *stack.Stack, loc offsite.Location, o RestoreOptions) (RestoreResult, error) {
	if len(o.Only) > 0 && s.Where() == stack.OnSwarm {
		return RestoreResult{}, fmt.Errorf("%w: --only on a swarm: a restore there takes every volume from the archive", ErrRefused)
	}
	r, e, err := s.Runner(ctx)
	if err != nil {
		return RestoreResult{}, err
	}
	rs, err := openSeed(ctx, r, e, s.Def, loc, o)
	if err != nil {
		return RestoreResult{}, err
	}
	defer rs.close()
	res, err := s.NewGeneration(ctx, rs, state.MadeRestore, loc.String(), stack.GenOptions{Up: o.Up, FilesVolume: o.FilesVolume})
	if err != nil {
		return RestoreResult{}, err
	}
	return RestoreResult{Manifest: rs.m, URL: res.URL, From: res.From, Gen: res.Gen, Switched: res.Switched}, nil
}

// openSeed opens the archive at loc as the seed of a new generation of st,
// refusing, from its header and changing nothing, an archive of another
// stack or one that lacks some of the stack's volumes. One pass: the
// content is checked as it is written (each part's zstd checksum as it is
// read, each entry's SHA-256 and size against the manifest at the end), into
// a new generation that any failure removes. Nothing is read twice, so
// nothing can change between a check and a write. The caller closes it.
func openSeed(ctx context.Context, r stack.Runner, e *engine.Engine, st catalog.Stack, loc offsite.Location, o RestoreOptions) (rs *restore, err error) {
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	src, err := loc.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			src.Close()
		}
	}()
	ar, err := archive.Open(src, archive.ReadOptions{Identities: o.Identities, Trust: o.Trust})
	if err != nil {
		return nil, err
	}
	m := ar.Header()
	// Sizes for the room check and the progress, from the signed manifest
	// Open read at the archive's end; an unsigned archive's is peeked at
	// (not known before it is read when it is encrypted too).
	sizes, known := ar.Expected()
	if !known {
		sizes, known = archive.PeekManifest(src, src.Size())
	}
	if !known || !sameEntries(m, sizes) {
		sizes = archive.Manifest{}
	}
	copied, err := refuse(ctx, r, st, loc.String(), m, o.Only)
	if err != nil {
		ar.Close()
		return nil, err
	}
	return &restore{e: e, r: r, st: st, name: loc.String(), size: src.Size(), ar: ar, m: m, sizes: sizes, only: o.Only, copied: copied, progress: o.Progress, file: src}, nil
}

// sameEntries says whether the manifests a and b plan the same entries of the same stack.
func sameEntries(a, b archive.Manifest) bool {
	if a.Stack != b.Stack || len(a.Entries) != len(b.Entries) {
		return false
	}
	for i := range a.Entries {
		if a.Entries[i].Name != b.Entries[i].Name || a.Entries[i].Volume != b.Entries[i].Volume {
			return false
		}
	}
	return true
}

// HasData says whether st has data a restore would leave behind the new
// generation: a confirmation is asked for then.
func HasData(ctx context.Context, s *stack.Stack) (bool, error) {
	r, _, err := s.Runner(ctx)
	if err != nil {
		return false, err
	}
	return hasData(ctx, r, s.Def)
}

// hasData is HasData through r.
func hasData(ctx context.Context, r stack.Runner, st catalog.Stack) (bool, error) {
	pers, err := r.Persistence(ctx)
	if err != nil {
		return false, err
	}
	for _, mt := range pers.Mounts {
		found, err := r.Engine.VolumeExists(ctx, mt.Name)
		if err != nil || found {
			return found, err
		}
	}
	return false, nil
}

// refuse fails with ErrRefused when the archive m cannot go into st: another
// stack's, or one without every volume of the stack.
func refuse(ctx context.Context, r stack.Runner, st catalog.Stack, file string, m archive.Manifest, only []string) (copied []string, err error) {
	if m.Stack != st.Name {
		return nil, fmt.Errorf("%w: %s is a backup of stack %s, not %s", ErrRefused, file, termsafe.String(m.Stack), st.Name)
	}
	pers, err := r.Persistence(ctx)
	if err != nil {
		return nil, err
	}
	if copied, err = refuseVolumes(st, file, m, only, pers); err != nil {
		return nil, err
	}
	if len(copied) > 0 {
		has, err := hasData(ctx, r, st)
		if err != nil {
			return nil, err
		}
		if !has {
			return nil, fmt.Errorf("%w: --only leaves %s to copy from the active generation, and stack %s has none: restore a whole backup",
				ErrRefused, strings.Join(copied, ", "), st.Name)
		}
		// The copies are read as a backup reads them: from the running containers.
		for _, v := range copied {
			mt, _ := mountOf(pers, v)
			svc := mt.Service
			if pers.Database != nil && v == pers.Database.Volume {
				svc = pers.Database.Service
			}
			if _, err := r.Container(ctx, svc); err != nil {
				return nil, fmt.Errorf("%w: --only copies %s from the active generation, which must be running: %v: start it with 'stackctl up %s'",
					ErrRefused, strings.Join(copied, ", "), err, st.Name)
			}
		}
	}
	return copied, nil
}

// refuseVolumes is refuse's decision from the volumes alone (pers, the
// stack's), which needs no engine: ErrRefused for an archive m that holds a
// volume the stack no longer has, or lacks one that --only does not leave to
// be copied; copied are those to copy from the active generation instead.
func refuseVolumes(st catalog.Stack, file string, m archive.Manifest, only []string, pers catalog.Persistence) (copied []string, err error) {
	db := ""
	if pers.Database != nil {
		db = pers.Database.Volume
	}
	if err := kindsMatch(m, db, true); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrRefused, file, err)
	}
	held := map[string]bool{}
	for _, en := range m.Entries {
		if _, ok := mountOf(pers, en.Volume); !ok {
			return nil, fmt.Errorf("%w: the archive holds volume %s, which stack %s no longer has", ErrRefused, termsafe.String(en.Volume), st.Name)
		}
		held[en.Volume] = true
	}
	for _, v := range only {
		if _, ok := mountOf(pers, v); !ok {
			return nil, fmt.Errorf("%w: --only %s: stack %s has no such volume: it has %s", errs.ErrInvalidInput, v, st.Name, strings.Join(volumesOf(pers), ", "))
		}
		if !held[v] {
			return nil, fmt.Errorf("%w: --only %s: %s holds no %s: it holds %s", ErrRefused, v, file, v, strings.Join(heldOf(m), ", "))
		}
	}
	// A generation is made whole: a volume neither in the archive nor copied
	// would come back empty.
	for _, mt := range pers.Mounts {
		switch {
		case len(only) > 0 && !slices.Contains(only, mt.Volume):
			copied = append(copied, mt.Volume)
		case !held[mt.Volume]:
			return nil, fmt.Errorf("%w: %s holds no %s: the restored generation of stack %s would have an empty %s: "+
				"restore what it holds with --only %s (the rest is copied from the active generation), or restore a whole backup",
				ErrRefused, file, mt.Volume, st.Name, mt.Volume, strings.Join(heldOf(m), " "))
		}
	}
	return copied, nil
}

func volumesOf(p catalog.Persistence) []string {
	var out []string
	for _, mt := range p.Mounts {
		out = append(out, mt.Volume)
	}
	return out
}

// heldOf is the volumes the archive m holds, for a message: escaped, since
// the manifest says them.
func heldOf(m archive.Manifest) []string {
	var out []string
	for _, en := range m.Entries {
		out = append(out, termsafe.String(en.Volume))
	}
	return out
}

// restore is the archive as the seed of a stack's start-up: the runner calls
// Check once the images are built, Begin once the volumes are created, and
// Fill once PostgreSQL alone is healthy.
type restore struct {
	e  *engine.Engine
	r  stack.Runner
	st catalog.Stack
	// name and size are the archive file's, ar reads it; a copy of the
	// active generation (Copy) has no archive: name says so, ar is nil.
	name string
	size int64
	ar   *archive.Reader
	// m is the archive's header: the entries it plans, without sizes; sizes
	// is the manifest peeked at its end, with them, or empty when not known.
	m, sizes archive.Manifest
	// only are the volumes taken from the archive (empty: all), copied those
	// copied from the active generation instead.
	only, copied []string
	// progress shows the pass.
	progress Progress
	// copy says it copies the active generation whole (Copy): no archive.
	copy bool
	// writer is the helper that writes the volumes, started by Begin.
	writer *pendingWriter
	// gen is the generation being filled, image the one its helpers run.
	gen   int
	image string
	// file is the archive's, closed with the seed (close).
	file io.Closer
	// margins are what the restore leaves free on each file system it writes
	// to, by df's name for it, fixed when it is first measured (see measure).
	margins map[string]int64
	// dbWatch is how often the database's file system is measured while it
	// is restored (0: every dbWatch).
	dbWatch time.Duration
}

// close ends the seed's pass (End) and closes its archive.
func (rs *restore) close() {
	rs.End()
	if rs.ar != nil {
		rs.ar.Close()
	}
	if rs.file != nil {
		rs.file.Close()
	}
}

var _ stack.Copier = (*restore)(nil)

// CopiesActive says the seed is a copy of the active generation alone.
func (rs *restore) CopiesActive() bool { return rs.copy }

// Check refuses data from a newer Redmine or PostgreSQL than the images would
// run: neither can take a database schema from its future.
func (rs *restore) Check(ctx context.Context, p stack.Prepared) error {
	m := rs.m
	for _, svc := range p.Project.Services {
		env, found, err := rs.e.ImageEnv(ctx, svc.Image)
		if err != nil || !found {
			continue
		}
		if v := envValue(env, "REDMINE_VERSION"); v != "" && m.RedmineVersion != "" && newer(m.RedmineVersion, v) {
			return fmt.Errorf("%w: %s is from Redmine %s, newer than the %s in image %s: "+
				"Redmine cannot migrate a database down; restore it on an image of Redmine %s or later",
				ErrRefused, rs.what(), termsafe.String(m.RedmineVersion), v, svc.Image, termsafe.String(m.RedmineVersion))
		}
		if v := envValue(env, "PG_MAJOR"); v != "" && m.PostgresVersion != "" && newer(major(m.PostgresVersion), v) {
			return fmt.Errorf("%w: %s is from PostgreSQL %s, newer than the %s in image %s: restore it on PostgreSQL %s or later",
				ErrRefused, rs.what(), termsafe.String(m.PostgresVersion), v, svc.Image, termsafe.String(major(m.PostgresVersion)))
		}
	}
	return nil
}

// what names the data being restored, for messages.
func (rs *restore) what() string {
	if rs.ar == nil {
		return "the data of " + rs.name
	}
	return "the archive"
}

// Begin starts, in the background, the helper that writes the archive's
// volumes (it takes as long as PostgreSQL's start, which it overlaps): from the
// image of the service that mounts the first of them, with all of them mounted.
func (rs *restore) Begin(ctx context.Context, p stack.Prepared) error {
	rs.gen = p.Gen
	pers := p.Persistence()
	volumes := map[string]string{}
	image := ""
	for _, mt := range pers.Mounts {
		if pers.Database != nil && mt.Volume == pers.Database.Volume {
			continue
		}
		volumes[mt.Volume] = mt.Name
		if image == "" {
			image = p.Project.Services[p.Service(mt.Service)].Image
		}
	}
	rs.image = image
	rs.writer = &pendingWriter{done: make(chan struct{})}
	if len(volumes) == 0 {
		close(rs.writer.done)
		return nil
	}
	go func() {
		defer close(rs.writer.done)
		rs.writer.w, rs.writer.err = volume.StartWriter(ctx, rs.e, image, volumes, rs.st.Name, volume.Options{})
	}()
	return nil
}

// Fill reads the archive and puts every entry back, each within the room
// its volume has: the database through pg_restore in its container, volumes
// through the helper, which is gone when Fill returns: the stack must not
// start beside it.
func (rs *restore) Fill(ctx context.Context, p stack.Prepared) error {
	w, err := rs.writer.wait()
	if err != nil {
		return err
	}
	var vw volumeWriter
	if w != nil {
		vw = w
	}
	pers := p.Persistence()
	if err := rs.roomFor(ctx, pers, vw); err != nil {
		return err
	}
	if err := rs.entries(ctx, pers, vw); err != nil {
		return err
	}
	if w != nil {
		return w.Close()
	}
	return nil
}

// End removes the helper, once Fill returned or the generation failed: before
// the runner removes the generation's volumes, which it holds.
func (rs *restore) End() {
	if rs.writer == nil {
		return
	}
	if w, _ := rs.writer.wait(); w != nil {
		w.Close()
	}
}

// entries restores every entry of the archive, checking each as it goes; the
// reader checks sizes and SHA-256 against the manifest when it reaches it, last:
// an archive that fails then has been written into the new generation, which
// the caller removes.
func (rs *restore) entries(ctx context.Context, pers catalog.Persistence, w volumeWriter) (rerr error) {
	ar := rs.ar
	progress := rs.progress
	progress.Start("restore "+rs.st.Name, cmp.Or(rs.sizes.Size(), rs.size))
	defer func() { progress.Done(rerr) }()
	for ar != nil {
		en, err := ar.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if len(rs.only) > 0 && !slices.Contains(rs.only, en.Volume) {
			continue // read on by Next, and checked all the same
		}
		progress.Entry(en.Name)
		src := &counting{r: ar, p: progress}
		switch en.Kind {
		case archive.KindPostgres:
			err = rs.database(ctx, pers, src)
		case archive.KindVolume:
			// The peeked size bounds the content too, when known; sparse members
			// are refused, so a tar cannot expand past its bytes.
			content := int64(-1)
			if rs.sizes.Entries != nil {
				content = rs.sizes.EntrySize(en.Name)
			}
			err = rs.writeVolume(ctx, w, pers, en.Volume, src, content)
		}
		if err != nil {
			return err
		}
	}
	return rs.copyActive(ctx, pers, w, progress)
}

// copyActive copies the volumes --only left out from the active generation
// into the new one, as a backup reads them: the database as a pg_dump
// snapshot, the others as tar streams through the engine's archive API.
func (rs *restore) copyActive(ctx context.Context, pers catalog.Persistence, w volumeWriter, progress Progress) error {
	if len(rs.copied) == 0 {
		return nil
	}
	active, err := rs.r.Persistence(ctx)
	if err != nil {
		return err
	}
	src, err := openLive(ctx, rs.r, rs.e, rs.st, active)
	if err != nil {
		return err
	}
	for _, en := range src.entries {
		if !slices.Contains(rs.copied, en.Volume) {
			continue
		}
		progress.Entry("copy of " + en.Volume + " from the active generation")
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(src.produce(ctx, en, pw))
		}()
		in := &counting{r: pr, p: progress}
		switch en.Kind {
		case archive.KindPostgres:
			err = rs.database(ctx, pers, in)
		case archive.KindVolume:
			err = rs.writeVolume(ctx, w, pers, en.Volume, in, -1)
		}
		pr.CloseWithError(err)
		<-done
		if err != nil {
			return fmt.Errorf("copying %s from the active generation: %w", en.Volume, err)
		}
	}
	return nil
}

// database restores a pg_dump into the stack's fresh PostgreSQL, in one
// transaction (a failed restore leaves the database empty, not half full),
// within the room its volume has. Its table of contents is checked first
// (checkTOC), and it runs as the stack's role, which owns the database and is
// no superuser: what a dump's SQL may do is what Redmine may do. Objects are
// made the role's, and the dump's own owners and grants are left out.
func (rs *restore) database(ctx context.Context, pers catalog.Persistence, dump io.Reader) error {
	d := pers.Database
	id, err := rs.r.GenContainer(ctx, d.Service, rs.gen)
	if err != nil {
		return err
	}
	mt, _ := mountOf(pers, d.Volume)
	cmd := []string{"pg_restore", "-U", d.User, "-d", d.Name, "--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges"}
	return rs.restoreDatabase(ctx, id, mt, dump, func(ctx context.Context, in io.Reader) error {
		head, err := rs.checkTOC(ctx, id, in)
		if err != nil {
			return err
		}
		in = io.MultiReader(bytes.NewReader(head), in)
		if err := rs.e.Exec(ctx, id, cmd, engine.ExecOptions{Stdin: in}); err != nil {
			return fmt.Errorf("restoring the database: %w", err)
		}
		return nil
	})
}

// pendingWriter is a volume writer being started in the background.
type pendingWriter struct {
	done chan struct{}
	w    *volume.Writer
	err  error
}

// wait returns the started writer (nil when the archive holds no volume), as
// often as it is called.
func (p *pendingWriter) wait() (*volume.Writer, error) {
	<-p.done
	return p.w, p.err
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

func mountOf(p catalog.Persistence, volume string) (catalog.Mount, bool) {
	for _, mt := range p.Mounts {
		if mt.Volume == volume {
			return mt, true
		}
	}
	return catalog.Mount{}, false
}
