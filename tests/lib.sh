# SPDX-License-Identifier: MIT
# The variables are the suites' (SC2034); ok's NAME is optional (SC2120).
# shellcheck shell=dash disable=SC2034,SC2120
#
# What the test scripts share (tests/api-test.sh, tests/guest/run-tests.sh,
# tests/cli-test.sh, tests/man-test.sh, tests/install-test.sh): sourced, not
# run. POSIX sh plus `local` (dash has it), so that the /bin/sh suites can
# use it as well as the bash ones.
#
#	. "$(dirname "$0")/lib.sh"
#	t_init api              # $TMP, the counters, the EXIT/INT/TERM traps
#	CASE=ping
#	if wanted "$CASE"; then ...; check $? "why it failed"; fi
#	t_finish                # "api: N passed, M failed"; exit 0 or 1
#
# Counting: ok [NAME] prints "ok NAME" (NAME defaults to $CASE), bad WHY
# prints "FAIL CASE: WHY" ("FAIL WHY" without a CASE), skip NAME WHY prints
# "skip NAME: WHY"; each counts. pass_quiet counts a pass and prints
# nothing. A suite that shows more on a failure (its output, the VMM's
# stderr) defines t_on_fail; one with more to undo at exit than $TMP and
# $PID (a network namespace, a loop device) defines t_on_exit.
#
# Waiting: t_wait SECONDS CMD... polls CMD. A VMM in the background: start
# it with `"$CVMM" ... &` and PID=$!; then vm_up SECONDS CMD... waits for
# CMD while the VMM lives, vm_wait_exit SECONDS waits for its end (status
# in VMRC), vm_kill ends it. The exit trap kills one still running.
#
# A VMM with a serial file ($SERIAL) and an API socket ($SOCK): serial_has
# PATTERN, up_with PATTERN (socket and serial line, for vm_up), and api
# COMMAND [JSON] (cvmm-remote, $REMOTE).

# t_init SUITE: SUITE names the summary line and the scratch folder $TMP.
t_init() {
	T_SUITE=$1
	pass=0
	failed=0
	skipped=0
	CASE=
	PID=
	VMRC=
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-$1.XXXXXX") || exit 1
	trap t_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# The EXIT trap: the VMM left running, the suite's own clean-up, $TMP.
t_exit() {
	vm_kill
	if command -v t_on_exit >/dev/null 2>&1; then
		t_on_exit
	fi
	rm -rf "$TMP"
}

# t_finish: the summary (and how many were skipped), then exit 0 when
# nothing failed, else 1.
t_finish() {
	if [ "$skipped" -gt 0 ]; then
		echo "$T_SUITE: $skipped case(s) skipped (see the skip lines)"
	fi
	echo "$T_SUITE: $pass passed, $failed failed"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}

# t_setup_fail WHY: the suite cannot run at all.
t_setup_fail() {
	CASE=setup
	bad "$1"
	t_finish
}

# wanted NAME: NAME matches $FILTER (a shell glob; all when unset).
wanted() {
	# shellcheck disable=SC2254
	case $1 in ${FILTER:-*}) return 0 ;; esac
	return 1
}

ok() {
	echo "ok ${1:-$CASE}"
	pass=$((pass + 1))
}

pass_quiet() {
	pass=$((pass + 1))
}

bad() {
	echo "FAIL ${CASE:+$CASE: }$1"
	failed=$((failed + 1))
	if command -v t_on_fail >/dev/null 2>&1; then
		t_on_fail
	fi
}

# check STATUS WHY: ok when STATUS (usually $?) is 0, else bad WHY.
check() {
	if [ "$1" -eq 0 ]; then ok; else bad "$2"; fi
}

skip() {
	echo "skip $1: $2"
	skipped=$((skipped + 1))
}

# t_show LABEL FILE LINES: the last LINES lines of FILE, indented, under
# "--- LABEL:" (nothing when FILE is empty or missing); for t_on_fail.
t_show() {
	if [ -s "$2" ]; then
		echo "  --- $1:"
		tail -n "$3" "$2" | sed 's/^/  | /'
	fi
}

# t_wait SECONDS CMD...: runs CMD every 0.1 s until it succeeds (status
# 0) or SECONDS have gone by (status 1).
t_wait() {
	local _tw_n=$(($1 * 10))
	shift
	while [ "$_tw_n" -gt 0 ]; do
		"$@" && return 0
		_tw_n=$((_tw_n - 1))
		sleep 0.1
	done
	return 1
}

# vm_up SECONDS CMD...: t_wait, but gives up (status 1) as soon as the
# VMM ($PID) has ended.
vm_up() {
	local _vu_s=$1
	shift
	_VM_UP=
	t_wait "$_vu_s" _vm_up_try "$@" && [ "$_VM_UP" = up ]
}

# CMD succeeded (up) or the VMM is gone: either ends vm_up's wait.
_vm_up_try() {
	if "$@"; then
		_VM_UP=up
		return 0
	fi
	kill -0 "$PID" 2>/dev/null && return 1
	_VM_UP=gone
}

_vm_gone() {
	! kill -0 "$PID" 2>/dev/null
}

# vm_wait_exit SECONDS: waits for the VMM to end; VMRC is its exit status,
# or 124 when it was still running after SECONDS (it is killed then).
vm_wait_exit() {
	VMRC=124
	if t_wait "$1" _vm_gone; then
		wait "$PID"
		VMRC=$?
		PID=
		return 0
	fi
	vm_kill
	return 1
}

# vm_kill: SIGKILL to the VMM, if one runs, and its status reaped.
vm_kill() {
	if [ -n "$PID" ]; then
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
		PID=
	fi
}

# serial_has PATTERN: a line of $SERIAL matches PATTERN (grep -E).
serial_has() {
	grep -qE -- "$1" "$SERIAL" 2>/dev/null
}

# up_with PATTERN: the API socket $SOCK is there and a serial line matches.
up_with() {
	[ -S "$SOCK" ] && serial_has "$1"
}

# api COMMAND [JSON]: cvmm-remote on $SOCK; RC, $TMP/resp (body) and
# $TMP/resp.err. API_TIMEOUT (seconds, default 10) bounds the request.
api() {
	local t=${API_TIMEOUT:-10}
	timeout $((t + 5)) "$REMOTE" --api-socket "$SOCK" --timeout "$t" "$@" \
		>"$TMP/resp" 2>"$TMP/resp.err"
	RC=$?
}
