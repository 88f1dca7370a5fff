#!/usr/bin/env bash
# Re-runs, in order, every command docs/container-vs-image.md shows, on this
# project's own images, and prints each command before its output. Needs the nginx
# image: 'stackctl up nginx --profile debian' (or 'stackctl base build nginx' and a
# docker build of stacks/nginx) builds stackctl/nginx:debian. Cleans up after itself.
set -euo pipefail
# run CMD: print the command exactly as it runs, then run it.
run() { printf '\n$ %s\n' "$1"; eval "$1"; }
cleanup() { docker rm -f stackctl-doc-a stackctl-doc-b >/dev/null 2>&1 || true; docker image rm stackctl-doc/nginx:committed >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

echo "## 1. An image is a stack of read-only layers"
run 'docker image ls --format '\''table {{.Repository}}:{{.Tag}}\t{{.ID}}\t{{.Size}}'\'' stackctl/base-nginx:trixie'
run 'docker image ls --format '\''table {{.Repository}}:{{.Tag}}\t{{.ID}}\t{{.Size}}'\'' stackctl/nginx:debian'
run 'docker history --format '\''table {{.ID}}\t{{.Size}}\t{{.CreatedBy}}'\'' stackctl/nginx:debian'
run 'docker image inspect -f '\''{{range .RootFS.Layers}}{{println .}}{{end}}'\'' stackctl/base-nginx:trixie'
run 'docker image inspect -f '\''{{range .RootFS.Layers}}{{println .}}{{end}}'\'' stackctl/nginx:debian'

echo "## 2. One image, many containers, each with its own writable layer"
run 'docker run -d --name stackctl-doc-a stackctl/nginx:debian'
run 'docker run -d --name stackctl-doc-b stackctl/nginx:debian'
run 'docker exec -u 0 stackctl-doc-a sh -c "echo '\''<h1>changed in container a</h1>'\'' > /usr/share/stackctl/www/index.html && echo note > /root/written-in-a"'
run 'docker diff stackctl-doc-a'
run 'docker diff stackctl-doc-b'
run 'docker exec stackctl-doc-a head -c 40 /usr/share/stackctl/www/index.html'
echo
run 'docker exec stackctl-doc-b head -c 40 /usr/share/stackctl/www/index.html'
echo

echo "## 3. Copy-on-write: the changed file was copied up; the image's copy is untouched"
run 'docker inspect -f '\''{{.GraphDriver.Name}}'\'' stackctl-doc-a'
run 'upper=$(docker inspect -f "{{.GraphDriver.Data.UpperDir}}" stackctl-doc-a); echo "$upper"'
run 'find "$upper" -type f'
run 'docker run --rm stackctl/nginx:debian head -c 40 /usr/share/stackctl/www/index.html'
echo

echo "## 4. docker commit turns a container's writable layer into a new image layer"
run 'docker commit -m "the page changed by hand" stackctl-doc-a stackctl-doc/nginx:committed'
run 'docker history --format '\''table {{.ID}}\t{{.Size}}\t{{.Comment}}'\'' stackctl-doc/nginx:committed'
run 'docker image inspect -f '\''{{len .RootFS.Layers}} layers'\'' stackctl/nginx:debian'
run 'docker image inspect -f '\''{{len .RootFS.Layers}} layers'\'' stackctl-doc/nginx:committed'
run 'docker run --rm stackctl-doc/nginx:committed head -c 40 /usr/share/stackctl/www/index.html'
echo

echo "## 5. Removing a container removes its writable layer, not the image"
run 'docker rm -f stackctl-doc-a'
run 'docker run --rm stackctl/nginx:debian head -c 40 /usr/share/stackctl/www/index.html'
echo

echo "## 6. A container is processes on the host's kernel, not a machine"
run 'uname -r'
run 'docker exec stackctl-doc-b uname -r'
run 'docker exec stackctl-doc-b busybox ps -o pid,user,args'
run 'docker top stackctl-doc-b -o pid,user,args'
run 'docker info -f "cgroup v{{.CgroupVersion}}"'
run 'docker run --rm --memory 64m --pids-limit 32 stackctl/nginx:debian cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max'
