# Customize hook of the debian redmine base: runs on the host with /bin/sh -eu and the
# new root as $1, once every package is installed. It gives Debian's redmine package
# the layout of the official docker-library/redmine image:
#   /usr/src/redmine          the application tree (Rails.root), owned by redmine:redmine
#   /usr/share/redmine     -> /usr/src/redmine (Debian's hard-coded paths keep working)
#   /var/lib/redmine/default -> /usr/src/redmine (folds Debian's instance dir onto Rails.root)
#   user and group redmine 999:999, HOME /home/redmine
root=$1

# --- user and group, fixed ids like upstream ---------------------------------------------
chroot "$root" groupadd -r -g 999 redmine
chroot "$root" useradd -r -g redmine -u 999 -d /home/redmine -s /usr/sbin/nologin redmine
mkdir -p "$root/home/redmine"
chroot "$root" chown redmine:redmine /home/redmine
chmod 1777 "$root/home/redmine"

# --- move the tree to /usr/src/redmine, keep /usr/share/redmine as a compat link -----------
# Debian links some vendored assets relatively out of the tree (e.g. app/assets/javascripts/
# jquery-ui.min.js -> ../../../../javascript/jquery-ui/...). Moving the tree would break them:
# turn every relative link that leaves /usr/share/redmine into an absolute one first.
find "$root/usr/share/redmine" -type l | while read -r link; do
	target="$(readlink "$link")"
	case "$target" in /*) continue ;; esac
	inroot="${link#"$root"}"
	abs="$(realpath -m -s "$(dirname "$inroot")/$target")"
	case "$abs" in
		/usr/share/redmine/*) ;;
		*) ln -sfn "$abs" "$link" ;;
	esac
done

mkdir -p "$root/usr/src"
mv "$root/usr/share/redmine" "$root/usr/src/redmine"
ln -s /usr/src/redmine "$root/usr/share/redmine"
app="$root/usr/src/redmine"

# Gemfile.lock: Debian links it to /var/lib/redmine/Gemfile.lock; make it a real, writable file
# in the app dir (bundler rewrites it when config/database.yml adds an adapter gem).
rm -f "$app/Gemfile.lock"
cp "$root/var/lib/redmine/Gemfile.lock" "$app/Gemfile.lock"

# config/database.yml: Debian links it to /etc/redmine/default/database.yml (absent, since
# dbconfig is off). Remove the dangling link so the entrypoint writes a real file, as upstream.
rm -f "$app/config/database.yml"

# Gemfile.lock resolved with every adapter the image carries, as the official image's
# build does: Redmine's Gemfile adds the adapters' gems from config/database.yml, and a
# lock that already holds them lets the entrypoint's 'bundle check' pass at every start
# instead of re-resolving (1.5 s against 0.3 s per start, measured). The adapters are
# those whose package the suite installed (forky's exclude each other: pgsql alone).
: > "$app/config/database.yml"
for a in pgsql:postgresql mysql:mysql2 sqlite:sqlite3; do
	if chroot "$root" dpkg-query -W -f '${Status}' "redmine-${a%%:*}" 2>/dev/null | grep -q 'ok installed'; then
		printf '%s:\n  adapter: %s\n' "${a%%:*}" "${a#*:}" >> "$app/config/database.yml"
	fi
done
chroot "$root" sh -c 'cd /usr/src/redmine && bundle lock --local' >/dev/null
grep -Eq '^    pg ' "$app/Gemfile.lock" || { echo "redmine base: bundle lock left pg out of Gemfile.lock" >&2; exit 1; }
rm -f "$app/config/database.yml"

# Debian's instance dir: fold it onto Rails.root. Redmine.root (files/, tmp/, log/, public/,
# config/database.yml, config/secret_key.txt) then resolves to /usr/src/redmine/<x>.
rm -rf "$root/var/lib/redmine/default"
ln -s /usr/src/redmine "$root/var/lib/redmine/default"
# the package generated a per-instance secret at build time: it must not be baked into the
# image (and Debian's multitenancy_environment.rb would let it override SECRET_KEY_BASE).
rm -f "$root/etc/redmine/default/secret_key.txt" "$app/config/secret_key.txt"

# --- upstream's directory set and permissions -----------------------------------------------
# https://www.redmine.org/projects/redmine/wiki/RedmineInstall#Step-8-File-system-permissions
mkdir -p "$app/files" "$app/plugins" "$app/themes" "$app/public/plugin_assets"
( cd "$app" && mkdir -p config db log public/assets sqlite tmp tmp/pdf tmp/pids )
chroot "$root" chown -R redmine:redmine /usr/src/redmine/
# fix permissions for running as an arbitrary user (same as upstream)
( cd "$app" && chmod -R ugo=rwX config db log public/assets sqlite tmp Gemfile.lock \
	&& find config db log public/assets sqlite tmp -type d -exec chmod 1777 '{}' + )
# files/ should look "already correct" to the entrypoint (redmine:755) so it skips the scan
chmod 755 "$app/files"

# --- slim down -------------------------------------------------------------------------------
rm -rf "$root/var/lib/redmine/Gemfile.lock" \
	"$root/var/cache/debconf/"*-old \
	"$root/var/lib/dpkg/"*-old \
	"$root/var/log/apt/"* "$root/var/log/dpkg.log" "$root/var/log/alternatives.log" \
	"$root/var/cache/ldconfig/aux-cache"
# the image has no init; a fixed machine-id is wrong for containers
: > "$root/etc/machine-id" 2>/dev/null || true
