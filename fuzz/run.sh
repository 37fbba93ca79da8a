#!/bin/sh
# Runs each fuzz target for SECONDS on a scratch copy of its seed corpus
# (fuzz/corpus/NAME/, so the repository is not modified), one target at a
# time on one core. Prints executions and exec/s per target; fails if any
# target crashed, leaked, timed out or ran out of memory (the input that did
# it is kept as BUILD/crashes/NAME-*).
#
#   fuzz/run.sh BUILD SECONDS NAME...
#
# Extra libFuzzer flags can be passed in FUZZ_FLAGS.
set -u
build=$1
secs=$2
shift 2
failed=""
mkdir -p "$build/crashes"
for t in "$@"; do
	work="$build/run/$t"
	rm -rf "$work"
	mkdir -p "$work/corpus"
	if [ -d "fuzz/corpus/$t" ]; then
		cp fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null
	fi
	dict=""
	[ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"
	# shellcheck disable=SC2086
	"$build/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -close_fd_mask=2 \
		-artifact_prefix="$build/crashes/$t-" $dict ${FUZZ_FLAGS:-} \
		"$work/corpus" >"$work/log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
	cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
	if [ "$rc" -ne 0 ]; then
		echo "fuzz $t: FAILED (exit $rc), log: $work/log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|FUZZ_CHECK|artifact_prefix|Test unit written)' \
			"$work/log" | head -20
		failed="$failed $t"
	else
		echo "fuzz $t: ${runs:-?} runs in ${secs}s (${rate:-?} exec/s), ${cov:-cov: ?}"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: FAILED:$failed"
	exit 1
fi
echo "fuzz: all $# targets ran ${secs}s without a crash"
