#!/usr/bin/env bash
# The Redmine stack's front under load, and its TLS configuration as a scanner sees it.
# Prints a table and the scanner's findings; asserts nothing.
#   wrk, 32 connections, 10 s: a digested stylesheet (/assets/application-<digest>.css),
#        which nginx serves from its cache after the first request
#   wrk, 8 connections, 10 s: /login, rendered by Redmine's Puma every time
#   memory: each container's, as the engine reports it, after the load
#   TLS: the same stack with tls.mode self-signed, scanned by sslscan on loopback
# Needs wrk and sslscan (Debian: apt-get install wrk sslscan); not installed by
# scripts/bootstrap, since no test needs them.
# Usage: bench/front.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
for tool in wrk sslscan; do
	command -v "$tool" >/dev/null || { echo "bench/front.sh needs $tool: apt-get install wrk sslscan" >&2; exit 1; }
done
redmine_bench
s_fatal=1
row() { printf '%-62s %12s\n' "$1" "$2"; }
# rps URL CONNECTIONS: wrk's requests per second, and how many answers were not 2xx/3xx.
rps() {
	local out
	out=$(wrk -t2 -c"$2" -d10s "$1")
	echo "$(echo "$out" | awk '/Requests\/sec/ {print $2}') $(echo "$out" | awk '/Non-2xx/ {print $5}')"
}

"$work/stackctl" down redmine --volumes >/dev/null 2>&1 || true
s up redmine --profile debian --listen 127.0.0.1:18199 --timeout 20m >/dev/null
base=http://127.0.0.1:18199
css=$(curl -fsS "$base/login" | grep -oE '/assets/application-[0-9a-f]{7,}\.css' | head -1)
row "stylesheet" "$css"
row "stylesheet: Cache-Control" "$(curl -fsSI "$base$css" | tr -d '\r' | awk -F': ' 'tolower($1)=="cache-control" {print $2}')"
echo
row "measure" "value"
read -r r bad <<<"$(rps "$base$css" 32)"
row "wrk -c32, digested stylesheet: requests/s" "$r"
row "wrk -c32, digested stylesheet: answers not 2xx/3xx" "${bad:-0}"
read -r r bad <<<"$(rps "$base/login" 8)"
row "wrk -c8, /login: requests/s" "$r"
row "wrk -c8, /login: answers not 2xx/3xx" "${bad:-0}"
while read -r name mem; do
	row "memory after the load: ${name#"$project"-}" "$mem"
done < <(docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' $(docker ps -q --filter label=com.docker.compose.project="$project") | awk '{print $1, $2}')

# The same stack over HTTPS, self-signed, scanned on loopback.
cat >"$work/root/stackctl.yaml" <<'EOF'
version: 1
url: https://localhost:18443
listen: 127.0.0.1:18443
http_listen: 127.0.0.1:18199
tls:
  mode: self-signed
EOF
s up redmine --timeout 20m >/dev/null
echo
echo "sslscan 127.0.0.1:18443 (tls.mode self-signed):"
sslscan --no-colour --sni-name=localhost 127.0.0.1:18443 |
	grep -E 'SSLv|TLSv|Preferred|Accepted|Heartbleed|Compression|renegotiation|Signature Algorithm|RSA Key|ECC Curve' || true
