#!/bin/bash
# Build the upstream Kubernetes components and etcd that the real-cluster e2e
# runs, from the wrapper module in tests/k8s/build/, into a cache outside the
# repository:
#
#   ${NDT_K8S_CACHE:-~/.cache/nodowntime-k8s}/<k8s version>-<sha of go.sum>/bin/
#
# Nothing is built when that directory already holds every binary. Progress
# goes to stderr; stdout gets one line, the bin directory, so a caller can do
# BIN=$(tests/k8s/build.sh).
#
# Environment:
#   NDT_K8S_CACHE  cache root (default ${XDG_CACHE_HOME:-~/.cache}/nodowntime-k8s)
#   NDT_NICE       command prefix for the heavy steps
#                  (default "nice -n 19 ionice -c3"; set it empty for full speed)
#   GOMODCACHE, GOCACHE  as usual; point them at empty dirs to measure a cold build
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
mod=$here/build
bins="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd"

say() { printf 'k8s-build: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# the Go of this machine kind lives in /usr/local/go, not always on PATH
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "no go on PATH nor in /usr/local/go/bin (the machine's Go builds upstream Kubernetes: https://go.dev/dl)"

# The versions are the wrapper's go.mod, nothing else.
kver=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod")
ever=$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod")
[ -n "$kver" ] && [ -n "$ever" ] || die "cannot read the versions from $mod/go.mod"
sum=$(sha256sum "$mod/go.sum" | cut -c1-12)
root=${NDT_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nodowntime-k8s}
dir=$root/$kver-$sum
bin=$dir/bin

have_all() {
	local b
	for b in $bins; do [ -x "$bin/$b" ] || return 1; done
}

if have_all; then
	say "cached: kubernetes $kver, etcd $ever in $bin (nothing built)"
	echo "$bin"
	exit 0
fi

mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9					# one build of a key at a time
if have_all; then
	say "cached: built meanwhile by another run, in $bin"
	echo "$bin"
	exit 0
fi

nice_cmd=${NDT_NICE-nice -n 19 ionice -c3}
timev=""
[ -x /usr/bin/time ] && timev="/usr/bin/time -v -o $dir/build.time"

export GOFLAGS="-trimpath -mod=readonly -buildvcs=false"
export CGO_ENABLED=0
export GOTOOLCHAIN=local
cd "$mod"

pkgs="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet
k8s.io/kubernetes/cmd/kube-proxy k8s.io/kubernetes/cmd/kubectl"

# Version stamps as upstream's hack/lib/version.sh sets them, for both
# packages that carry them; the build date is the release's own (from the
# module proxy's .info), so the same inputs give the same binaries.
t0=$(date +%s)
minor=${kver#v1.}; minor=${minor%%.*}
bdate=$(go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)
ld=""
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
	ld="$ld -X $p.gitVersion=$kver -X $p.gitMajor=1 -X $p.gitMinor=$minor"
	ld="$ld -X $p.gitTreeState=clean -X $p.buildDate=${bdate:-1970-01-01T00:00:00Z}"
done

say "kubernetes $kver, etcd $ever, $(go version | cut -d' ' -f3), cache $dir"
# Download first, so that the two costs are told apart.
# shellcheck disable=SC2086
$nice_cmd go list -deps $pkgs go.etcd.io/etcd/server/v3 >/dev/null
t1=$(date +%s)
say "modules downloaded/checked in $((t1 - t0)) s"

tmp=$dir/bin.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
# -s -w as upstream's release builds (hack/lib/golang.sh) do.
# shellcheck disable=SC2086
$timev $nice_cmd go build -o "$tmp/" -ldflags "-s -w $ld" $pkgs
# etcd's main package is the module go.etcd.io/etcd/server/v3 itself.
$nice_cmd go build -o "$tmp/etcd" -ldflags "-s -w" go.etcd.io/etcd/server/v3
t2=$(date +%s)
say "built in $((t2 - t1)) s"
if [ -f "$dir/build.time" ]; then
	say "peak memory of the go build: $(awk -F': ' '/Maximum resident/ { printf "%d MiB", $2 / 1024 }' "$dir/build.time")"
fi

for b in $bins; do [ -x "$tmp/$b" ] || die "$b was not built"; done
{
	echo "kubernetes $kver"
	echo "etcd $ever"
	go version
	echo "go.sum sha256 $(sha256sum go.sum | cut -d' ' -f1)"
	echo "download ${t0}..${t1} build ${t1}..${t2} (unix s)"
} >"$tmp/VERSIONS"
rm -rf "$bin"
mv "$tmp" "$bin"
say "done in $((t2 - t0)) s: $bin"
"$bin/kubectl" version --client 2>/dev/null | sed 's/^/k8s-build: /' >&2 || true
echo "$bin"
