#!/bin/bash
# Make the cluster's own images, since no registry is reachable: static C
# programs from tests/k8s/image/, each packed FROM scratch with podman and
# saved as a docker archive for `ctr -n k8s.io images import`. Root (podman).
#
#   images.sh OUTDIR
#     OUTDIR/pause.tar     localhost/ndt-k8s/pause:1     the pod sandbox
#     OUTDIR/tinyhttp.tar  localhost/ndt-k8s/tinyhttp:1  the smoke test's server
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: images.sh OUTDIR}
mkdir -p "$out"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

for name in pause tinyhttp; do
	ref=localhost/ndt-k8s/$name:1
	rm -rf "${ctx:?}"/*
	gcc -static -Os -s -Wall -Wextra -Wconversion -Werror \
	    -o "$ctx/$name" "$here/image/$name.c"
	cat >"$ctx/Containerfile" <<EOT
FROM scratch
COPY $name /$name
USER 65535:65535
ENTRYPOINT ["/$name"]
EOT
	podman build -q -t "$ref" -f "$ctx/Containerfile" "$ctx" >/dev/null
	rm -f "$out/$name.tar"
	podman save -q --format docker-archive -o "$out/$name.tar" "$ref"
	echo "$out/$name.tar"
done
