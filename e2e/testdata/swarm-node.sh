#!/bin/sh
# Runs one node of the e2e swarm: a forwarder that makes the test's registry a
# loopback one, then dockerd on its own storage, listening on the private network.
set -eu

# dockerd allows plain HTTP only to loopback registries, and the test pushes the
# image from the host engine as 127.0.0.1:PORT: the same reference must work here.
if [ -n "${REGISTRY_UPSTREAM:-}" ]; then
	socat "TCP-LISTEN:${REGISTRY_UPSTREAM##*:},bind=127.0.0.1,fork,reuseaddr" "TCP:$REGISTRY_UPSTREAM" &
fi

# overlay2 when the kernel mounts overlayfs on this volume, vfs (copies, slow, always works) when not.
driver=${STORAGE_DRIVER:-}
if [ -z "$driver" ]; then
	driver=vfs
	p=/var/lib/docker/overlay-probe
	mkdir -p "$p/lower" "$p/upper" "$p/work" "$p/merged"
	if mount -t overlay overlay -o "lowerdir=$p/lower,upperdir=$p/upper,workdir=$p/work" "$p/merged" 2>/dev/null; then
		umount "$p/merged"
		driver=overlay2
	fi
	rm -rf "$p"
fi

# The tasks' cgroups go under this container's own (not "tasks", a file in every v1
# cgroup), so its stats count what the node runs.
parent=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' /proc/self/cgroup)

# The engine mounts /proc/sys read-only in a container that is not privileged, so
# dockerd cannot turn IPv6 off on the overlay's bridge; without this it refuses
# to join a task to an overlay network at all.
export DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE=1

# --tls=false says plain TCP is meant (a private network), which spares dockerd's warning delay.
exec dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false \
	--storage-driver="$driver" --cgroup-parent="${parent%/}/swarm" --log-level=warn
