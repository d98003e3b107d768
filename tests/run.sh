#!/bin/sh
# run.sh LAYER PROGRAM... - run test programs, keep going after a failure,
# and end with one "N passed, N failed" line (per program). Exit 1 if any
# failed. Each program's output is shown; a failing one is named again at
# the end.
layer=$1
shift
passed=0
failed=0
failures=""
for t in "$@"; do
	name=$(basename "$t")
	echo "=== $layer: $name"
	start=$(date +%s)
	case "$t" in
	*.sh) sh "$t" ;;
	*.py) python3 "$t" ;;
	*) "$t" ;;
	esac
	rc=$?
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
