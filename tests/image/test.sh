#!/usr/bin/env bash
# test.sh IMAGE - run the built nodowntime image with podman and check what
# a pod relies on. One check per behaviour, each named; keeps going after a
# failure and ends with "N passed, N failed".
#
#   image-metadata        non-root numeric user, ENTRYPOINT/CMD, OCI labels
#   version               `nodowntime --version` runs (runtime libs present)
#   hook-static           the hook is in the image, statically linked, and
#                         runs in an empty root filesystem (any app image)
#   check-config          `check-config` works inside; a bad file exits 2
#   serve-read-only       --read-only + tmpfs /run/nodowntime: /live /ready
#                         /startup /healthz /metrics answer 200 on :3000
#   hook-installed        the agent copied the hook into /run/nodowntime and
#                         it reaches the agent over the control socket
#   sigterm-idle          SIGTERM with the app gone (app.port set, nothing
#                         listening: the native-sidecar case) exits 0 < 1 s
#   prestop-drain         the preStop flow from an "app" container (other
#                         uid, shared volume read-only, the agent's group):
#                         the hook blocks for drain.delay, /ready turns 503
#                         at once while /live stays 200; SIGTERM afterwards
#                         exits 0 at once. Without the group: no access.
set -uo pipefail

image=${1:?usage: test.sh IMAGE}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ndt-image-test.XXXXXX)
ctrs=()
vols=()
passed=0
failed=0
failures=""

