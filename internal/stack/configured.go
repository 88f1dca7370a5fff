package stack

import (
	"context"
	"fmt"
	"strings"

	"github.com/stackctl/stackctl/internal/catalog"
	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
)

// configuredMark is the comment a configured stack's database carries. A
// database-level comment, because it lives and dies with the data: pg_restore
// leaves it out (without --create), so a restored database is marked anew.
const configuredMark = "stackctl: first start done"

// configured says whether st's database carries the mark of its first start.
func (r Runner) configured(ctx context.Context, st catalog.Stack, gen int) (bool, error) {
	out, err := r.psql(ctx, st, gen, "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()")
	if err != nil {
		return false, fmt.Errorf("asking %s's database whether it is configured: %w", st.Name, err)
	}
	return strings.TrimSpace(out) == configuredMark, nil
}

// markConfigured marks st's database as having had its first start.
func (r Runner) markConfigured(ctx context.Context, st catalog.Stack, gen int) error {
	// PostgreSQL quotes the name and the mark itself (%I, %L).
	sql := fmt.Sprintf("DO $$BEGIN EXECUTE format('COMMENT ON DATABASE %%I IS %%L', current_database(), '%s'); END$$", configuredMark)
	if _, err := r.psql(ctx, st, gen, sql); err != nil {
		return fmt.Errorf("marking %s's database configured: %w", st.Name, err)
	}
	return nil
}

// psql runs one SQL command in the database container of st's generation gen
// and returns its unaligned output.
func (r Runner) psql(ctx context.Context, st catalog.Stack, gen int, sql string) (string, error) {
	d := st.Database
	if d == nil {
		return "", fmt.Errorf("%w: stack %s has a first start but no database to record it in", errs.InvalidInput, st.Name)
	}
	id, err := r.GenContainer(ctx, st, d.Service, gen)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = r.Engine.Exec(ctx, id, []string{"psql", "-U", d.User, "-d", d.Name, "-v", "ON_ERROR_STOP=1", "-tAc", sql}, engine.ExecOptions{Stdout: &out})
	return out.String(), err
}
