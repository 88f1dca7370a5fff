package backup

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/stack"
	"github.com/stackctl/stackctl/internal/volume"
)

// A restored database takes more room than its dump: indexes, free space in
// pages, the write-ahead log of the one transaction, and the empty cluster a
// fresh PostgreSQL makes (about 40 MB) before a byte is restored.
const (
	dbGrowth = 2
	dbBase   = 64 << 20
)

// roomFor refuses, before a byte is written, an archive that would not fit
// where the new generation's volumes are, by the sizes its manifest records: each volume is asked for its file
// system's free space from a container that mounts it (the database's own, the
// writer helper for the others), and what the archive puts on one file system
// is added up.
func (rs *restore) roomFor(ctx context.Context, p stack.Prepared, w *volume.Writer) error {
	if rs.ar != nil && rs.sizes.Entries == nil {
		rs.r.Report.Warnf("stack %s: %s: its manifest cannot be read from its end (encrypted, or cut short): its sizes are not known, so no room check; too little room fails the restore, which removes generation %d",
			rs.st.Name, rs.name, p.Gen)
		return nil
	}
	pers := p.Persistence()
	type fsys struct {
		free, need int64
		volumes    []string
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
			id, err := rs.r.GenContainer(ctx, pers.Database.Service, p.Gen)
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
		key, free, err := FreeSpace(ctx, rs.e, container, dir)
		if err != nil {
			return fmt.Errorf("asking how much room volume %s has: %w", mt.Name, err)
		}
		f := all[key]
		if f == nil {
			f = &fsys{free: free}
			all[key] = f
		}
		f.need += need
		f.volumes = append(f.volumes, mt.Name)
	}
	for _, key := range slices.Sorted(maps.Keys(all)) {
		f := all[key]
		if f.need > f.free {
			return fmt.Errorf("%w: not enough room for generation %d of stack %s: volumes %s need about %s, and their file system (%s) has %s free: "+
				"make room (remove old generations with 'stackctl prune %s', or what 'docker system df' shows), then restore again",
				ErrRefused, p.Gen, rs.st.Name, strings.Join(f.volumes, ", "), Bytes(f.need), key, Bytes(f.free), rs.st.Name)
		}
	}
	return nil
}

// planned lists what the new generation gets, with sizes: the archive's
// entries it restores, and the active generation's volumes it copies (their
// size on disk; the database's counted as its dump would be, a little over).
func (rs *restore) planned(ctx context.Context) ([]archive.Entry, error) {
	var out []archive.Entry
	for _, en := range rs.sizes.Entries {
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