cleanup() {
	for c in "${ctrs[@]}"; do
		podman rm -f -v -t 0 "$c" >/dev/null 2>&1
	done
	for v in "${vols[@]}"; do
		podman volume rm -f "$v" >/dev/null 2>&1
	done
	rm -rf "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "=== image: $1 ok"; }
fail() {
	failed=$((failed + 1)); failures="$failures $1"
	echo "=== image: $1 FAILED: $2"
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# http URL: the status code of a GET (000 when unreachable)
http() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$1"; }

# wait_http URL WANT SECS: poll until URL answers WANT
wait_http() {
	local end=$(( $(ms) + $3 * 1000 ))
	while [ "$(ms)" -lt "$end" ]; do
		[ "$(http "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# start NAME RUN-MOUNT [podman run options...]: a detached agent container
# with the pod's settings (read-only root, no capabilities), RUN-MOUNT at
# /run/nodowntime ("tmpfs" or a named volume) and :3000 published on a free
# loopback port. The mount needs U (chown to the container user): podman
# here ignores a tmpfs mode=1777; a Kubernetes emptyDir is world-writable.
start() {
	local name="ndt-test-$1-$$" runmount
	if [ "$2" = tmpfs ]; then
		runmount=(--tmpfs /run/nodowntime:rw,exec,nosuid,nodev,U)
	else
		runmount=(-v "$2:/run/nodowntime:U")
	fi
	shift 2
	podman run -d --name "$name" --read-only "${runmount[@]}" \
	    --cap-drop ALL --security-opt no-new-privileges \
	    -p 127.0.0.1::3000 "$@" >/dev/null || return 1
	ctrs+=("$name")
	port=$(podman port "$name" 3000/tcp | sed 's/.*://')
	cname=$name
}

echo "=== image: testing $image"

# --- image-metadata -------------------------------------------------------
meta=$(podman image inspect "$image" --format \
    '{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{index .Config.Labels "org.opencontainers.image.title"}}|{{index .Config.Labels "org.opencontainers.image.version"}}')
if [ "${meta%%|*}" = "65532:65532" ] &&
    [[ "$meta" == *'|["nodowntime"]|["run"]|nodowntime|'?* ]]; then
	ok image-metadata
else
	fail image-metadata "got $meta"
fi

# --- version ----------------------------------------------------------------
out=$(podman run --rm "$image" --version 2>&1)
if [[ "$out" == nodowntime\ * ]]; then ok version
else fail version "--version: $out"; fi

# --- hook-static --------------------------------------------------------------
c=$(podman create "$image") && ctrs+=("$c")
mkdir -p "$work/empty-root"
if podman cp "$c:/usr/local/bin/nodowntime-hook" "$work/empty-root/" 2>/dev/null; then
	hook="$work/empty-root/nodowntime-hook"
	static=no
	if command -v file >/dev/null 2>&1; then
		file -L "$hook" | grep -q 'statically linked' && static=yes
	else
		LC_ALL=C readelf -l "$hook" | grep -q 'INTERP' || static=yes
	fi
	# an empty root filesystem: no libc, no loader, no shell. This is how
	# the hook runs in an app image that has nothing of ours.
	out=$(podman run --rm --rootfs "$work/empty-root" \
	    /nodowntime-hook prestop --socket /nowhere --fallback-delay 0s \
	    --timeout 1s 2>&1)
	rc=$?
	if [ $static = yes ] && [ $rc = 0 ]; then ok hook-static
	else fail hook-static "static=$static, prestop in an empty rootfs: exit $rc: $out"; fi
else
	fail hook-static "/usr/local/bin/nodowntime-hook not in the image"
fi

# --- check-config -------------------------------------------------------------
cp "$here/idle.yaml" "$here/bad.yaml" "$here/drain.yaml" "$work/"
chmod 0644 "$work"/*.yaml
o1=$(podman run --rm "$image" check-config 2>&1); r1=$?
o2=$(podman run --rm -v "$work/idle.yaml:/etc/nodowntime/nodowntime.yaml:ro" \
    "$image" check-config 2>&1); r2=$?
o3=$(podman run --rm -v "$work/bad.yaml:/cfg/bad.yaml:ro" "$image" \
    check-config -c /cfg/bad.yaml 2>&1); r3=$?
if [ $r1 = 0 ] && [ $r2 = 0 ] && [[ "$o2" == *nodowntime.yaml* ]] &&
    [ $r3 = 2 ] && [[ "$o3" == */cfg/bad.yaml:*:*:\ error:* ]]; then
	ok check-config
else
	fail check-config "default exit $r1; idle.yaml exit $r2; bad.yaml exit $r3: $o3"
fi

# --- serve-read-only, hook-installed, sigterm-idle ------------------------------
if start idle tmpfs -v "$work/idle.yaml:/etc/nodowntime/nodowntime.yaml:ro" "$image"; then
	if wait_http "http://127.0.0.1:$port/live" 200 10; then
		codes=""
		for p in live ready startup healthz metrics; do
			codes="$codes $p=$(http "http://127.0.0.1:$port/$p")"
		done
		if [ "$codes" = " live=200 ready=200 startup=200 healthz=200 metrics=200" ]; then
			ok serve-read-only
		else
			fail serve-read-only "$codes"
		fi
	else
		fail serve-read-only "/live never answered 200 on :$port"
		podman logs "$cname" 2>&1 | tail -5
	fi

	out=$(podman exec "$cname" /run/nodowntime/nodowntime-hook status 2>&1)
	rc=$?
	if [ $rc = 0 ] && [[ "$out" == *serving* ]]; then ok hook-installed
	else fail hook-installed "exit $rc: $out"; fi

	t0=$(ms)
	podman kill --signal TERM "$cname" >/dev/null
	rc=$(podman wait "$cname" 2>/dev/null)
	dt=$(( $(ms) - t0 ))
	if [ "$rc" = 0 ] && [ $dt -lt 1000 ]; then
		ok sigterm-idle
		echo "    (exit 0 after ${dt} ms)"
	else
		fail sigterm-idle "exit '$rc' after ${dt} ms"
		podman logs "$cname" 2>&1 | tail -5
	fi
else
	fail serve-read-only "podman run failed"
	fail hook-installed "no container"
	fail sigterm-idle "no container"
fi

# --- prestop-drain -------------------------------------------------------------
# The app side as in a pod: another container, another uid, the shared
# volume read-only, the agent's group as a supplementary group (what the
# chart's fsGroup: 65532 gives every container of the pod). Without that
# group the 0660 control socket is out of reach (checked too). The app image
# is plain debian:bookworm-slim: the hook needs nothing from it.
vol="ndt-test-run-$$"
podman volume create "$vol" >/dev/null && vols+=("$vol")
appctr() {
	podman run --rm --read-only --cap-drop ALL --user 1000:1000 "$@"
}
if start drain "$vol" -v "$work/drain.yaml:/etc/nodowntime/nodowntime.yaml:ro" "$image" &&
    wait_http "http://127.0.0.1:$port/ready" 200 10; then
	noperm=$(appctr -v "$vol:/run/nodowntime:ro" --entrypoint \
	    /run/nodowntime/nodowntime-hook debian:bookworm-slim status 2>&1)
	noperm_rc=$?
	t0=$(ms)
	appctr -v "$vol:/run/nodowntime:ro" --group-add 65532 \
	    --entrypoint /run/nodowntime/nodowntime-hook debian:bookworm-slim prestop \
	    >"$work/prestop.out" 2>&1 &
	hookpid=$!
	wait_http "http://127.0.0.1:$port/ready" 503 3; r503=$?
	live=$(http "http://127.0.0.1:$port/live")
	wait $hookpid; hookrc=$?
	dt=$(( $(ms) - t0 ))
	t1=$(ms)
	podman kill --signal TERM "$cname" >/dev/null
	rc=$(podman wait "$cname" 2>/dev/null)
	dt2=$(( $(ms) - t1 ))
	# drain.yaml: delay 2s, app.port 0 -> drained after the delay
	if [ $noperm_rc != 0 ] && [ $r503 = 0 ] && [ "$live" = 200 ] && [ $hookrc = 0 ] &&
	    [ $dt -ge 1900 ] && [ $dt -lt 6000 ] && [ "$rc" = 0 ] &&
	    [ $dt2 -lt 1000 ]; then
		ok prestop-drain
		echo "    (prestop returned after ${dt} ms, SIGTERM exit 0 after ${dt2} ms)"
	else
		fail prestop-drain "no group: status exit $noperm_rc ($noperm); ready->503: $r503, live $live, prestop exit $hookrc after ${dt} ms, SIGTERM exit '$rc' after ${dt2} ms"
		cat "$work/prestop.out"
		podman logs "$cname" 2>&1 | tail -8
	fi
else
	fail prestop-drain "the container did not become ready"
fi

[ -n "$failures" ] && echo "failed:$failures"
echo "image: $passed passed, $failed failed"
[ $failed -eq 0 ]
