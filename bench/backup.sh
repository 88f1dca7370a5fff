#!/usr/bin/env bash
# Backup and restore of a 1 GiB Redmine files volume: stackctl against the plain
# method of Docker's documentation (a throwaway container running tar czf over the
# volume, and tar xzf into an empty one), on the same data in the same run. Prints
# a table; asserts nothing.
#   data: 1 GiB in the files volume, half random bytes (photos, PDFs, archives: what
#         compresses no further) and half base64 text (mail exports, logs), 8 MiB files
#   ours: 'stackctl backup-volumes' (the database dump and the plugins volume too), and
#         'stackctl restore-volumes' into a new generation beside the running stack:
#         the whole command (building nothing, starting the new generation and
#         switching nginx over included), and its one pass over the archive, which
#         checks and writes the database, files and plugins as it reports it
#   plain: 'tar czf' over the volume in a container of the stack's own Redmine image
#         (no image can be pulled here; its GNU tar and gzip are the usual ones), then
#         'tar xzf' into a new, empty volume
#   probe: a GET of Redmine's login page through nginx every 100 ms during each
#         restore, counting the requests that failed (target: none)
#   restores: repeated ROUNDS times, each from a synced disk, the generation it
#         replaced pruned before the next; ours reports when each entry started,
#         which gives the files volume's own time
# Usage: bench/backup.sh [GiB] [ROUNDS]   (defaults 1 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
gib=${1:-1}
rounds=${2:-3}
bench_cleanup() { docker volume rm -f stackctl-bench-plain >/dev/null 2>&1 || true; }
redmine_bench
mkdir -p "$work/ours" "$work/plain"
# s keeps stackctl's stdout (timed discards it); a failure ends the run with the log's tail.
s_fatal=1
row() { printf '%-62s %10s\n' "$1" "$2"; }
mb() { du -b "$1" | awk '{printf "%.1f MB", $1/1e6}'; }

"$work/stackctl" down redmine --volumes >/dev/null 2>&1 || true
s up redmine --profile debian --listen 127.0.0.1:18198 --timeout 20m >/dev/null
redmine=$(docker ps -qf label=com.docker.compose.project=$project -f label=com.docker.compose.service=redmine)
image=$(docker inspect -f '{{.Config.Image}}' "$redmine")
n=$((gib * 64))
docker exec "$redmine" sh -ec "
	mkdir -p files/bench && cd files/bench
	for i in \$(seq $n); do head -c 8M /dev/urandom > photo-\$i.bin; done
	for i in \$(seq $n); do head -c 6M /dev/urandom | base64 -w 76 | head -c 8M > export-\$i.txt; done
	chown -R 999:999 ." 
data=$(docker exec "$redmine" du -sb files | cut -f1)
row "files volume" "$(echo "$data" | awk '{printf "%.1f MB", $1/1e6}')"
echo
row "measure" "seconds"
ours_b=$(timed s backup-volumes --out "$work/ours")
archive=$(ls "$work"/ours/redmine-*.tar.zst)
plain_b=$(timed docker run --rm --volumes-from "$redmine" -v "$work/plain:/backup" --entrypoint tar "$image" \
	czf /backup/files.tar.gz -C /usr/src/redmine/files .)
row "backup: stackctl backup-volumes" "$(printf '%.1f' "$ours_b")"
row "backup: plain tar czf in a container" "$(printf '%.1f' "$plain_b")"
row "backup: speed-up" "$(printf '%.1f' "$(echo "scale=2; $plain_b / $ours_b" | bc)")x"

# Each restore starts from a synced disk, so neither inherits the other's writeback.
phase() { grep -oP "^$1 \S+: .* read in \K[0-9.]+(?=s)" "$work/log" | tail -1; }
at() { grep -oP "^restore \S+: $1\S*, at \K[0-9.]+(?=s)" "$work/log" | tail -1; }
# probe URL: GETs URL every 100 ms until killed, printing one line per failed request.
probe() {
	while :; do
		curl -fsS -o /dev/null --max-time 5 "$1" 2>&1 | head -1 || true
		sleep 0.1
	done
}
for round in $(seq "$rounds"); do
	echo
	docker volume rm -f stackctl-bench-plain >/dev/null
	docker volume create stackctl-bench-plain >/dev/null
	sync
	plain_r=$(timed docker run --rm -v stackctl-bench-plain:/restore -v "$work/plain:/backup" --entrypoint tar "$image" \
		xzf /backup/files.tar.gz -C /restore)
	s prune redmine --keep 1 --yes >/dev/null
	sync
	: >"$work/log"
	probe http://127.0.0.1:18198/login >"$work/probe" &
	probe_pid=$!
	ours_r=$(timed s restore-volumes --yes "$archive" --timeout 20m)
	kill "$probe_pid"
	wait "$probe_pid" 2>/dev/null || true
	entries=$(phase restore)
	files=$(echo "$(at redmine-plugins) - $(at redmine-files)" | bc)
	row "restore $round: stackctl restore-volumes, whole command" "$(printf '%.1f' "$ours_r")"
	row "restore $round: stackctl, one pass (database, files, plugins)" "$entries"
	row "restore $round: stackctl, of which the files volume" "$(printf '%.1f' "$files")"
	row "restore $round: plain tar xzf into an empty volume" "$(printf '%.1f' "$plain_r")"
	row "restore $round: speed-up, plain / one pass" "$(printf '%.1f' "$(echo "scale=2; $plain_r / $entries" | bc)")x"
	row "restore $round: speed-up, plain / files volume" "$(printf '%.1f' "$(echo "scale=2; $plain_r / $files" | bc)")x"
	row "restore $round: probe requests failed during the restore" "$(grep -c . "$work/probe" || true)"
done
echo
row "archive: stackctl (.tar.zst, all volumes + database)" "$(mb "$archive")"
row "archive: plain (.tar.gz, files volume only)" "$(mb "$work/plain/files.tar.gz")"
