package status

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/stackctl/stackctl/internal/backup"
	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
	"github.com/stackctl/stackctl/internal/patch"
	"github.com/stackctl/stackctl/internal/stack"
)

// Status is where a stack stands.
type Status struct {
	Stack   string          `json:"stack"`
	Profile catalog.Profile `json:"profile"`
	// Release is the release the active generation runs, Base what its images
	// build on: a Debian suite's packages, or pinned official tags.
	Release string   `json:"release"`
	Base    string   `json:"base"`
	Images  []string `json:"base_images"`
	// Running says the application answers; the versions are read from what runs.
	Running  bool   `json:"running"`
	Redmine  string `json:"redmine,omitempty"`
	Postgres string `json:"postgres,omitempty"`
	Ruby     string `json:"ruby,omitempty"`
	Rails    string `json:"rails,omitempty"`
	// Maintenance says the front answers with the maintenance page.
	Maintenance bool   `json:"maintenance"`
	URL         string `json:"url"`
	Generation  int    `json:"generation"`
	Generations int    `json:"generations"`
	// Upgrading is the upgrade a stopped stackctl left, if any (the next
	// changing command sorts it out).
	Upgrading  string  `json:"upgrading,omitempty"`
	LastBackup *Backup `json:"last_backup,omitempty"`
	Upgrades   []Offer `json:"upgrades"`
	// Updates are the fixes Debian has published since the images that run
	// were built (a debian stack that runs); UpdatesError says why they
	// could not be read (the mirror did not answer, say).
	Updates      *patch.Pending `json:"updates,omitempty"`
	UpdatesError string         `json:"updates_error,omitempty"`
}

// updatesBudget bounds what status spends reading the fixes pending: the
// mirror's indexes, the images' package lists.
const updatesBudget = 60 * time.Second

// Options are what Read needs beyond the stack.
type Options struct {
	// BackupDirs are where its archives may be, newest wins.
	BackupDirs []string
	// Updates are the options the fixes pending are read with; NoUpdates
	// leaves them out (no request to the mirror).
	Updates   patch.Options
	NoUpdates bool
}

// Backup is an archive of the stack, with its age.
type Backup struct {
	Path       string    `json:"path"`
	Taken      time.Time `json:"taken"`
	AgeSeconds int64     `json:"age_seconds"`
}

// Offer is an upgrade the bases or pinned tags offer.
type Offer struct {
	Redmine  string `json:"redmine"`
	Postgres int    `json:"postgres"`
	Release  string `json:"release"`
	// Built says its debian bases are built already (upstream: its images
	// are present); otherwise the upgrade builds or pulls them first.
	Built   bool   `json:"built"`
	Command string `json:"command"`
}

// Read reads st's status.
func Read(ctx context.Context, sk *stack.Stack, o Options, now time.Time) (Status, error) {
	r, err := sk.OnEngine(ctx, stack.VerbStatus)
	if err != nil {
		return Status{}, err
	}
	e, _ := r.Engine.(*engine.Engine)
	st := sk.Def
	rec, err := r.State.Load(st.Name)
	if err != nil {
		return Status{}, err
	}
	if rec.Profile == "" {
		return Status{}, fmt.Errorf("%w: stack %s was never started: start it with 'stackctl up %s'", errs.ErrNotRunning, st.Name, st.Name)
	}
	s := Status{Stack: st.Name, Profile: rec.Profile, Generation: rec.Active, Generations: len(rec.Generations), Upgrades: []Offer{}}
	front, err := r.Front()
	if err != nil {
		return Status{}, err
	}
	s.URL = front.Open
	rel, err := catalog.LookupRelease(rec.ReleaseOf(rec.Active))
	if err != nil {
		return Status{}, err
	}
	s.Release = rel.Name
	for _, b := range st.BasesFor(rel) {
		s.Images = append(s.Images, b.Ref(rec.Profile))
	}
	s.Base = "official images"
	if rec.Profile == catalog.ProfileDebian {
		s.Base = "Debian " + rel.Suite
	}
	if u := rec.Upgrade; u != nil {
		s.Upgrading = fmt.Sprintf("from %s to %s, stopped at step %q", u.FromVersion, u.ToVersion, u.Step)
	}
	if err := s.readRunning(ctx, r, e, st); err != nil {
		return Status{}, err
	}
	if s.LastBackup, err = lastBackup(st, o.BackupDirs, now); err != nil {
		return Status{}, err
	}
	if s.Running && rec.Profile == catalog.ProfileDebian && !o.NoUpdates {
		// The mirror's answer is for the operator's information: status
		// says why it has none rather than fail.
		cctx, cancel := context.WithTimeout(ctx, updatesBudget)
		defer cancel()
		if p, err := patch.Check(cctx, sk, o.Updates); err != nil {
			s.UpdatesError = err.Error()
		} else {
			s.Updates = &p
		}
	}
	if st.Releases {
		for _, next := range catalog.Releases() {
			if !next.Newer(rel) {
				continue
			}
			o := Offer{Redmine: next.Version(rec.Profile), Postgres: next.Postgres, Release: next.Name, Built: true,
				Command: fmt.Sprintf("stackctl upgrade %s --to %s", st.Name, next.Version(rec.Profile))}
			for _, b := range st.BasesFor(next) {
				if _, found, err := e.Image(ctx, b.Ref(rec.Profile)); err != nil {
					return Status{}, err
				} else if !found {
					o.Built = false
				}
			}
			s.Upgrades = append(s.Upgrades, o)
		}
	}
	return s, nil
}

