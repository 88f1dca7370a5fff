package backup

import (
	"context"
	"fmt"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/stack"
)

// Copy makes a new generation of st from its active one, beside it, as a
// restore makes one from an archive, every volume copied as a backup reads
// it: the database as a pg_dump snapshot restored into the new generation's
// own PostgreSQL (of the release o.Up.Release names, which makes it a major
// upgrade by dump and restore), the other volumes as tar streams. The copy
// refuses a target whose Redmine or PostgreSQL is older than the data's, and
// too little room, before a byte is written; any failure removes the new
// generation. made and source are recorded as what made it.
func Copy(ctx context.Context, s *stack.Stack, made, source string, o RestoreOptions) (RestoreResult, error) {
	rs, err := openCopy(ctx, s, o)
	if err != nil {
		return RestoreResult{}, err
	}
	defer rs.End()
	res, err := s.NewGeneration(ctx, rs, made, source, stack.GenOptions{Up: o.Up})
	if err != nil {
		return RestoreResult{}, err
	}
	return RestoreResult{Manifest: rs.m, URL: res.URL, From: res.From, Gen: res.Gen, Switched: res.Switched}, nil
}

// openCopy is the active generation of s as the seed of a new one: every
// volume copied, its versions read from the running containers.
func openCopy(ctx context.Context, s *stack.Stack, o RestoreOptions) (*restore, error) {
	r, e, err := s.Runner(ctx)
	if err != nil {
		return nil, err
	}
	st := s.Def
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	pers, err := r.Persistence(ctx)
	if err != nil {
		return nil, err
	}
	src, err := openLive(ctx, r, e, st, pers)
	if err != nil {
		return nil, fmt.Errorf("%w: copying the active generation of stack %s, which must be running: %v: start it with 'stackctl up %s'", ErrRefused, st.Name, err, st.Name)
	}
	m := archive.Manifest{Stack: st.Name, Entries: src.entries}
	if m.RedmineVersion, m.PostgresVersion, err = src.versions(ctx); err != nil {
		return nil, err
	}
	return &restore{e: e, r: r, st: st, name: "the active generation", m: m, copied: volumesOf(pers), progress: o.Progress, copy: true}, nil
}
