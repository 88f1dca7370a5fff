package backup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/termsafe"
	"github.com/stackctl/stackctl/internal/volume"
)

// A restored database takes more room than its dump: indexes, free space in
// pages, the write-ahead log of the one transaction, and the empty cluster a
// fresh PostgreSQL makes (about 40 MB) before a byte is restored.
const (
	dbGrowth = 2
	dbBase   = 64 << 20
)

// A restore leaves part of the room it finds free on each file system it
// writes to: the serving generation may share it, and its database and logs
// must go on writing. A twentieth of what was free when the restore began, at
// most 1 GiB.
func margin(free int64) int64 { return min(free/20, 1<<30) }

// dbWatch is how often the database's file system is measured while
// pg_restore writes into it.
const dbWatch = 2 * time.Second

// space is the room of the file system a volume of the new generation is on.
type space struct {
	// key is df's name for the file system.
	key          string
	free, margin int64
}

// left is what a restore may still write there.
func (s space) left() int64 { return max(s.free-s.margin, 0) }

// measure asks df, in container, how much room the volume mounted at dir
// (named name) has; its file system's margin is fixed when first measured.
func (rs *restore) measure(ctx context.Context, container, dir, name string) (space, error) {
	key, free, err := FreeSpace(ctx, rs.e, container, dir)
	if err != nil {
		return space{}, fmt.Errorf("asking how much room volume %s has: %w", name, err)
	}
	m, ok := rs.margins[key]
	if !ok {
		m = margin(free)
		if rs.margins == nil {
			rs.margins = map[string]int64{}
		}
		rs.margins[key] = m
	}
	return space{key: key, free: free, margin: m}, nil
}

// makeRoom is the way out of every refusal for want of room.
func makeRoom(stack string) string {
	return fmt.Sprintf("make room (remove old generations with 'stackctl prune %s', or what 'docker system df' shows), then restore again", stack)
}

// roomFor refuses, before a byte is written, a restore that would not fit
// where the new generation's volumes are: each volume is asked for its file
// system's free space from a container that mounts it (the database's own,
// the writer helper for the others), and what the restore puts on one file
// system, by the sizes the manifest records, must leave the margin free. An
// encrypted archive's sizes are known only once it is read: its entries count
// as empty here, and the bound refuses, as they are written, what does not
// fit (writeVolume, restoreDatabase).
func (rs *restore) roomFor(ctx context.Context, pers catalog.Persistence, w volumeWriter) error {
	type fsys struct {
		space
		need    int64
		volumes []string
	}
	all := map[string]*fsys{}
	entries, err := rs.planned(ctx)
	if err != nil {
		return err
	}
	for _, en := range entries {
		mt, ok := mountOf(pers, en.Volume)
		if !ok {
			continue
		}
		var container, dir string
		need := en.Size
		switch en.Kind {
		case archive.KindPostgres:
			id, err := rs.r.GenContainer(ctx, pers.Database.Service, rs.gen)
			if err != nil {
				return err
			}
			container, dir, need = id, mt.Target, en.Size*dbGrowth+dbBase
		case archive.KindVolume:
			if w == nil {
				continue
			}
			container, dir = w.ID(), path.Join(volume.MountRoot, en.Volume)
		default:
			continue
		}
		sp, err := rs.measure(ctx, container, dir, mt.Name)
		if err != nil {
			return err
		}
		f := all[sp.key]
		if f == nil {
			f = &fsys{space: sp}
			all[sp.key] = f
		}
		f.need += need
		f.volumes = append(f.volumes, mt.Name)
	}
	for _, key := range slices.Sorted(maps.Keys(all)) {
		f := all[key]
		if f.need > f.left() {
			return fmt.Errorf("%w: not enough room for generation %d of stack %s: volumes %s need about %s, and their file system (%s) has %s free, "+
				"of which a restore leaves %s for the serving generation: %s",
				ErrRefused, rs.gen, rs.st.Name, strings.Join(f.volumes, ", "), Bytes(f.need), key, Bytes(f.free), Bytes(f.margin), makeRoom(rs.st.Name))
		}
	}
	return nil
}

// volumeWriter writes the new generation's volumes: a *volume.Writer, whose
// helper container (ID) mounts them under volume.MountRoot.
type volumeWriter interface {
	ID() string
	WriteVolume(ctx context.Context, key string, content io.Reader, limit archive.Limit) error
}

