#!/bin/bash
# Make the cluster's own images, since no registry is reachable: a static
# pause (tests/k8s/image/pause.c) packed FROM scratch with podman, saved as a
# docker archive. Prints the archive's path. Root (podman).
#
#   images.sh OUTDIR     -> OUTDIR/pause.tar, image localhost/ndt-k8s/pause:1
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: images.sh OUTDIR}
ref=localhost/ndt-k8s/pause:1
mkdir -p "$out"
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

gcc -static -Os -s -Wall -Wextra -Werror -o "$ctx/pause" "$here/image/pause.c"
cat >"$ctx/Containerfile" <<'EOF'
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
EOF
podman build -q -t "$ref" -f "$ctx/Containerfile" "$ctx" >/dev/null
rm -f "$out/pause.tar"
podman save -q --format docker-archive -o "$out/pause.tar" "$ref"
echo "$out/pause.tar"
