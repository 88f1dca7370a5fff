#!/usr/bin/env bash
# Measures the Redmine stack on the debian profile and prints a table; asserts nothing.
#   cold build: every stackctl image and the stack's volumes removed first; 'base build
#         all' (mmdebstrap + import of the three bases), then 'up redmine --no-wait'
#         (image builds, containers created and started; for the same depends_on reason
#         this includes Redmine's first migration of an empty database)
#   first boot: then 'up redmine' (migrations of an empty database, first-start
#         configuration, first page through nginx)
#   theme change: one theme file changed, then 'up redmine', split where the engine's
#         own timestamps allow: the theme layer rebuilt (until the new image exists),
#         Redmine recreated (until its new container runs), then Redmine's start-up
#         until it answers through nginx again (Rails booting; bench/redmine-boot.sh
#         shows how much of that the storage driver costs), and the whole.
#   warm: 'up redmine' with nothing changed, until the first page answers
# It runs on a temporary copy of the project, so the theme change never touches the checkout.
# Usage: bench/redmine.sh [RUNS]   (theme and warm runs repeated RUNS times; default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
redmine_bench
# s discards stackctl's stdout; a failure ends the run with the log's tail.
s_quiet=1 s_fatal=1
row() { printf '%-58s %8.1f\n' "$1" "$2"; }

"$work/stackctl" down redmine --volumes >/dev/null 2>&1 || true
docker image rm -f stackctl/redmine:debian-$STACKCTL_INSTANCE stackctl/nginx:debian-$STACKCTL_INSTANCE stackctl/base-redmine:trixie \
	stackctl/base-postgres:trixie stackctl/base-nginx:trixie >/dev/null 2>&1 || true
printf '%-58s %8s\n' "measure" "seconds"
url=http://127.0.0.1:18199/
bases=$(timed s base build all)
row "cold build: base build all (3 bases from the mirror)" "$bases"
images=$(timed s up redmine --profile debian --listen 127.0.0.1:18199 --no-wait)
row "cold build: image builds, containers created" "$images"
row "cold build: total" "$(echo "$bases + $images" | bc)"
row "first boot: migrations, configuration, first page" "$(timed s up redmine --timeout 20m)"
answers() { until curl -fso /dev/null "$url"; do sleep 0.1; done; }
# since T0 TIMESTAMP: seconds from T0 (date +%s.%N) to an RFC 3339 timestamp of the engine's.
since() { echo "$(date -d "$2" +%s.%N) - $1" | bc; }
for i in $(seq "$runs"); do
	echo "/* bench run $i */" >>"$work/root/themes/harbor/stylesheets/application.css"
	t0=$(date +%s.%N)
	s up redmine --no-wait
	answers
	t1=$(date +%s.%N)
	built=$(docker image inspect -f '{{.Created}}' stackctl/redmine:debian-$STACKCTL_INSTANCE)
	id=$(docker ps -q --filter label=com.docker.compose.project=$project --filter label=com.docker.compose.service=redmine)
	started=$(docker inspect -f '{{.State.StartedAt}}' "$id")
	row "theme change: theme layer rebuilt (new image)" "$(since "$t0" "$built")"
	row "theme change: + Redmine recreated (new container running)" "$(since "$t0" "$started")"
	row "theme change: then Redmine's start, until it answers" "$(echo "$t1 - $(date -d "$started" +%s.%N)" | bc)"
	row "theme change: total, until Redmine answers again" "$(echo "$t1 - $t0" | bc)"
done
for _ in $(seq "$runs"); do
	row "warm: up redmine, nothing changed, to first page" "$(timed s up redmine)"
done
echo
for img in stackctl/base-nginx:trixie stackctl/base-redmine:trixie stackctl/base-postgres:trixie stackctl/nginx:debian-$STACKCTL_INSTANCE stackctl/redmine:debian-$STACKCTL_INSTANCE; do
	printf '%-58s %8s\n' "$img" "$(image_mb "$img")"
done
