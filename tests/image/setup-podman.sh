#!/usr/bin/env bash
# setup-podman.sh - make this machine able to build and run the nodowntime
# image with podman, offline except for the Debian mirror. Idempotent; run as
# root (CI is root, no stdin). What it does, each step only when needed:
#
#   1. apt-get install podman runc debootstrap
#   2. /etc/containers/containers.conf: runc (crun fails on the hybrid
#      cgroup v1 layout of these machines), cgroupfs (no systemd), file event
#      log (no journald), and default ulimits no higher than this machine's
#      hard limits (podman's default nofile=1048576 cannot be set here)
#   3. a base image `debian:bookworm-slim` made with debootstrap from the
#      machine's own Debian mirror, since no container registry is reachable;
#      so the Dockerfile's unchanged `FROM debian:bookworm-slim` builds here
#
# Environment: NDT_DEBIAN_MIRROR overrides the mirror found in the apt sources.
set -eu

log() { echo "setup-podman: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	if command -v podman >/dev/null 2>&1 &&
	    podman image exists debian:bookworm-slim 2>/dev/null; then
		exit 0
	fi
	log "needs root (apt-get, /etc/containers, debootstrap)"
	exit 1
fi

# 1. packages -------------------------------------------------------------
missing=""
for p in podman runc debootstrap; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
	log "installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >&2
fi

# 2. containers.conf -------------------------------------------------------
conf=/etc/containers/containers.conf
hn=$(ulimit -Hn)
case "$hn" in unlimited | '') hn=1048576 ;; esac
[ "$hn" -gt 1048576 ] && hn=1048576
hu=$(ulimit -Hu)
case "$hu" in unlimited | '') hu=$(cat /proc/sys/kernel/pid_max) ;; esac
pm=$(cat /proc/sys/kernel/pid_max)
[ "$hu" -gt "$pm" ] && hu=$pm
# containers need far fewer; stay well under the machine's limits
[ "$hn" -gt 65536 ] && nofile=65536 || nofile=$hn
[ "$hu" -gt 4096 ] && nproc=4096 || nproc=$hu

want_conf() {
	cat <<EOF
# written by nodowntime tests/image/setup-podman.sh
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
}
if [ -f "$conf" ] && ! grep -q 'nodowntime tests/image/setup-podman.sh' "$conf"; then
	if grep -q '^[[:space:]]*runtime[[:space:]]*=[[:space:]]*"runc"' "$conf" &&
	    grep -q '^[[:space:]]*cgroup_manager[[:space:]]*=[[:space:]]*"cgroupfs"' "$conf"; then
		log "$conf: already set up by someone else, kept"
	else
		log "$conf: saved as $conf.orig, replaced"
		cp "$conf" "$conf.orig"
		want_conf >"$conf"
	fi
elif ! want_conf | cmp -s - "$conf" 2>/dev/null; then
	log "writing $conf"
	mkdir -p /etc/containers
	want_conf >"$conf"
fi

# 3. base image -------------------------------------------------------------
if podman image exists debian:bookworm-slim; then
	exit 0
fi

mirror=${NDT_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
	# deb822 sources: the URIs of the stanza whose Suites has "bookworm"
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		mirror=$(awk '
		    /^[[:space:]]*$/ { if (u != "" && s ~ /(^| )bookworm( |$)/) { print u; exit } u = ""; s = "" }
		    /^URIs:/ { u = $2 }
		    /^Suites:/ { $1 = ""; s = $0 " " }
		    END { if (u != "" && s ~ /(^| )bookworm( |$)/) print u }' "$f" | head -n 1)
		[ -n "$mirror" ] && break
	done
fi
if [ -z "$mirror" ]; then
	# one-line sources: "deb [opts] URL bookworm main"
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	    awk '$1 == "deb" { u = ""; for (i = 2; i <= NF; i++) {
	        if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; continue }
	        if (u == "") { u = $i; continue }
	        if ($i == "bookworm") { print u; exit } break } }')
fi
if [ -z "$mirror" ]; then
	log "no bookworm mirror found in /etc/apt/sources.list{,.d}: set one, or NDT_DEBIAN_MIRROR=URL"
	exit 1
fi
log "building debian:bookworm-slim with debootstrap from $mirror"

root=$(mktemp -d /var/tmp/ndt-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT INT TERM
debootstrap --variant=minbase bookworm "$root" "$mirror" >&2 ||
    { log "debootstrap failed (see $root/debootstrap/debootstrap.log)"; exit 1; }
# like the real slim image: no caches, no package lists, no docs
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
    "$root"/var/lib/apt/lists/* "$root"/usr/share/man/* \
    "$root"/usr/share/info/* "$root"/var/log/* "$root"/tmp/* 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d \
    -delete 2>/dev/null || true
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
    -exec rm -rf {} + 2>/dev/null || true
printf 'deb %s bookworm main\n' "$mirror" >"$root/etc/apt/sources.list"
# the official slim image's apt and dpkg settings: no package caches kept,
# no docs, man pages or translations installed
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CONF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CONF
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'CONF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
CONF
tar -C "$root" --numeric-owner -c . |
    podman import \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'CMD ["bash"]' \
	--message "debootstrap --variant=minbase bookworm $mirror" \
	- debian:bookworm-slim >&2
podman image exists debian:bookworm-slim
log "debian:bookworm-slim ready"
