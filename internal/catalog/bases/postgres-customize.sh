# Customize hook of the debian postgres base: runs on the host with /bin/sh -eu and the
# new root as $1, once every package is installed.
root=$1

# listen on all interfaces in every cluster initdb creates (same edit as the official image)
sample="$root/usr/share/postgresql/17/postgresql.conf.sample"
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -F "listen_addresses = '*'" "$sample" > /dev/null

# en_US.UTF-8 like the official image (LANG=en_US.utf8); the locales package comes with postgresql-17
chroot "$root" localedef -i en_US -c -f UTF-8 -A /usr/share/locale/locale.alias en_US.UTF-8

mkdir -p "$root/var/run/postgresql" "$root/var/lib/postgresql/data" "$root/docker-entrypoint-initdb.d"
chroot "$root" chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql
chmod 3777 "$root/var/run/postgresql"
chmod 1777 "$root/var/lib/postgresql/data"

rm -rf "$root/var/cache/debconf/"*-old "$root/var/lib/dpkg/"*-old \
	"$root/var/log/apt/"* "$root/var/log/dpkg.log" "$root/var/log/alternatives.log" \
	"$root/var/cache/ldconfig/aux-cache"
: > "$root/etc/machine-id" 2>/dev/null || true
