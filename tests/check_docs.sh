#!/bin/sh
# check_docs.sh [--update] - the README's config reference is generated
# from the schema table (`nodowntime check-config --reference`); fail if it
# drifted, or rewrite it with --update (`make docs`).
set -eu
bin="${NDT_BUILD:-build}/nodowntime"
begin='<!-- BEGIN CONFIG REFERENCE (make docs) -->'
end='<!-- END CONFIG REFERENCE -->'
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.new"' EXIT
"$bin" check-config --reference > "$tmp"
awk -v b="$begin" -v e="$end" -v ref="$tmp" '
	$0 == b { print; while ((getline l < ref) > 0) print l; skip = 1; next }
	$0 == e { skip = 0 }
	!skip { print }
' README.md > "$tmp.new"
if ! grep -qF "$begin" README.md; then
	echo "check_docs: README.md has no '$begin' marker" >&2
	exit 1
fi
if [ "${1:-}" = "--update" ]; then
	cp "$tmp.new" README.md
	echo "README.md config reference updated"
	exit 0
fi
if ! cmp -s README.md "$tmp.new"; then
	echo "check_docs: README.md config reference is out of date; run 'make docs'" >&2
	diff -u README.md "$tmp.new" | head -40 >&2
	exit 1
fi
echo "check_docs: README config reference matches the schema"
echo "docs: 1 passed, 0 failed"
