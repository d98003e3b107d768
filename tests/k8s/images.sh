#!/bin/bash
# Make the cluster's own images, since no registry is reachable: static C
# programs from tests/k8s/image/, each packed FROM scratch with podman and
# saved as a docker archive for `ctr -n k8s.io images import`. Root (podman).
#
#   images.sh OUTDIR [DEMO_APP]
#     OUTDIR/pause.tar     localhost/ndt-k8s/pause:1     the pod sandbox
#     OUTDIR/tinyhttp.tar  localhost/ndt-k8s/tinyhttp:1  the smoke test's server
#     OUTDIR/demo.tar      localhost/ndt-k8s/demo:1      with DEMO_APP (the
#         e2e's app, build/tests/servers/demo_app): the binary and the shared
#         libraries ldd names, nothing else: no shell, no /etc/passwd; it runs
#         as uid 10001, not the agent's 65532
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: images.sh OUTDIR}
mkdir -p "$out"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# pack NAME SRC USER ENTRYPOINT: $ctx/SRC copied FROM scratch to /, saved
# as OUTDIR/NAME.tar (localhost/ndt-k8s/NAME:1)
pack() {
	local ref=localhost/ndt-k8s/$1:1
	cat >"$ctx/Containerfile" <<EOT
FROM scratch
COPY $2 /
USER $3:$3
ENTRYPOINT ["$4"]
EOT
	podman build -q -t "$ref" -f "$ctx/Containerfile" "$ctx" >/dev/null
	rm -f "$out/$1.tar"
	podman save -q --format docker-archive -o "$out/$1.tar" "$ref"
	echo "$out/$1.tar"
}

for name in pause tinyhttp; do
	rm -rf "${ctx:?}"/*
	gcc -static -Os -s -Wall -Wextra -Wconversion -Werror \
	    -o "$ctx/$name" "$here/image/$name.c"
	pack "$name" "$name" 65535 "/$name"
done

demo=${2:-}
[ -n "$demo" ] || exit 0
rm -rf "${ctx:?}"/*
mkdir -p "$ctx/root"
cp "$demo" "$ctx/root/demo_app"
# every library at the path the dynamic loader looks for it (ldd's
# "name => /path (addr)" lines, and the loader's own "/path (addr)")
ldd "$demo" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
    while read -r lib; do
	mkdir -p "$ctx/root$(dirname "$lib")"
	cp -L "$lib" "$ctx/root$lib"
done
pack demo root/ 10001 /demo_app