// writeVolume writes volume key's tar stream through w within its bound: the
// content no larger than content (the manifest's size for it; -1: not known),
// nor more on disk than its file system has free, less the margin, measured
// just before. The member that would pass it is refused by its header, before a
// byte of it is written: the bound holds for an encrypted archive too, whose
// sizes are not known beforehand.
func (rs *restore) writeVolume(ctx context.Context, w volumeWriter, pers catalog.Persistence, key string, src io.Reader, content int64) error {
	mt, _ := mountOf(pers, key)
	sp, err := rs.measure(ctx, w.ID(), path.Join(volume.MountRoot, key), mt.Name)
	if err != nil {
		return err
	}
	err = w.WriteVolume(ctx, key, src, archive.Limit{Content: content, Disk: sp.left()})
	if room := (*archive.RoomError)(nil); errors.As(err, &room) {
		return fmt.Errorf("%w: %s: volume %s needs at least %s on disk with its member %s (%s), and its file system (%s) has %s free, "+
			"of which a restore leaves %s for the serving generation: %s",
			ErrRefused, rs.name, mt.Name, Bytes(room.Need), termsafe.String(room.Member), Bytes(room.Size), sp.key, Bytes(sp.free), Bytes(sp.margin), makeRoom(rs.st.Name))
	}
	if err != nil {
		return fmt.Errorf("restoring volume %s: %w", key, err)
	}
	return nil
}

// restoreDatabase runs restore (pg_restore in container, fed dump) within the
// room of the database's volume mt: the dump may be no larger than what its
// file system has free, less the margin, at dbGrowth; and while it runs the
// file system is measured every dbWatch, restore stopped once less than the
// margin is left, since a dump declares no size for what it makes (its
// indexes may take more than dbGrowth).
func (rs *restore) restoreDatabase(ctx context.Context, container string, mt catalog.Mount, dump io.Reader, restore func(context.Context, io.Reader) error) error {
	sp, err := rs.measure(ctx, container, mt.Target, mt.Name)
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	limit := sp.left() / dbGrowth
	in := &capped{r: dump, left: limit, over: func() error {
		err := fmt.Errorf("%w: %s: the database needs more room than volume %s has: its dump passes %s, which restored takes about %s or more, "+
			"and its file system (%s) has %s free, of which a restore leaves %s for the serving generation: %s",
			ErrRefused, rs.name, mt.Name, Bytes(limit), Bytes(limit*dbGrowth), sp.key, Bytes(sp.free), Bytes(sp.margin), makeRoom(rs.st.Name))
		stop(err)
		return err
	}}
	var watching sync.WaitGroup
	watching.Go(func() {
		tick := time.NewTicker(cmp.Or(rs.dbWatch, dbWatch))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// A df that fails says nothing of the room: pg_restore's own end will.
			if _, free, err := FreeSpace(ctx, rs.e, container, mt.Target); err == nil && free < sp.margin {
				stop(fmt.Errorf("%w: %s: the database needs more room than volume %s has: as it was restored, its file system (%s) went from %s free to %s, "+
					"less than the %s a restore leaves for the serving generation: %s",
					ErrRefused, rs.name, mt.Name, sp.key, Bytes(sp.free), Bytes(free), Bytes(sp.margin), makeRoom(rs.st.Name)))
				return
			}
		}
	})
	err = restore(ctx, in)
	// A refusal stopped it: that is what failed, not its cut-off input.
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrRefused) {
		err = cause
	}
	stop(nil)
	watching.Wait()
	return err
}

// capped reads r until more than left bytes would come, then fails with
// over's error, without them.
type capped struct {
	r    io.Reader
	left int64
	over func() error
	err  error
}

func (c *capped) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		c.err = c.over()
		return 0, c.err
	}
	c.left -= int64(n)
	return n, err
}

// planned lists what the new generation gets, with sizes: the archive's
// entries it restores (as its manifest records them, or empty when it could
// not be read from the end), and the active generation's volumes it copies
// (their size on disk; the database's counted as its dump would be, a little
// over).
func (rs *restore) planned(ctx context.Context) ([]archive.Entry, error) {
	var out []archive.Entry
	src := rs.sizes.Entries
	if src == nil && rs.ar != nil {
		src = rs.m.Entries
	}
	for _, en := range src {
		if len(rs.only) == 0 || slices.Contains(rs.only, en.Volume) {
			out = append(out, en)
		}
	}
	if len(rs.copied) == 0 {
		return out, nil
	}
	active, err := rs.r.Persistence(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, v := range rs.copied {
		mt, _ := mountOf(active, v)
		names = append(names, mt.Name)
	}
	usage, err := rs.e.VolumeUsage(ctx, rs.image, names)
	if err != nil {
		return nil, err
	}
	for _, v := range rs.copied {
		mt, _ := mountOf(active, v)
		kind := archive.KindVolume
		if active.Database != nil && v == active.Database.Volume {
			kind = archive.KindPostgres
		}
		out = append(out, archive.Entry{Name: v, Kind: kind, Volume: v, Size: usage[mt.Name].Bytes})
	}
	return out, nil
}

// FreeSpace asks df, in container, about the file system holding dir: a key
// naming that file system (its source and size), and the bytes free there.
func FreeSpace(ctx context.Context, e *engine.Engine, container, dir string) (string, int64, error) {
	var out strings.Builder
	if err := e.Exec(ctx, container, []string{"df", "-Pk", dir}, engine.ExecOptions{Stdout: &out}); err != nil {
		return "", 0, err
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(lines) < 2 || len(f) < 6 {
		return "", 0, fmt.Errorf("df printed %q", out.String())
	}
	avail, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("df printed %q", out.String())
	}
	return f[0] + " of " + f[1] + " KiB", avail << 10, nil
}
