#!/bin/sh
# run.sh LAYER PROGRAM... - run test programs, keep going after a failure,
# and end with one "N passed, N failed" line (per program). Exit 1 if any
# failed. Each program's output is shown; a failing one is named again at
# the end. A program that runs past TEST_TIMEOUT seconds (default 600) is
# killed and counts as failed: a hung test must not hang CI.
layer=$1
shift
passed=0
failed=0
failures=""
for t in "$@"; do
	name=$(basename "$t")
	echo "=== $layer: $name"
	start=$(date +%s)
	to="timeout --kill-after=10 ${TEST_TIMEOUT:-600}"
	case "$t" in
	*.sh) $to sh "$t" ;;
	*.py) $to /usr/bin/python3 "$t" ;;	# Debian's, with its modules
	*) $to "$t" ;;
	esac
	rc=$?
	[ $rc -eq 124 ] && echo "=== $layer: $name timed out after ${TEST_TIMEOUT:-600}s"
	secs=$(( $(date +%s) - start ))
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		echo "=== $layer: $name ok (${secs}s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		echo "=== $layer: $name FAILED (exit $rc, ${secs}s)"
	fi
done
[ -n "$failures" ] && echo "failed:$failures"
echo "$layer: $passed passed, $failed failed"
[ $failed -eq 0 ]
