package e2e

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/engine"
)

// craftedDumps restores, with the explicit trust, into the populated stack
// whose archive is arch, dumps made by a real pg_dump of databases an attacker set up as
// PostgreSQL's superuser (issue 30, item 2), each in an archive that is
// otherwise arch: a function that runs 'COPY … FROM PROGRAM', called by a
// table's check, so that restoring the table's data would run it, is refused
// by the dump's table of contents, naming the function, before pg_restore
// runs; a table whose check calls the superuser's pg_read_file, which the
// table of contents allows, is refused by PostgreSQL itself, since pg_restore
// runs as the stack's role. Each fails before the switch: the serving
// generation keeps serving. Then the role's rights, asked directly: no
// superuser, none of the roles that run programs or read files, 'COPY …
// FROM PROGRAM' denied, and Redmine's own connections are the role's.
func craftedDumps(t *testing.T, api client.APIClient, env []string, arch, out string, rm *redmine) {
	t.Helper()
	ctx := context.Background()
	e := &engine.Engine{API: api}
	db := activeDB(t, api)
	// The attacker's PostgreSQL: a database of its own beside the stack's,
	// as its superuser, which has every right (the program runs there).
	sql := func(database, user, query string) (string, int) {
		t.Helper()
		got, code, err := execOut(ctx, api, db, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", database, "-tAc", query)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(got), code
	}
	for _, q := range []string{"DROP DATABASE IF EXISTS crafted", "CREATE DATABASE crafted"} {
		if got, code := sql("postgres", "postgres", q); code != 0 {
			t.Fatalf("%s: exit %d: %s", q, code, got)
		}
	}
	t.Cleanup(func() { sql("postgres", "postgres", "DROP DATABASE IF EXISTS crafted") })
	setup := `CREATE TABLE ran (line text);
CREATE FUNCTION run_program() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	COPY ran FROM PROGRAM 'id -un';
	RETURN true;
END $$;
CREATE TABLE issues (id int PRIMARY KEY, subject text, CONSTRAINT runs CHECK (run_program()));
INSERT INTO issues VALUES (1, 'runs a program as it is restored');
CREATE TABLE reads (id int, CONSTRAINT reads_file CHECK (length(pg_read_file('/etc/hostname')) > 0));
INSERT INTO reads VALUES (1);`
	if got, code := sql("crafted", "postgres", setup); code != 0 {
		t.Fatalf("setting up the crafted database: exit %d: %s", code, got)
	}
	// As the superuser, the program ran: restored as one, the dump would run it again.
	if got, _ := sql("crafted", "postgres", "SELECT line FROM ran"); got != "postgres" {
		t.Fatalf("the crafted check ran %q as the superuser, want the program's output 'postgres'", got)
	}
	dump := func(args ...string) []byte {
		var b bytes.Buffer
		if err := e.Exec(ctx, db, append([]string{"pg_dump", "-Fc", "-U", "postgres", "-d", "crafted"}, args...), engine.ExecOptions{Stdout: &b}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	withDump := func(name string, d []byte) string {
		// Unsigned, as an attacker without the stack's key writes it: restored with the explicit trust.
		return copyArchive(t, nil, arch, filepath.Join(out, name), func(*archive.Manifest) {},
			map[string]func([]byte) []byte{"db-data.pgdump": func([]byte) []byte { return d }})
	}
	program := withDump("program.tar.zst", dump())
	reads := withDump("reads.tar.zst", dump("-t", "reads"))

	before := containerIDs(t, api, redmineProject(t))
	gen := activeGen(t, env)
	for _, tc := range []struct {
		name, archive string
		code          int
		says          []string
		not           []string
	}{
		{"a function that runs a program", program, 22,
			[]string{"holds what no Redmine dump does: FUNCTION public run_program() postgres"}, []string{"pg_restore exited"}},
		{"a check that reads a file", reads, 1,
			[]string{"pg_restore exited with 1", "permission denied for function pg_read_file"}, nil},
	} {
		r := stackctl(t, env, "restore-volumes", "--yes", "--trust-unsigned", tc.archive, "--timeout", "15m")
		t.Logf("%s: exit %d:\n%s", tc.name, r.code, lastLines(r.stderr, 6))
		if r.code != tc.code {
			t.Errorf("%s: exit %d, want %d", tc.name, r.code, tc.code)
		}
		for _, s := range tc.says {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("%s: stderr lacks %q", tc.name, s)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(r.stderr, s) {
				t.Errorf("%s: stderr has %q: pg_restore ran", tc.name, s)
			}
		}
		if got := activeGen(t, env); got != gen {
			t.Errorf("%s: generation %d serves, want %d as before", tc.name, got, gen)
		}
		rm.do("GET", "/projects.json", "", 200)
	}
	if after := containerIDs(t, api, redmineProject(t)); after != before {
		t.Errorf("a refused restore changed the stack's containers: %s -> %s", before, after)
	}

	// The role's rights, in the serving generation's PostgreSQL.
	rights := `SELECT rolsuper, rolcreaterole, rolcreatedb,
	pg_has_role('redmine', 'pg_execute_server_program', 'MEMBER'),
	pg_has_role('redmine', 'pg_read_server_files', 'MEMBER'),
	pg_has_role('redmine', 'pg_write_server_files', 'MEMBER'),
	(SELECT rolname FROM pg_roles WHERE oid = 10),
	(SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'redmine')
	FROM pg_roles WHERE rolname = 'redmine'`
	if got, code := sql("redmine", "redmine", rights); code != 0 || got != "f|f|f|f|f|f|postgres|redmine" {
		t.Errorf("role redmine: superuser, createrole, createdb, runs programs, reads files, writes files, the bootstrap superuser, the database's owner: %q (exit %d), "+
			"want f|f|f|f|f|f|postgres|redmine", got, code)
	}
	got, code := sql("redmine", "redmine", "CREATE TEMP TABLE out (line text); COPY out FROM PROGRAM 'id -un'")
	t.Logf("COPY … FROM PROGRAM as redmine: exit %d: %s", code, got)
	if code == 0 || !strings.Contains(got, "permission denied to COPY to or from an external program") {
		t.Errorf("COPY … FROM PROGRAM as redmine: exit %d, %q; want PostgreSQL's permission error", code, got)
	}
	who, _ := sql("redmine", "postgres", "SELECT string_agg(DISTINCT u.usename || ':' || u.usesuper, ',') FROM pg_stat_activity a JOIN pg_user u ON u.usesysid = a.usesysid WHERE a.client_addr IS NOT NULL")
	t.Logf("Redmine's connections (role:superuser): %s", who)
	if who != "redmine:false" {
		t.Errorf("Redmine's connections are %q, want role redmine alone, no superuser (redmine:false)", who)
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
