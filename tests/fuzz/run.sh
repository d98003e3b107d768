#!/bin/sh
# run.sh SECONDS FUZZDIR TARGET... - replay the regression inputs, then run
# each libFuzzer target for SECONDS, niced; FUZZ_JOBS targets at a time
# (default 1; CI uses 2, one per core).
#
#   tests/fuzz/regress/<target>-*   crash inputs once found: replayed first
#   tests/fuzz/corpus/<target>/     checked-in seeds: copied, never written
#   FUZZDIR/corpus/<target>/        the working corpus, grows run to run
#   FUZZDIR/artifacts/              crash/leak/timeout inputs
#   FUZZDIR/logs/<target>.log       libFuzzer's output
#
# Prints per target the executions from libFuzzer's final stats, and
# "fuzz: N passed, N failed"; exits 1 if any target failed.
set -u

secs=${1:?usage: run.sh SECONDS FUZZDIR TARGET...}
dir=${2:?usage: run.sh SECONDS FUZZDIR TARGET...}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/corpus" "$dir/artifacts" "$dir/logs" || exit 1

# one target; its summary lines to stdout, exit 0 or 1
fuzz_one() {
	bin=$1
	t=$(basename "$bin")
	log="$dir/logs/$t.log"
	: > "$log"
	ok=1

	# 1. regressions: each file run once
	set -- "$here"/regress/"$t"-*
	if [ -e "$1" ]; then
		if ! "$bin" -runs=1 "$@" >> "$log" 2>&1; then
			echo "$t: FAIL a regression input crashes (see $log)"
			ok=0
		else
			echo "$t: $# regression input(s) ok"
		fi
	fi

	# 2. fuzzing on a working copy of the seeds
	corpus="$dir/corpus/$t"
	mkdir -p "$corpus"
	if [ -d "$here/corpus/$t" ]; then
		cp -n "$here/corpus/$t"/* "$corpus"/ 2>/dev/null || :
	fi
	set -- -max_total_time="$secs" -print_final_stats=1 -timeout=25 \
	    -rss_limit_mb=2048 -artifact_prefix="$dir/artifacts/$t-"
	[ -f "$here/$t.dict" ] && set -- "$@" -dict="$here/$t.dict"
	case $t in
	fuzz_config)	set -- "$@" -max_len=8192 ;;
	fuzz_http)	set -- "$@" -max_len=16384 ;;
	esac
	start=$(date +%s)
	if [ $ok = 1 ]; then
		nice -n 10 "$bin" "$@" "$corpus" >> "$log" 2>&1
		rc=$?
	else
		rc=1
	fi
	end=$(date +%s)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -n 1)
	[ -n "$execs" ] || execs=0
	if [ $ok = 1 ] && [ $rc -eq 0 ]; then
		echo "$t: ok $execs execs in $((end - start)) s" \
		    "(corpus $(ls "$corpus" | wc -l) files)"
		return 0
	else
		echo "$t: FAIL rc=$rc after $execs execs; log $log:"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' \
		    "$log" | head -n 5 | sed 's/^/    /'
		grep -E '^ +#[0-9]+ ' "$log" |
		    grep -vE 'fuzzer::|__sanitizer|libc\.so|raise|abort|pthread_kill' |
		    head -n 10 | sed 's/^/    /'
		return 1
	fi
}

jobs=${FUZZ_JOBS:-1}
pass=0
fail=0
running=0
names=""
for bin in "$@"; do
	t=$(basename "$bin")
	names="$names $t"
	( fuzz_one "$bin" > "$dir/logs/$t.summary"; echo $? > "$dir/logs/$t.rc" ) &
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		wait
		running=0
	fi
done
wait
for t in $names; do
	cat "$dir/logs/$t.summary"
	if [ "$(cat "$dir/logs/$t.rc" 2>/dev/null)" = 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