var railsLock = regexp.MustCompile(`(?m)^    rails \(([^)]+)\)`)

// readRunning reads the versions from the running containers; a stack that
// does not run has none, and that is no error.
func (s *Status) readRunning(ctx context.Context, r stack.Runner, e *engine.Engine, st catalog.Stack) error {
	g := st.Generations
	if g == nil {
		return nil
	}
	app, err := r.Container(ctx, g.App)
	if errors.Is(err, errs.ErrNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	s.Running = true
	image, err := e.ContainerImage(ctx, app)
	if err != nil {
		return err
	}
	env, _, err := e.ImageEnv(ctx, image)
	if err != nil {
		return err
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "REDMINE_VERSION="); ok {
			s.Redmine = v
		}
	}
	var out strings.Builder
	// Ruby without Rails: a Rails boot costs seconds, the lock file names its version.
	if err := e.Exec(ctx, app, []string{"sh", "-c", `ruby -e 'print RUBY_VERSION'; echo; cat Gemfile.lock 2>/dev/null || true`}, engine.ExecOptions{Stdout: &out}); err == nil {
		first, rest, _ := strings.Cut(out.String(), "\n")
		s.Ruby = strings.TrimSpace(first)
		if m := railsLock.FindStringSubmatch(rest); m != nil {
			s.Rails = m[1]
		}
	}
	if d := st.Database; d != nil {
		if db, err := r.Container(ctx, d.Service); err == nil {
			var v strings.Builder
			if err := e.Exec(ctx, db, []string{"psql", "-U", d.User, "-d", d.Name, "-tAc", "SHOW server_version"}, engine.ExecOptions{Stdout: &v}); err == nil {
				s.Postgres, _, _ = strings.Cut(strings.TrimSpace(v.String()), " ")
			}
		}
	}
	if front, err := r.Container(ctx, g.Front); err == nil && front != "" {
		if s.Maintenance, err = r.InMaintenance(ctx); err != nil {
			return err
		}
	}
	return nil
}

// lastBackup finds the newest archive of st in dirs (and their pre-upgrade/).
func lastBackup(st catalog.Stack, dirs []string, now time.Time) (*Backup, error) {
	var best *Backup
	for _, dir := range dirs {
		for _, d := range []string{dir, filepath.Join(dir, "pre-upgrade"), filepath.Join(dir, patch.BackupSubdir)} {
			names, err := backup.Archives(d, st.Name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				at, _ := backup.ArchiveTime(n, st.Name)
				if best == nil || at.After(best.Taken) {
					best = &Backup{Path: filepath.Join(d, n), Taken: at, AgeSeconds: int64(now.Sub(at).Seconds())}
				}
			}
		}
	}
	return best, nil
}
