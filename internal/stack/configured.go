package stack

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stackctl/stackctl/internal/engine"
	"github.com/stackctl/stackctl/internal/errs"
)

// configuredMark is the comment a configured stack's database carries. A
// database-level comment, because it lives and dies with the data: pg_restore
// leaves it out (without --create), so a restored database is marked anew.
const configuredMark = "stackctl: first start done"

// configured says whether st's database carries the mark of its first start.
func (r Runner) configured(ctx context.Context, gen int) (bool, error) {
	st := r.Stack
	out, err := r.psql(ctx, gen, "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = current_database()")
	if err != nil {
		return false, fmt.Errorf("asking %s's database whether it is configured: %w", st.Name, err)
	}
	return strings.TrimSpace(out) == configuredMark, nil
}

// markConfigured marks st's database as having had its first start.
func (r Runner) markConfigured(ctx context.Context, gen int) error {
	st := r.Stack
	// PostgreSQL quotes the name and the mark itself (%I, %L).
	sql := fmt.Sprintf("DO $$BEGIN EXECUTE format('COMMENT ON DATABASE %%I IS %%L', current_database(), '%s'); END$$", configuredMark)
	if _, err := r.psql(ctx, gen, sql); err != nil {
		return fmt.Errorf("marking %s's database configured: %w", st.Name, err)
	}
	return nil
}

// applySettings writes r.Site's application settings into st's settings
// table, changing only those that differ: the application (Redmine checks
// the table's latest updated_on on every request) picks a change up without
// a restart, and an unchanged setting is not touched. Values are checked by
// internal/settings; they are quoted here all the same.
func (r Runner) applySettings(ctx context.Context, gen int) error {
	st := r.Stack
	if st.SettingsTable == "" || len(r.Overrides.AppSettings) == 0 {
		return nil
	}
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	names := slices.Sorted(maps.Keys(r.Overrides.AppSettings))
	var sql strings.Builder
	for _, name := range names {
		n, v := q(name), q(r.Overrides.AppSettings[name])
		// Redmine keeps updated_on in UTC, whatever the session's time zone.
		fmt.Fprintf(&sql, "UPDATE %[1]s SET value = %[3]s, updated_on = now() AT TIME ZONE 'UTC' WHERE name = %[2]s AND value IS DISTINCT FROM %[3]s; "+
			"INSERT INTO %[1]s (name, value, updated_on) SELECT %[2]s, %[3]s, now() AT TIME ZONE 'UTC' WHERE NOT EXISTS (SELECT 1 FROM %[1]s WHERE name = %[2]s); ",
			st.SettingsTable, n, v)
	}
	r.logf("stack %s: generation %d: setting %s from the site's settings", st.Name, gen, strings.Join(names, ", "))
	if _, err := r.psql(ctx, gen, sql.String()); err != nil {
		return fmt.Errorf("setting %s's settings from the site's settings file: %w", st.Name, err)
	}
	return nil
}

// psql runs one SQL command in the database container of st's generation gen
// and returns its unaligned output.
func (r Runner) psql(ctx context.Context, gen int, sql string) (string, error) {
	st := r.Stack
	d := st.Database
	if d == nil {
		return "", fmt.Errorf("%w: stack %s has a first start but no database to record it in", errs.ErrInvalidInput, st.Name)
	}
	id, err := r.GenContainer(ctx, d.Service, gen)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	err = r.Engine.Exec(ctx, id, []string{"psql", "-U", d.User, "-d", d.Name, "-v", "ON_ERROR_STOP=1", "-tAc", sql}, engine.ExecOptions{Stdout: &out})
	return out.String(), err
}
