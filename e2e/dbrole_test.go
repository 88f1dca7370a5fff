package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/stackctl/stackctl/internal/backup/archive"
	"github.com/stackctl/stackctl/internal/catalog"
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
	setup := `CREATE TABLE ran (line text);
CREATE FUNCTION run_program() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	COPY ran FROM PROGRAM 'id -un';
	RETURN true;
END $$;
CREATE TABLE issues (id int PRIMARY KEY, subject text, CONSTRAINT runs CHECK (run_program()));
INSERT INTO issues VALUES (1, 'runs a program as it is restored');
CREATE TABLE reads (id int, pad text, CONSTRAINT reads_file CHECK (length(pg_read_file('/etc/hostname')) > 0));
INSERT INTO reads SELECT 1, string_agg(md5(i::text), '') FROM generate_series(1, 200000) i;`
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
	// Uncompressed, as stackctl's backups are, and past the head the table of
	// contents is read from: the check reads a head that is not the whole dump.
	readsDump := dump("-Z0", "-t", "reads")
	if len(readsDump) <= 4<<20 {
		t.Fatalf("the dump of table reads is %d bytes, want more than the 4 MiB head", len(readsDump))
	}
	reads := withDump("reads.tar.zst", readsDump)
	// The stack's own data again: the crafting database goes (a failed test's goes with its stack).
	if got, code := sql("postgres", "postgres", "DROP DATABASE crafted"); code != 0 {
		t.Fatalf("dropping the crafted database: exit %d: %s", code, got)
	}

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

