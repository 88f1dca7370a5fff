# Essential hook of the debian postgres base: runs on the host with /bin/sh -eu and the
# new root as $1, after the essential packages and before the rest are installed.
root=$1

# postgres user/group with the ids of the official image (999:999), created before
# postgresql-common's postinst would pick a dynamic system id. passwd/useradd is not
# installed yet at this point, so write the database entries directly.
grep -q '^postgres:' "$root/etc/group" || echo 'postgres:x:999:' >> "$root/etc/group"
grep -q '^postgres:' "$root/etc/gshadow" 2>/dev/null || echo 'postgres:!::' >> "$root/etc/gshadow"
grep -q '^postgres:' "$root/etc/passwd" || \
	echo 'postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/bash' >> "$root/etc/passwd"
grep -q '^postgres:' "$root/etc/shadow" 2>/dev/null || echo 'postgres:*:20000:0:99999:7:::' >> "$root/etc/shadow"
# no "main" cluster at package install time: the entrypoint runs initdb on an empty PGDATA
mkdir -p "$root/etc/postgresql-common/createcluster.d"
echo 'create_main_cluster = false' > "$root/etc/postgresql-common/createcluster.d/docker.conf"
