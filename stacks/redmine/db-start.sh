#!/usr/bin/env bash
# PostgreSQL's start in the Redmine stack, before the image's own entrypoint
# (official or debian alike). A cluster made when redmine was its superuser
# (stackctl before issue 30) is moved to the layout a new one has
# (db-app-role.sql), on a server that listens on no network, so that Redmine
# never sees it half way. The move is one transaction: a stop at any point
# leaves the old layout or the new one, and the next start finishes it.
set -Eeo pipefail

done_mark="$PGDATA/stackctl-app-role"
if [ "${1:-}" = postgres ] && [ -s "$PGDATA/PG_VERSION" ] && [ ! -e "$done_mark" ]; then
	as_postgres() {
		if [ "$(id -u)" = 0 ]; then gosu postgres "$@"; else "$@"; fi
	}
	# Its socket in a directory of its own: the image's is made by its entrypoint, later.
	sock=$(as_postgres mktemp -d)
	as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k $sock" -w start
	psql=(as_postgres psql -h "$sock" -v ON_ERROR_STOP=1 --no-psqlrc --no-password -X -d redmine -tA)
	# redmine exists in both layouts, as the superuser or as the owner.
	boot=$("${psql[@]}" -U redmine -c 'SELECT rolname FROM pg_roles WHERE oid = 10')
	if [ "$boot" = redmine ]; then
		echo 'stackctl: moving role redmine off the superuser (one transaction)'
		# The bootstrap role cannot rename itself: a temporary superuser does,
		# reachable only over this socket (it has no password).
		"${psql[@]}" -U redmine -c "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stackctl_move') THEN CREATE ROLE stackctl_move LOGIN SUPERUSER; END IF; END\$\$"
		"${psql[@]}" -U stackctl_move -1 -f /docker-entrypoint-initdb.d/stackctl-app-role.sql
	fi
	"${psql[@]}" -U postgres -c 'SET client_min_messages = warning' -c 'DROP ROLE IF EXISTS stackctl_move'
	as_postgres pg_ctl -D "$PGDATA" -m fast -w stop
	as_postgres touch "$done_mark"
	rmdir "$sock"
fi
exec docker-entrypoint.sh "$@"
