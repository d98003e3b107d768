#!/bin/sh
# run.sh BUILD PROGRAM... - the integration tests with the agent under
# valgrind memcheck (issue 8: no definite leak, no invalid access).
#
# itest.c prefixes every agent it starts with $NDT_AGENT_WRAPPER; here that
# is valgrind, logging each agent process to LOGDIR/PROGRAM/vg.PID.log.
# itest_agent_stop() ends a wrapped agent with SIGINT (a clean exit, so the
# leak check runs) and itest_slow_factor() returns 10 to scale the tests'
# latency bounds. A program passes when it passes and every log it left
# says "ERROR SUMMARY: 0 errors". Logs of agents a test SIGKILLs on purpose
# have no summary: they are still searched for invalid accesses and
# uninitialised values, and counted as "killed".
#
# Environment: VALGRIND (default: valgrind on PATH), VG_LOGDIR (default
# BUILD/valgrind), TEST_TIMEOUT per program (default 600 s).
# Exit 1 on any failure; the last line is "valgrind: N passed, N failed".
build=${1:?usage: run.sh BUILD PROGRAM...}
shift
vg=${VALGRIND:-$(command -v valgrind)}
if [ -z "$vg" ] || [ ! -x "$vg" ]; then
	echo "valgrind: not installed (apt-get install -y valgrind)" >&2
	echo "valgrind: 0 passed, 1 failed"
	exit 1
fi
logroot=${VG_LOGDIR:-$build/valgrind}
rm -rf "$logroot"
mkdir -p "$logroot" || exit 1
logroot=$(cd "$logroot" && pwd)
supp=$(cd "$(dirname "$0")" && pwd)/nodowntime.supp

passed=0
failed=0
failures=""
runs=0
killed=0
for t in "$@"; do
	name=$(basename "$t")
	dir=$logroot/$name
	mkdir -p "$dir"
	echo "=== valgrind: $name"
	start=$(date +%s)
	NDT_BUILD=$build NDT_AGENT_WRAPPER="$vg --tool=memcheck \
--leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
--track-fds=no --child-silent-after-fork=yes --num-callers=30 \
--suppressions=$supp --log-file=$dir/vg.%p.log" \
	    timeout --kill-after=10 "${TEST_TIMEOUT:-600}" "$t"
	rc=$?
	bad=0
	n=0
	for log in "$dir"/vg.*.log; do
		[ -f "$log" ] || continue
		n=$((n + 1))
		if grep -q "ERROR SUMMARY: 0 errors" "$log"; then
			continue
		fi
		if ! grep -q "ERROR SUMMARY:" "$log"; then
			# killed on purpose (SIGKILL): no leak check possible
			if ! grep -Eq "Invalid (read|write|free)|uninitialised|\
Mismatched free|overlap|Syscall param" "$log"; then
				killed=$((killed + 1))
				continue
			fi
		fi
		bad=$((bad + 1))
		echo "---- $log ----"
		cat "$log"
	done
	runs=$((runs + n))
	secs=$(( $(date +%s) - start ))
	if [ $rc -eq 0 ] && [ $bad -eq 0 ] && [ $n -gt 0 ]; then
		passed=$((passed + 1))
		echo "=== valgrind: $name ok ($n agent runs, ${secs}s)"
	else
		failed=$((failed + 1))
		failures="$failures $name"
		why="exit $rc"
		[ $bad -gt 0 ] && why="$why, $bad agent runs with valgrind errors"
		[ $n -eq 0 ] && why="$why, no agent ran under valgrind"
		echo "=== valgrind: $name FAILED ($why, ${secs}s)"
	fi
done
echo "valgrind: $runs agent runs checked ($killed killed on purpose, no" \
    "leak check), logs in $logroot"
[ -n "$failures" ] && echo "failed:$failures"
echo "valgrind: $passed passed, $failed failed"
[ $failed -eq 0 ]
