# Helpers shared by the bench scripts; sourced, never run. A script sets work (its
# temporary directory, holding the stackctl it built) before calling them, and
# chooses how s treats stackctl's output and failures:
#   s_log    file stackctl's stderr is appended to (default $work/log)
#   s_quiet  when set, stackctl's stdout is discarded too
#   s_fatal  when set, a failing stackctl prints the log's last 30 lines and exits
#            the script (or the command substitution it runs in); otherwise s
#            returns stackctl's status

# s ARGS...: the stackctl under test.
s() {
	local log=${s_log:-$work/log} rc=0
	if [ -n "${s_quiet:-}" ]; then
		"$work/stackctl" "$@" >/dev/null 2>>"$log" || rc=$?
	else
		"$work/stackctl" "$@" 2>>"$log" || rc=$?
	fi
	if [ "$rc" -ne 0 ] && [ -n "${s_fatal:-}" ]; then
		tail -30 "$log" >&2
		exit 1
	fi
	return "$rc"
}

# timed CMD...: the seconds CMD takes, its stdout discarded.
timed() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@" >/dev/null
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
}

# image_mb IMAGE: the image's size in MB, as the engine reports it.
image_mb() {
	docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.1f MB", $1/1e6}'
}

# A bench runs its stacks as an instance of its own (docs/site.md): its
# containers, volumes and images are named apart from an operator's stack on
# the same engine, which its 'down --volumes' must never reach.
export STACKCTL_INSTANCE=bench
# project is the compose project of the bench's Redmine stack.
project=stackctl-redmine-$STACKCTL_INSTANCE

# redmine_bench: sets up a bench of the Redmine stack: work, a temporary
# directory holding a private state directory (STACKCTL_STATE_DIR), a copy of
# the project as the site (STACKCTL_DIR) and the stackctl under test, built
# from this checkout. On exit the stack goes down with its volumes, then the
# script's own bench_cleanup runs (when it defines one), then work goes.
redmine_bench() {
	work=$(mktemp -d)
	export STACKCTL_STATE_DIR=$work/state STACKCTL_DIR=$work/root
	trap '"$work/stackctl" down redmine --volumes >/dev/null 2>&1 || true
		if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
		rm -rf "$work"' EXIT
	go build -o "$work/stackctl" ./cmd/stackctl
	mkdir -p "$work/root"
	cp -r stacks themes .dockerignore "$work/root/"
}
