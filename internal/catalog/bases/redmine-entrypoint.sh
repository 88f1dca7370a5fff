#!/usr/bin/env bash
# Entrypoint of the Debian-built redmine base image (stackctl/base-redmine:trixie).
# Follows the behaviour of docker-library/redmine's docker-entrypoint.sh (6.0 line):
# same variables, same order of steps, same files written. Never prints secret values.
set -Eeo pipefail

# file_env VAR [DEFAULT]: VAR from $VAR, else from the file named by $VAR_FILE, else DEFAULT.
file_env() {
	local var="$1" fileVar="${1}_FILE" def="${2:-}" val
	if [ -n "${!var:-}" ] && [ -n "${!fileVar:-}" ]; then
		echo >&2 "error: both $var and $fileVar are set (but are exclusive)"
		exit 1
	fi
	val="$def"
	if [ -n "${!var:-}" ]; then
		val="${!var}"
	elif [ -n "${!fileVar:-}" ]; then
		if [ ! -r "${!fileVar}" ]; then
			echo >&2 "error: $fileVar names a file that cannot be read (${!fileVar})"
			exit 1
		fi
		val="$(< "${!fileVar}")"
	fi
	export "$var"="$val"
	unset "$fileVar"
}

# pending_migrations TASK...: true unless every migration the tasks would run is
# recorded in schema_migrations (plugins' as "<version>-<plugin>", as Redmine records them).
pending_migrations() {
	ruby -ryaml -e '
		c = YAML.load_file("config/database.yml")[ENV.fetch("RAILS_ENV", "production")] rescue exit(0)
		exit(0) unless c.is_a?(Hash) && c["adapter"] == "postgresql"
		begin
			require "pg"
			conn = PG.connect(host: c["host"], port: c["port"], user: c["username"], password: c["password"].to_s,
				dbname: c["database"], connect_timeout: 5)
			have = conn.exec("SELECT version FROM schema_migrations").map { |r| r["version"] }
		rescue StandardError, LoadError
			exit(0)
		end
		# Versions are recorded as integers: 001_setup.rb is "1".
		version = ->(f) { File.basename(f)[/\A\d+/].to_i.to_s }
		want = []
		want += Dir["db/migrate/*.rb"].map(&version) if ARGV.include?("db:migrate")
		if ARGV.include?("redmine:plugins:migrate")
			want += Dir["plugins/*/db/migrate/*.rb"].map { |f| "#{version.(f)}-#{f.split("/")[1]}" }
		end
		exit((want - have).empty? ? 1 : 0)
	' "$@"
}

isLikelyRedmine=
case "${1:-}" in
	rails | rake) isLikelyRedmine=1 ;;
esac

# https://www.redmine.org/projects/redmine/wiki/RedmineInstall#Step-8-File-system-permissions
_fix_permissions() {
	local dirs=( config log public/assets public/plugin_assets tmp ) args=()
	if [ "$(id -u)" = '0' ]; then
		args+=( ${args[@]:+,} '(' '!' -user redmine -exec chown redmine:redmine '{}' + ')' )
		# scanning files/ can be very expensive: only when it does not look right already
		if [ "$(stat -c '%U:%a' files)" != 'redmine:755' ]; then
			dirs+=( files )
		fi
	fi
	# directories 755, files 644
	args+=( ${args[@]:+,} '(' -type d '!' -perm 755 -exec sh -c 'chmod 755 "$@" 2>/dev/null || :' -- '{}' + ')' )
	args+=( ${args[@]:+,} '(' -type f '!' -perm 644 -exec sh -c 'chmod 644 "$@" 2>/dev/null || :' -- '{}' + ')' )
	find "${dirs[@]}" "${args[@]}"
}

# started as root (the default): fix ownership, then drop to redmine and run this script again
if [ -n "$isLikelyRedmine" ] && [ "$(id -u)" = '0' ]; then
	_fix_permissions
	exec gosu redmine "$BASH_SOURCE" "$@"
fi

