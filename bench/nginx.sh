#!/usr/bin/env bash
# Measures the nginx stack on the debian profile: cold and warm 'stackctl base build
# nginx', cold and warm 'stackctl up nginx', and the image sizes. Cold means the
# images are removed first. It prints a table; it asserts nothing.
# Usage: bench/nginx.sh [RUNS]   (default 1; warm runs are repeated RUNS times)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-1}
work=$(mktemp -d)
trap 'STACKCTL_STATE_DIR=$work/state "$work/stackctl" down nginx >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
go build -o "$work/stackctl" ./cmd/stackctl
export STACKCTL_STATE_DIR=$work/state
listen=127.0.0.1:18099
# s discards stackctl's stdout and returns its status: 'down' may fail on an empty engine.
s_quiet=1

s down nginx --volumes || true
docker image rm -f stackctl/nginx:debian-$STACKCTL_INSTANCE stackctl/base-nginx:trixie >/dev/null 2>&1 || true
printf '%-44s %s\n' "measure" "seconds"
printf '%-44s %.1f\n' "base build nginx, cold (mmdebstrap + import)" "$(timed s base build nginx)"
for _ in $(seq "$runs"); do
	printf '%-44s %.2f\n' "base build nginx, warm (recipe unchanged)" "$(timed s base build nginx)"
done
printf '%-44s %.1f\n' "up nginx, cold image (base present)" "$(timed s up nginx --profile debian --listen $listen)"
for _ in $(seq "$runs"); do
	printf '%-44s %.2f\n' "up nginx, warm (nothing changed)" "$(timed s up nginx)"
done
s down nginx --volumes
docker image rm -f stackctl/nginx:debian-$STACKCTL_INSTANCE stackctl/base-nginx:trixie >/dev/null 2>&1 || true
printf '%-44s %.1f\n' "up nginx from an empty engine (base + image)" "$(timed s up nginx --profile debian --listen $listen)"
echo
printf '%-44s %s\n' "stackctl/base-nginx:trixie" "$(image_mb stackctl/base-nginx:trixie)"
printf '%-44s %s\n' "stackctl/nginx:debian-$STACKCTL_INSTANCE" "$(image_mb stackctl/nginx:debian-$STACKCTL_INSTANCE)"
