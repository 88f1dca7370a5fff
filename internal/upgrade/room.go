package upgrade

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/stackctl/stackctl/internal/backup"
)

// A database copied by dump and restore takes about twice its size while the
// restore runs (see the restore's own check), plus a fresh cluster's files.
const (
	dbGrowth = 2
	dbBase   = 64 << 20
)

// checkRoom refuses an upgrade that would run out of room: the new
// generation's copy of every volume where the engine keeps volumes (asked of
// the active database's container), and the pre-upgrade backup in the backup
// directory (at most what it archives: zstd only makes it smaller). The copy
// checks again, volume by volume, before it writes.
func (u *upgrade) checkRoom(ctx context.Context) error {
	rec, err := u.r.State.Load(u.st.Name)
	if err != nil {
		return err
	}
	pers, err := u.r.Persistence(ctx)
	if err != nil {
		return err
	}
	var names []string
	for _, mt := range pers.Mounts {
		names = append(names, mt.Name)
	}
	usage, err := u.e.VolumeUsage(ctx, u.st.ImageRef(rec.Profile, rec.ReleaseOf(rec.Active)), names)
	if err != nil {
		return fmt.Errorf("measuring stack %s's volumes: %w", u.st.Name, err)
	}
	var data, copy int64
	for _, mt := range pers.Mounts {
		n := usage[mt.Name].Bytes
		data += n
		if pers.Database != nil && mt.Volume == pers.Database.Volume {
			n = n*dbGrowth + dbBase
		}
		copy += n
	}
	db, err := u.r.Container(ctx, pers.Database.Service)
	if err != nil {
		return err
	}
	mt := pers.Mounts[0]
	for _, m := range pers.Mounts {
		if m.Volume == pers.Database.Volume {
			mt = m
		}
	}
	_, free, err := backup.FreeSpace(ctx, u.e, db, mt.Target)
	if err != nil {
		return fmt.Errorf("asking how much room volume %s has: %w", mt.Name, err)
	}
	if copy > free {
		return fmt.Errorf("%w: not enough room for the new generation of stack %s: its copy needs about %s where the engine keeps volumes, which has %s free: "+
			"make room (remove old generations with 'stackctl prune %s'), then upgrade again", ErrRefused, u.st.Name, backup.Bytes(copy), backup.Bytes(free), u.st.Name)
	}
	dir := filepath.Join(u.o.BackupDir, "pre-upgrade")
	if free, ok := statfsFree(dir); ok && data > free {
		return fmt.Errorf("%w: not enough room for the pre-upgrade backup in %s: it takes up to %s, and there are %s free: make room there, or give another --backup-dir",
			ErrRefused, dir, backup.Bytes(data), backup.Bytes(free))
	}
	return nil
}

// statfsFree is the room free on the file system that holds dir, or the
// nearest of its parents that exists; ok is false when none can be asked.
func statfsFree(dir string) (int64, bool) {
	for d := dir; ; d = filepath.Dir(d) {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(d, &fs); err == nil {
			return int64(fs.Bavail) * fs.Bsize, true
		} else if !os.IsNotExist(err) || d == filepath.Dir(d) {
			return 0, false
		}
	}
}