if [ -n "$isLikelyRedmine" ]; then
	_fix_permissions

	if [ ! -f './config/database.yml' ]; then
		file_env 'REDMINE_DB_MYSQL'
		file_env 'REDMINE_DB_POSTGRES'
		file_env 'REDMINE_DB_SQLSERVER'

		# legacy container links
		if [ -n "${MYSQL_PORT_3306_TCP:-}" ] && [ -z "$REDMINE_DB_MYSQL" ]; then
			export REDMINE_DB_MYSQL='mysql'
		elif [ -n "${POSTGRES_PORT_5432_TCP:-}" ] && [ -z "$REDMINE_DB_POSTGRES" ]; then
			export REDMINE_DB_POSTGRES='postgres'
		fi

		if [ -n "$REDMINE_DB_MYSQL" ]; then
			adapter='mysql2'
			host="$REDMINE_DB_MYSQL"
			file_env 'REDMINE_DB_PORT' '3306'
			file_env 'REDMINE_DB_USERNAME' "${MYSQL_ENV_MYSQL_USER:-root}"
			file_env 'REDMINE_DB_PASSWORD' "${MYSQL_ENV_MYSQL_PASSWORD:-${MYSQL_ENV_MYSQL_ROOT_PASSWORD:-}}"
			file_env 'REDMINE_DB_DATABASE' "${MYSQL_ENV_MYSQL_DATABASE:-${MYSQL_ENV_MYSQL_USER:-redmine}}"
			file_env 'REDMINE_DB_ENCODING' ''
		elif [ -n "$REDMINE_DB_POSTGRES" ]; then
			adapter='postgresql'
			host="$REDMINE_DB_POSTGRES"
			file_env 'REDMINE_DB_PORT' '5432'
			file_env 'REDMINE_DB_USERNAME' "${POSTGRES_ENV_POSTGRES_USER:-postgres}"
			file_env 'REDMINE_DB_PASSWORD' "${POSTGRES_ENV_POSTGRES_PASSWORD:-}"
			file_env 'REDMINE_DB_DATABASE' "${POSTGRES_ENV_POSTGRES_DB:-${REDMINE_DB_USERNAME:-}}"
			file_env 'REDMINE_DB_ENCODING' 'utf8'
		elif [ -n "$REDMINE_DB_SQLSERVER" ]; then
			# Debian does not package tiny_tds / activerecord-sqlserver-adapter
			echo >&2 'error: REDMINE_DB_SQLSERVER is not supported by this Debian-built image'
			exit 1
		else
			echo >&2
			echo >&2 'warning: missing REDMINE_DB_MYSQL, REDMINE_DB_POSTGRES, or REDMINE_DB_SQLSERVER environment variables'
			echo >&2
			echo >&2 '*** Using sqlite3 as fallback. ***'
			echo >&2

			adapter='sqlite3'
			host='localhost'
			file_env 'REDMINE_DB_PORT' ''
			file_env 'REDMINE_DB_USERNAME' 'redmine'
			file_env 'REDMINE_DB_PASSWORD' ''
			file_env 'REDMINE_DB_DATABASE' 'sqlite/redmine.db'
			file_env 'REDMINE_DB_ENCODING' 'utf8'

			mkdir -p "$(dirname "$REDMINE_DB_DATABASE")"
			if [ "$(id -u)" = '0' ]; then
				find "$(dirname "$REDMINE_DB_DATABASE")" \! -user redmine -exec chown redmine '{}' +
			fi
		fi

		REDMINE_DB_ADAPTER="$adapter"
		REDMINE_DB_HOST="$host"
		# written with a restrictive mode: it may hold the database password
		( umask 077; echo "$RAILS_ENV:" > config/database.yml )
		for var in adapter host port username password database encoding; do
			env="REDMINE_DB_${var^^}"
			val="${!env:-}"
			[ -n "$val" ] || continue
			if [ "$var" != 'adapter' ]; then
				# quote every value except the adapter (docker-library/redmine#353)
				val='"'"$val"'"'
			fi
			echo "  $var: $val" >> config/database.yml
		done
		# the password is in database.yml now; keep it out of the server's environment
		# (upstream leaves it exported; nothing reads it from there)
		unset REDMINE_DB_PASSWORD
	fi

	# install additional gems for Gemfile.local and plugins.
	# Debian: the gems are system packages and Gemfile.lock must be re-resolved whenever the Gemfile
	# changes (it reads the adapter from config/database.yml). Upstream's `bundle check` re-resolves
	# *remotely* (index.rubygems.org) in that case, so resolve locally first, like Debian's postinst;
	# only if that fails (a plugin needs a gem Debian does not ship) fall back to a networked install.
	# bundle check first: when nothing changed it answers in a second, and a start
	# should not pay for a resolve it does not need.
	bundle check >/dev/null 2>&1 || bundle install --local --quiet || bundle install

	file_env 'REDMINE_SECRET_KEY_BASE'
	if [ -n "${SECRET_KEY_BASE:-}" ] && [ -n "${REDMINE_SECRET_KEY_BASE:-}" ]; then
		echo >&2
		echo >&2 'warning: both SECRET_KEY_BASE and REDMINE_SECRET_KEY_BASE{_FILE} set, only SECRET_KEY_BASE will apply'
		echo >&2
	fi
	: "${SECRET_KEY_BASE:=${REDMINE_SECRET_KEY_BASE:-}}"
	export SECRET_KEY_BASE
	unset REDMINE_SECRET_KEY_BASE
	# without a secret, generate one into config/initializers/secret_token.rb (lost on recreate)
	if [ -z "$SECRET_KEY_BASE" ] && [ ! -f config/initializers/secret_token.rb ]; then
		echo >&2 'warning: no *SECRET_KEY_BASE set; running `rake generate_secret_token` to create one in "config/initializers/secret_token.rb"'
		unset SECRET_KEY_BASE
		rake generate_secret_token
	fi

	# Both migrations in one rake process: each process boots Rails, the longest
	# part of a start (upstream runs them as two processes; the effect is the same).
	tasks=()
	if [ "$1" != 'rake' ] && [ -z "${REDMINE_NO_DB_MIGRATE:-}" ]; then
		tasks+=( db:migrate )
	fi
	if [ "$1" != 'rake' ] && [ -n "${REDMINE_PLUGINS_MIGRATE:-}" ]; then
		tasks+=( redmine:plugins:migrate )
	fi
	# Booting Rails for rake takes longer than anything else in a start: when every
	# migration on disk is already recorded in the database, there is nothing for it
	# to do. pending_migrations answers that in a fraction of a second, and says
	# "pending" whenever it cannot tell (another adapter, no database yet).
	if [ "${#tasks[@]}" -gt 0 ] && pending_migrations "${tasks[@]}"; then
		rake "${tasks[@]}"
	fi

	# remove a stale PID file so that the container can be restarted
	rm -f tmp/pids/server.pid
fi

exec "$@"
