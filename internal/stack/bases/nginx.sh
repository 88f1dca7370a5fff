# Customizes the debian twin of the nginx base (alpine + `apk add nginx`).
# Runs inside the new root as root, with /bin/sh -eu, after packages are installed.
# It gives the root the layout Alpine's nginx package has, which is all the
# stacks/nginx Dockerfile relies on: nginx on PATH, /etc/nginx/mime.types,
# a `nginx` user, busybox wget for health checks.

# Alpine's package runs workers as nginx (uid 100, gid 101); Debian's uses www-data.
grep -q '^nginx:' /etc/group || echo 'nginx:x:101:' >>/etc/group
grep -q '^nginx:' /etc/passwd || echo 'nginx:x:100:101:nginx:/var/lib/nginx:/usr/sbin/nologin' >>/etc/passwd
if [ -f /etc/shadow ] && ! grep -q '^nginx:' /etc/shadow; then echo 'nginx:!:20000::::::' >>/etc/shadow; fi

# Alpine includes /etc/nginx/http.d/*.conf; Debian's sites-* and conf.d are not part of the contract.
rm -rf /etc/nginx/sites-available /etc/nginx/sites-enabled /etc/nginx/conf.d /etc/nginx/snippets \
	/etc/nginx/modules-available /etc/nginx/modules-enabled /var/www/html
mkdir -p /etc/nginx/http.d /var/lib/nginx /var/log/nginx /run/nginx
chown nginx:nginx /var/lib/nginx /run/nginx

# Alpine's wget is busybox's; so is ours (the health checks use it).
ln -sf /bin/busybox /usr/local/bin/wget

# Like the official images: logs go to the container's stdout and stderr.
ln -sf /dev/stdout /var/log/nginx/access.log
ln -sf /dev/stderr /var/log/nginx/error.log

# Nothing in the image runs apt or dpkg again: drop their caches and logs.
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/cache/debconf/*-old /var/log/dpkg.log /var/log/apt /var/log/alternatives.log
