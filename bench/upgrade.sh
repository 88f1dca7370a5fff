#!/usr/bin/env bash
# A theme change and an upgrade of a populated Redmine, with a probe every 100 ms.
# Prints a table; asserts nothing.
#   data: ISSUES issues (default 1000) with a custom field, five wiki pages, and
#         50 MB of attachments, on Redmine 6.0.5 / PostgreSQL 17 (debian profile)
#   theme change: one line appended to the harbor theme, then 'stackctl up': the
#         whole command, the image rebuild in it, the new Redmine's start (from its
#         container's start to its first passing health check: the target is the
#         rebuild plus this one start), and the probe's failed requests (target: none)
#   upgrade: 'stackctl upgrade --to 6.1.5' (PostgreSQL 18): the whole command, the
#         maintenance window as stackctl measured it, the probe's maintenance pages
#         (HTTP 503, our page) and failures (anything else; target: none)
#   rollback: 'stackctl rollback' to 6.0.5: the whole command and the probe's failures
# Usage: bench/upgrade.sh [ISSUES]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
issues=${1:-1000}
redmine_bench
export STACKCTL_BACKUP_DIR=$work/backups
s_fatal=1
row() { printf '%-62s %10s\n' "$1" "$2"; }
base=http://127.0.0.1:18199
# probe URL OUT: GETs URL every 100 ms until killed, one line per request: its
# status, "maintenance" for our 503 page, 000 for no answer.
probe() {
	while :; do
		code=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 5 "$1" || true)
		if [ "$code" = 503 ] && grep -q "down for maintenance" "$work/body"; then code=maintenance; fi
		echo "$code" >>"$2"
		sleep 0.1
	done
}
count() { grep -c "$2" "$1" || true; }

"$work/stackctl" down redmine --volumes >/dev/null 2>&1 || true
s up redmine --profile debian --listen 127.0.0.1:18199 --timeout 20m >/dev/null
pw=$(cat "$STACKCTL_STATE_DIR/instances/$STACKCTL_INSTANCE/redmine/secrets/admin_password")
api() { curl -fsS -u "admin:$pw" -H 'Content-Type: application/json' "$@"; }
redmine=$(docker ps -qf label=com.docker.compose.project=$project -f label=com.docker.compose.service=redmine)
docker exec "$redmine" /docker-entrypoint.sh rails runner \
	'IssueCustomField.create!(name: "Berth", field_format: "string", is_for_all: true, trackers: Tracker.all)' >/dev/null
berth=$(api "$base/custom_fields.json" | grep -oP '"id":\K[0-9]+(?=,"name":"Berth")')
api -X POST "$base/projects.json" -d '{"project":{"name":"Lighthouse","identifier":"lighthouse"}}' >/dev/null
for i in $(seq 10); do
	head -c 5M /dev/urandom >"$work/att"
	token=$(curl -fsS -u "admin:$pw" -H 'Content-Type: application/octet-stream' --data-binary @"$work/att" \
		"$base/uploads.json?filename=photo-$i.bin" | grep -oP '"token":"\K[^"]+')
	api -X POST "$base/issues.json" -d "{\"issue\":{\"project_id\":\"lighthouse\",\"subject\":\"Photos $i\",\"uploads\":[{\"token\":\"$token\",\"filename\":\"photo-$i.bin\"}]}}" >/dev/null
done
seq "$issues" | xargs -P 4 -I{} curl -fsS -o /dev/null -u "admin:$pw" -H 'Content-Type: application/json' -X POST "$base/issues.json" \
	-d "{\"issue\":{\"project_id\":\"lighthouse\",\"subject\":\"Buoy {} needs a new lamp\",\"custom_fields\":[{\"id\":$berth,\"value\":\"Berth {}\"}]}}"
for i in $(seq 5); do api -X PUT "$base/projects/lighthouse/wiki/Log_$i.json" -d "{\"wiki_page\":{\"text\":\"h1. Log $i\"}}" >/dev/null; done
s check-theme --theme harbor --apply >/dev/null
row "issues" "$(api "$base/issues.json?limit=1" | grep -oP '"total_count":\K[0-9]+')"
echo
row "measure" "seconds"

# Theme change.
echo "/* bench: $(date +%s) */" >>"$work/root/themes/harbor/stylesheets/application.css"
: >"$work/probe"
probe "$base/projects/lighthouse" "$work/probe" &
pid=$!
: >"$work/log"
up=$(timed s up redmine --timeout 20m)
kill "$pid"; wait "$pid" 2>/dev/null || true
new=$(docker ps -qf label=com.docker.compose.project=$project -f label=com.docker.compose.service=redmine-b)
started=$(docker inspect -f '{{.State.StartedAt}}' "$new")
healthy=$(docker inspect -f '{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{.Start}}{{"\n"}}{{end}}{{end}}' "$new" | head -1)
# The engine writes "2026-11-30 14:23:02.2 +0000 UTC" and "2026-11-30T14:22:40.1Z": date takes both without the zone's name.
start=$(echo "$(date -d "${healthy% UTC}" +%s.%N) - $(date -d "$started" +%s.%N)" | bc)
row "theme change: stackctl up, whole command" "$(printf '%.1f' "$up")"
row "theme change: of which the new Redmine's start to healthy" "$(printf '%.1f' "$start")"
row "theme change: probe requests failed" "$(grep -vc '^200$' "$work/probe" || true)"
grep -v '^200$' "$work/probe" | sort | uniq -c | sed 's/^/  failed: /' || true

# Upgrade.
: >"$work/probe"
probe "$base/projects/lighthouse" "$work/probe" &
pid=$!
: >"$work/log"
upgrade=$(timed s upgrade redmine --to 6.1.5 --yes --timeout 20m)
kill "$pid"; wait "$pid" 2>/dev/null || true
window=$(grep -oP 'maintenance lasted \K[0-9.hms]+' "$work/log" | tail -1)
row "upgrade to 6.1.5 / PostgreSQL 18: whole command" "$(printf '%.1f' "$upgrade")"
row "upgrade: maintenance window (stackctl's measure)" "$window"
row "upgrade: probe answers with the maintenance page" "$(count "$work/probe" '^maintenance$')"
row "upgrade: probe requests failed (not 200, not our page)" "$(grep -vcE '^(200|maintenance)$' "$work/probe" || true)"

# Rollback.
: >"$work/probe"
probe "$base/projects/lighthouse" "$work/probe" &
pid=$!
rollback=$(timed s rollback redmine --timeout 20m)
kill "$pid"; wait "$pid" 2>/dev/null || true
row "rollback to 6.0.5 / PostgreSQL 17: whole command" "$(printf '%.1f' "$rollback")"
row "rollback: probe requests failed" "$(grep -vc '^200$' "$work/probe" || true)"
grep -v '^200$' "$work/probe" | sort | uniq -c | sed 's/^/  failed: /' || true