// TestDBRoleMove starts the Redmine stack's PostgreSQL (the debian base, with
// the stack's db-start.sh and db-app-role.sql mounted as the stack mounts
// them) on a cluster made as stackctl made them before issue 30, redmine its
// bootstrap superuser, holding tables, a sequence, a view and rows: the start
// moves it (redmine no superuser and the owner of everything, postgres the
// superuser without a password), keeping every row. Then the states a
// stopped move leaves: the temporary superuser made but the transaction not
// committed (a kill inside the transaction leaves this too: PostgreSQL undoes
// it), and the transaction committed but the temporary role left and the
// move not marked done; each start finishes it. Its own volume and
// containers only.
func TestDBRoleMove(t *testing.T) {
	shares(t)
	api := dockerAPI(t)
	ctx := context.Background()
	mustRun(t, []string{instanceEnv(t), "STACKCTL_STATE_DIR=" + t.TempDir()}, "base", "build", "postgres")
	b, err := catalog.LookupBase("postgres")
	if err != nil {
		t.Fatal(err)
	}
	image := b.DebianRef()
	vol := "stackctl-e2e-dbrole-" + instanceOf(t)
	api.VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true})
	t.Cleanup(func() { api.VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true}) })
	secret := filepath.Join(t.TempDir(), "db_password")
	writeFile(t, secret, rand.Text())
	if err := os.Chmod(secret, 0o644); err != nil { // read by uid 999 in the container; a test's password
		t.Fatal(err)
	}
	data := "/var/lib/postgresql/data"
	stackDir := filepath.Join(projectRoot, "stacks", "redmine")
	start := func(moved bool) string {
		t.Helper()
		cfg := &container.Config{Image: image, Cmd: []string{"postgres"}, Env: []string{
			"POSTGRES_USER=redmine", "POSTGRES_DB=redmine", "POSTGRES_PASSWORD_FILE=/run/secrets/db_password"}}
		mounts := []mount.Mount{
			{Type: mount.TypeVolume, Source: vol, Target: data},
			{Type: mount.TypeBind, Source: secret, Target: "/run/secrets/db_password", ReadOnly: true},
		}
		if moved {
			// As the stack's model has it (internal/catalog dbService).
			cfg.Env[0] = "POSTGRES_USER=postgres"
			cfg.Entrypoint = []string{"bash", "/usr/local/share/stackctl/db-start.sh"}
			mounts = append(mounts,
				mount.Mount{Type: mount.TypeBind, Source: filepath.Join(stackDir, "db-start.sh"), Target: "/usr/local/share/stackctl/db-start.sh", ReadOnly: true},
				mount.Mount{Type: mount.TypeBind, Source: filepath.Join(stackDir, "db-app-role.sql"), Target: "/docker-entrypoint-initdb.d/stackctl-app-role.sql", ReadOnly: true})
		}
		c, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: cfg, HostConfig: &container.HostConfig{Mounts: mounts},
			Name: "stackctl-e2e-dbrole-" + instanceOf(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { api.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}) })
		if _, err := api.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatal(err)
		}
		// Ready on its network address: the move runs before, on a socket alone.
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if _, code, err := execOut(ctx, api, c.ID, "sh", "-c", `pg_isready -q -h "$(hostname -i)"`); err == nil && code == 0 {
				return c.ID
			}
			if time.Now().After(deadline) {
				var logs bytes.Buffer
				if rc, err := api.ContainerLogs(ctx, c.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true}); err == nil {
					stdcopy.StdCopy(&logs, &logs, rc)
					rc.Close()
				}
				t.Fatalf("PostgreSQL did not become ready:\n%s", lastLines(logs.String(), 30))
			}
			time.Sleep(time.Second)
		}
	}
	stop := func(id string) {
		t.Helper()
		if _, err := api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	sql := func(id, user, query string) string {
		t.Helper()
		got, code, err := execOut(ctx, api, id, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", "redmine", "-tAc", query)
		if err != nil || code != 0 {
			t.Fatalf("%s as %s: exit %d, %v: %s", query, user, code, err, got)
		}
		return strings.TrimSpace(got)
	}
	// Over the network, with the password, as Redmine logs in.
	login := func(id, user string) (string, int) {
		t.Helper()
		got, code, err := execOut(ctx, api, id, "sh", "-c",
			`PGPASSWORD="$(cat /run/secrets/db_password)" psql -X -h "$(hostname -i)" -U `+user+` -d redmine -tAc 'SELECT current_user, count(*) FROM issues'`)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(got), code
	}
	const layout = `SELECT string_agg(rolname || ':' || rolsuper || ':' || (oid = 10) || ':' || (rolpassword IS NOT NULL), ',' ORDER BY rolname)
	FROM pg_authid WHERE rolname !~ '^pg_'`
	const owners = `SELECT (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'redmine') || ' ' ||
	string_agg(c.relname || ':' || pg_get_userbyid(c.relowner), ',' ORDER BY c.relname)
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'`
	const movedLayout = "postgres:true:true:false,redmine:false:false:true"
	const movedOwners = "redmine free_seq:redmine,issues:redmine,issues_id_seq:redmine,issues_pkey:redmine,open_issues:redmine,t2:redmine,t2_id_seq:redmine"

	// The cluster as stackctl made it before: redmine the bootstrap superuser.
	old := start(false)
	sql(old, "redmine", `CREATE TABLE issues (id serial PRIMARY KEY, subject text);
INSERT INTO issues (subject) SELECT 'issue ' || i FROM generate_series(1, 100) i;
CREATE TABLE t2 (id bigint GENERATED ALWAYS AS IDENTITY, x int);
CREATE SEQUENCE free_seq; CREATE VIEW open_issues AS SELECT * FROM issues`)
	if got := sql(old, "redmine", layout); got != "redmine:true:true:true" {
		t.Fatalf("the old cluster's roles: %s, want redmine alone, the bootstrap superuser", got)
	}
	stop(old)

	check := func(id, when string) {
		t.Helper()
		if got := sql(id, "postgres", layout); got != movedLayout {
			t.Errorf("%s: roles (name:superuser:bootstrap:password) %s, want %s", when, got, movedLayout)
		}
		if got := sql(id, "postgres", owners); got != movedOwners {
			t.Errorf("%s: owners %s, want %s", when, got, movedOwners)
		}
		if got, code := login(id, "redmine"); code != 0 || got != "redmine|100" {
			t.Errorf("%s: redmine over the network: exit %d, %s; want its 100 issues", when, code, got)
		}
		if got, code := login(id, "postgres"); code == 0 || !strings.Contains(got, "password authentication failed") {
			t.Errorf("%s: postgres over the network with the password: exit %d, %s; want refused", when, code, got)
		}
		if _, code, _ := execOut(ctx, api, id, "test", "-e", data+"/stackctl-app-role"); code != 0 {
			t.Errorf("%s: the move is not marked done", when)
		}
	}
	// Killed inside the move's transaction, or between its steps: the temporary superuser left, the layout old.
	c := start(false)
	sql(c, "redmine", "CREATE ROLE stackctl_move LOGIN SUPERUSER")
	stop(c)
	c = start(true)
	check(c, "after the move")
	if got := sql(c, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'stackctl_move'"); got != "0" {
		t.Errorf("the temporary superuser is left")
	}
	// Killed after the transaction committed: the temporary role left, the move not marked.
	sql(c, "postgres", "CREATE ROLE stackctl_move LOGIN SUPERUSER")
	execIn(t, api, c, "rm", data+"/stackctl-app-role")
	stop(c)
	c = start(true)
	check(c, "after a move killed once committed")
	if got := sql(c, "postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'stackctl_move'"); got != "0" {
		t.Errorf("the temporary superuser is left after the second start")
	}
	stop(c)
	// A new cluster, as a new generation's: the same layout from initdb.
	api.VolumeRemove(ctx, vol, client.VolumeRemoveOptions{Force: true})
	c = start(true)
	sql(c, "redmine", "CREATE TABLE issues (id serial PRIMARY KEY, subject text); INSERT INTO issues (subject) VALUES ('one')")
	if got := sql(c, "postgres", layout); got != movedLayout {
		t.Errorf("a new cluster: roles %s, want %s", got, movedLayout)
	}
	if got, code := login(c, "redmine"); code != 0 || got != "redmine|1" {
		t.Errorf("a new cluster: redmine over the network: exit %d, %s", code, got)
	}
}
