#!/usr/bin/env bash
# Measures the Redmine stack on the debian profile and prints a table; asserts nothing.
#   cold build: every stackctl image and the stack's volumes removed first; 'base build
#         all' (mmdebstrap + import of the three bases), then 'up redmine --no-wait'
#         (image builds, containers created and started; for the same depends_on reason
#         this includes Redmine's first migration of an empty database)
#   first boot: then 'up redmine' (migrations of an empty database, first-start
#         configuration, first page through nginx)
#   theme change: one theme file changed; 'up redmine --no-wait' (theme layer rebuilt,
#         Redmine recreated), then the time until Redmine answers through nginx again.
#         nginx depends on Redmine being healthy, so compose returns only once the new
#         Redmine has started: the first figure includes Redmine's start-up, the second
#         is what is left after it (near zero).
#   warm: 'up redmine' with nothing changed, until the first page answers
# It runs on a temporary copy of the project, so the theme change never touches the checkout.
# Usage: bench/redmine.sh [RUNS]   (theme and warm runs repeated RUNS times; default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=$(mktemp -d)
export STACKCTL_STATE_DIR=$work/state STACKCTL_ROOT=$work/root
trap '"$work/stackctl" down redmine --volumes >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
go build -o "$work/stackctl" ./cmd/stackctl
mkdir -p "$work/root"
cp -r stacks themes .dockerignore "$work/root/"
s() { "$work/stackctl" "$@" >/dev/null 2>>"$work/log" || { tail -30 "$work/log" >&2; exit 1; }; }
timed() { local t0 t1; t0=$(date +%s.%N); "$@"; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
row() { printf '%-58s %8.1f\n' "$1" "$2"; }

"$work/stackctl" down redmine --volumes >/dev/null 2>&1 || true
docker image rm -f stackctl/redmine:debian stackctl/nginx:debian stackctl/base-redmine:trixie \
	stackctl/base-postgres:trixie stackctl/base-nginx:trixie >/dev/null 2>&1 || true
printf '%-58s %8s\n' "measure" "seconds"
url=http://127.0.0.1:18199/
bases=$(timed s base build all)
row "cold build: base build all (3 bases from the mirror)" "$bases"
images=$(timed s up redmine --base debian --listen 127.0.0.1:18199 --no-wait)
row "cold build: image builds, containers created" "$images"
row "cold build: total" "$(echo "$bases + $images" | bc)"
row "first boot: migrations, configuration, first page" "$(timed s up redmine --timeout 20m)"
answers() { until curl -fso /dev/null "$url"; do sleep 0.2; done; }
for i in $(seq "$runs"); do
	echo "/* bench run $i */" >>"$work/root/themes/harbor/stylesheets/application.css"
	row "theme change: rebuild theme layer, recreate redmine" "$(timed s up redmine --no-wait)"
	row "theme change: then until Redmine answers again" "$(timed answers)"
done
for _ in $(seq "$runs"); do
	row "warm: up redmine, nothing changed, to first page" "$(timed s up redmine)"
done
echo
for img in stackctl/base-nginx:trixie stackctl/base-redmine:trixie stackctl/base-postgres:trixie stackctl/nginx:debian stackctl/redmine:debian; do
	printf '%-58s %8s\n' "$img" "$(docker image inspect -f '{{.Size}}' "$img" | awk '{printf "%.1f MB", $1/1e6}')"
done
