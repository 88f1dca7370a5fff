-- Redmine's role, redmine, owns its database and is no superuser: a restored
-- dump runs as it, and so does Redmine. PostgreSQL's superuser, postgres, is
-- reachable only over the container's own socket. Run once, in one
-- transaction, by a superuser other than redmine: by the image's entrypoint
-- on a new cluster (from /docker-entrypoint-initdb.d), and by db-start.sh on
-- a cluster made when redmine was the superuser, which it moves over.
DO $$
DECLARE
	o record;
BEGIN
	-- The bootstrap superuser (oid 10) cannot lose its rights: a cluster made
	-- when it was redmine gets it renamed postgres, as a new one has it.
	IF (SELECT rolname FROM pg_roles WHERE oid = 10) = 'redmine' THEN
		ALTER ROLE redmine RENAME TO postgres;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'redmine') THEN
		CREATE ROLE redmine;
	END IF;
	ALTER ROLE redmine LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
	-- The superuser gets no password: no network login can reach it.
	ALTER ROLE postgres PASSWORD NULL;
	-- The password from the stack's secret, read by the server: it is in no
	-- file, argument or statement a log keeps; the error leaves it out too.
	BEGIN
		EXECUTE format('ALTER ROLE redmine PASSWORD %L', rtrim(pg_read_file('/run/secrets/db_password'), E'\n'));
	EXCEPTION WHEN others THEN
		RAISE EXCEPTION 'setting the password of role redmine from /run/secrets/db_password failed (SQLSTATE %)', SQLSTATE;
	END;
	ALTER DATABASE redmine OWNER TO redmine;
	-- Schema public stays pg_database_owner's (PostgreSQL 15 and later): redmine now.
	-- What the superuser made in the database becomes redmine's: tables (their
	-- indexes and owned sequences follow), then the sequences left.
	FOR o IN SELECT c.relkind, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relowner = 10 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
	LOOP
		EXECUTE format('ALTER %s %I.%I OWNER TO redmine',
			CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
			o.nspname, o.relname);
	END LOOP;
	FOR o IN SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relowner = 10 AND c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
	LOOP
		EXECUTE format('ALTER SEQUENCE %I.%I OWNER TO redmine', o.nspname, o.relname);
	END LOOP;
	FOR o IN SELECT n.nspname FROM pg_namespace n
		WHERE n.nspowner = 10 AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname NOT LIKE 'pg\_%'
	LOOP
		EXECUTE format('ALTER SCHEMA %I OWNER TO redmine', o.nspname);
	END LOOP;
END
$$;
