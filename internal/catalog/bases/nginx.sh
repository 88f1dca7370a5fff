# Customizes the debian twin of the nginx base (alpine + `apk add nginx`).
# Runs on the host with /bin/sh -eu and the new root as $1, after packages are installed.
# It gives the root the layout Alpine's nginx package has, which is all the
# stacks/nginx Dockerfile relies on: nginx on PATH, /etc/nginx/mime.types,
# a `nginx` user, busybox wget for health checks.
root=$1

# Alpine's package runs workers as nginx (uid 100, gid 101); Debian's uses www-data.
grep -q '^nginx:' "$root/etc/group" || echo 'nginx:x:101:' >>"$root/etc/group"
grep -q '^nginx:' "$root/etc/passwd" || echo 'nginx:x:100:101:nginx:/var/lib/nginx:/usr/sbin/nologin' >>"$root/etc/passwd"
if [ -f "$root/etc/shadow" ] && ! grep -q '^nginx:' "$root/etc/shadow"; then echo 'nginx:!:20000::::::' >>"$root/etc/shadow"; fi

# Alpine includes /etc/nginx/http.d/*.conf; Debian's sites-* and conf.d are not part of the contract.
rm -rf "$root/etc/nginx/sites-available" "$root/etc/nginx/sites-enabled" "$root/etc/nginx/conf.d" \
	"$root/etc/nginx/snippets" "$root/etc/nginx/modules-available" "$root/etc/nginx/modules-enabled" "$root/var/www/html"
mkdir -p "$root/etc/nginx/http.d" "$root/var/lib/nginx" "$root/var/log/nginx" "$root/run/nginx"
chown 100:101 "$root/var/lib/nginx" "$root/run/nginx"

# Alpine's wget is busybox's; so is ours (the health checks use it).
ln -sf /bin/busybox "$root/usr/local/bin/wget"

# Like the official images: logs go to the container's stdout and stderr.
ln -sf /dev/stdout "$root/var/log/nginx/access.log"
ln -sf /dev/stderr "$root/var/log/nginx/error.log"

# Nothing in the image runs apt or dpkg again: drop their caches and logs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
	"$root/var/log/dpkg.log" "$root/var/log/apt" "$root/var/log/alternatives.log"
