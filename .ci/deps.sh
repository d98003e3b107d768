#!/bin/sh
# deps.sh GROUP... - make sure the Debian packages a make target needs are
# installed. As root: apt-get installs what is missing. Otherwise: print the
# exact command and fail.
#   build   compile and run the agent
#   test    build + everything `make test` uses
set -eu

build="gcc make pkg-config libc6-dev libcurl4-openssl-dev libyaml-dev libmicrohttpd-dev libjansson-dev"
test_pkgs="$build libcmocka-dev curl python3 python3-prometheus-client python3-grpcio openssl util-linux valgrind haproxy wrk iproute2"

want=""
for g in "${@:-build}"; do
	case "$g" in
	build) want="$want $build" ;;
	test) want="$want $test_pkgs" ;;
	*) want="$want $g" ;;
	esac
done

missing=""
for p in $want; do
	case " $missing " in *" $p "*) continue ;; esac
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing packages:$missing (install them with your package manager)" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run:  sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends $missing >&2
