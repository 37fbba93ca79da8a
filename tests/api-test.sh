#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The control plane, end to end: cvmm runs the api_counter test guest (it
# prints "tick N" on the serial port forever) with --api-socket, and
# cvmm-remote drives it:
#
#   tests/api-test.sh CVMM CVMM_REMOTE GUESTDIR [FILTER]
#
# ping, info, counters (no passthrough devices: empty lists), pause/resume (the ticks and the vCPU exit counts
# stop, then go on), vm.shutdown (the VMM serves on; a guest's unflushed
# disk write is in the image and cvmm fdatasync'ed it) and vmm.shutdown
# (exit 0, socket removed), boot/shutdown/delete/create cycles, a stalled output
# reader (serial and virtio-console) holding up neither the guest nor
# SIGTERM, vm.create/vm.boot
# refused (500; 404 before vm.create) for a VM from the command line, pause parking the device
# threads and reboot resetting PCI config space (a virtio-console guest fed
# through a FIFO), create-then-boot (--api-socket without --kernel),
# the ACPI power button (the power_button guest finds the GED through the
# DSDT and must take the press by interrupt: when ready, before it set up
# its interrupt, while the VM is paused; a guest that ignores it runs on),
# hostile clients (bad JSON, unknown endpoint, wrong method, oversized body,
# malformed requests, pipelined requests on a connection left open, a slow
# client stalling mid-request while others are served, more clients than
# the server holds), the socket's mode and
# stale/live socket files, and docs/openapi.yaml against what the server
# answers. FILTER (a shell glob) selects cases by name.
# Prints "ok NAME" / "FAIL NAME: why" per case and then
# "api: N passed, M failed"; exits 1 if any failed.

# The predicates run through t_wait / vm_up, the t_on_* hooks through
# lib.sh (SC2317); ok names $CASE (SC2119).
# shellcheck disable=SC2317,SC2119
set -u
# `printf ... | raw` must set STATUS in this shell.
shopt -s lastpipe

CVMM=${1:?usage: api-test.sh CVMM CVMM_REMOTE GUESTDIR [FILTER]}
REMOTE=${2:?usage: api-test.sh CVMM CVMM_REMOTE GUESTDIR [FILTER]}
GDIR=${3:?usage: api-test.sh CVMM CVMM_REMOTE GUESTDIR [FILTER]}
FILTER=${4:-*}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OPENAPI=$ROOT/docs/openapi.yaml
GUEST=$GDIR/api_counter.bzImage

# t_init, ok/bad/check, wanted, vm_up, vm_wait_exit, vm_kill ...
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"
t_init api

for f in "$CVMM" "$REMOTE"; do
	[ -x "$f" ] || t_setup_fail "$f is not executable"
done
[ -f "$GUEST" ] || t_setup_fail "$GUEST missing (run 'make guests')"
if [ ! -e /dev/kvm ]; then
	echo "SKIP: no /dev/kvm"
	t_finish
fi

SOCK=$TMP/api.sock
SERIAL=$TMP/serial.txt
ERR=$TMP/cvmm.err

# A failure shows the last response and the end of cvmm's stderr.
t_on_fail() {
	if [ -s "$TMP/resp" ]; then
		echo "  --- last response:"
		head -c 600 "$TMP/resp" | sed 's/^/  | /'
		echo
	fi
	t_show "cvmm stderr" "$ERR" 8
}

# start_vm [cvmm args...]: boots the counter guest with the API socket and
# waits for the socket (and the first tick).
start_vm() {
	: >"$SERIAL"
	"$CVMM" --kernel "$GUEST" --serial "file=$SERIAL" --memory size=64M \
		--api-socket "$SOCK" --log-level info "$@" </dev/null 2>"$ERR" &
	PID=$!
	vm_up 10 up_with '^tick'
}

# raw: sends stdin verbatim; STATUS is the response's status code and
# $TMP/resp the whole response.
raw() {
	timeout 15 "$REMOTE" --api-socket "$SOCK" --timeout 10 raw >"$TMP/resp" 2>"$TMP/resp.err"
	STATUS=$(head -n 1 "$TMP/resp" | sed -n 's/^HTTP\/1\.[01] \([0-9][0-9][0-9]\) .*/\1/p')
	[ -n "$STATUS" ] || STATUS=none
}

# shutdown_and_check: shuts the VM down, then the case passes when $why is
# empty and cvmm exited 0.
shutdown_and_check() {
	api shutdown-vmm
	vm_wait_exit 5
	[ "$VMRC" -eq 0 ] || why="${why:+$why; }exit $VMRC"
	[ -z "$why" ]
	check $? "$why"
}

ticks() {
	grep -c '^tick' "$SERIAL"
}

# The counters of every vCPU (the "vcpu0".. entries of vm.counters, last).
vcpu_counters() {
	api counters
	sed -n 's/.*\("vcpu0":.*\)/\1/p' "$TMP/resp"
}

# exits_total of vCPU 0.
exits0() {
	api counters
	sed -n 's/.*"vcpu0":{[^}]*"exits_total":\([0-9]*\).*/\1/p' "$TMP/resp"
}

# ticks_above N: the guest printed more than N ticks.
ticks_above() {
	[ "$(ticks)" -gt "$1" ]
}

VERSION=$("$CVMM" --version | awk '{print $2}')

# ---------------------------------------------------------------- the tool
CASE=remote-usage
if wanted "$CASE"; then
	"$REMOTE" >/dev/null 2>&1
	r1=$?
	"$REMOTE" --api-socket "$SOCK" frobnicate >/dev/null 2>&1
	r2=$?
	"$REMOTE" --api-socket "$TMP/nothing-here" ping >/dev/null 2>&1
	r3=$?
	[ $r1 -eq 2 ] && [ $r2 -eq 2 ] && [ $r3 -eq 1 ]
	check $? "no args $r1 (want 2), unknown command $r2 (want 2), no server $r3 (want 1)"
fi

# -------------------------------------------------- one VM, many requests
truncate -s 1M "$TMP/disk.img"
CASE=boot
if start_vm --cpus boot=2 --rng --disk "path=$TMP/disk.img" --cmdline aps=1; then
	ok
else
	bad "cvmm did not come up with its socket and guest ticks"
	t_finish
fi

CASE=socket-mode
if wanted "$CASE"; then
	mode=$(stat -c %a "$SOCK")
	type=$(stat -c %F "$SOCK")
	[ "$mode" = 600 ] && [ "$type" = socket ]
	check $? "socket mode $mode type $type, want 600 socket"
fi

CASE=ping
if wanted "$CASE"; then
	api ping
	[ $RC -eq 0 ] && grep -qF "\"version\":\"$VERSION\"" "$TMP/resp"
	check $? "rc $RC, want 0 and version $VERSION"
fi

CASE=info
if wanted "$CASE"; then
	api info
	why=
	[ $RC -eq 0 ] || why="rc $RC"
	for s in '"state":"Running"' '"vcpus":2' '"cpus":{"boot_vcpus":2,"max_vcpus":2}' '"memory":{"size":67108864,"shared":false,"hugepages":false}' \
		'"type":"virtio-blk"' '"type":"virtio-rng"' '"bdf":"0000:00:01.0"' \
		'"bdf":"0000:00:02.0"' '"bars":[{"index":0,"type":"mem64","address":' \
		'"msix":{"vectors":2' "\"payload\":{\"kernel\":\"$GUEST\"" '"name":"serial","port":1016' \
		'"memory_actual_size":67108864' '"device_tree":{' '"pci_bdf":"0000:00:01.0"' \
		'"name":"acpi-ged","mmio":4272947200,"mmio_size":16,"irq":23'; do
		grep -qF -- "$s" "$TMP/resp" || { why="${why:+$why, }lacks $s"; break; }
	done
	[ -z "$why" ]
	check $? "$why"
fi

# No --device: vm.info says so with empty lists, vm.counters has no
# passthrough entry.
CASE=passthrough-empty
if wanted "$CASE"; then
	api info
	i1=$(grep -c '"passthrough":\[\]' "$TMP/resp")
	i2=$(grep -c '"devices":\[\],"platform"' "$TMP/resp")
	api counters
	c1=$(grep -c '"config_reads"' "$TMP/resp")
	[ "$i1" = 1 ] && [ "$i2" = 1 ] && [ "$c1" = 0 ]
	check $? "info passthrough [] $i1, config devices [] $i2, counters' passthrough entries $c1 (want 1 1 0)"
fi

CASE=counters-move
if wanted "$CASE"; then
	a=$(exits0)
	# cloud-hypervisor's shape: device id -> counter name -> integer
	grep -qE '"virtio-blk\([^"]*\)":\{"read_bytes":[0-9]+,"write_bytes":[0-9]+,"read_ops":[0-9]+,"write_ops":[0-9]+,"requests":' "$TMP/resp" &&
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(not all(isinstance(v,int) for m in d.values() for v in m.values()))' "$TMP/resp"
	has_dev=$?
	sleep 0.5
	b=$(exits0)
	[ -n "$a" ] && [ -n "$b" ] && [ "$b" -gt "$a" ] && [ $has_dev -eq 0 ]
	check $? "vCPU 0 exits $a then $b (must grow), device counters present: $has_dev"
fi

CASE=pause
if wanted "$CASE"; then
	api pause
	prc=$RC
	[ ! -s "$TMP/resp" ]
	pstate=$?
	sleep 0.2
	t1=$(ticks)
	c1=$(vcpu_counters)
	sleep 1
	t2=$(ticks)
	c2=$(vcpu_counters)
	api info
	grep -qF '"state":"Paused"' "$TMP/resp"
	istate=$?
	[ $prc -eq 0 ] && [ $pstate -eq 0 ] && [ $istate -eq 0 ] && [ "$t1" -eq "$t2" ] &&
		[ -n "$c1" ] && [ "$c1" = "$c2" ]
	check $? "rc $prc, state answers $pstate/$istate, ticks $t1 -> $t2, vCPU counters $( [ "$c1" = "$c2" ] && echo frozen || echo "moved: $c1 -> $c2")"
fi

CASE=pause-counted
if wanted "$CASE"; then
	api counters
	grep -qF '"vm":{"pauses":1' "$TMP/resp" && grep -qF '"vcpu1":{"pauses":1' "$TMP/resp"
	check $? "vm.counters does not count one pause per vCPU"
fi

# An action in the wrong state: 500 and the reason, as cloud-hypervisor.
CASE=pause-twice-500
if wanted "$CASE"; then
	printf 'PUT /api/v1/vm.pause HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' | raw
	[ "$STATUS" = 500 ] && grep -qF '["cannot pause: the VM is Paused"]' "$TMP/resp"
	check $? "status $STATUS, want 500 and the reason"
fi

CASE=resume
if wanted "$CASE"; then
	t1=$(ticks)
	a=$(exits0)
	api resume
	rrc=$RC
	api info
	grep -qF '"state":"Running"' "$TMP/resp"
	rstate=$?
	t_wait 5 ticks_above "$t1"
	adv=$?
	b=$(exits0)
	[ $rrc -eq 0 ] && [ $rstate -eq 0 ] && [ $adv -eq 0 ] && [ "$b" -gt "$a" ]
	check $? "rc $rrc, state $rstate, ticks advanced $adv (from $t1), exits $a -> $b"
fi

CASE=resume-twice-500
if wanted "$CASE"; then
	printf 'PUT /api/v1/vm.resume HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' | raw
	[ "$STATUS" = 500 ]
	check $? "status $STATUS, want 500"
fi

CASE=create-boot-when-booted-500
if wanted "$CASE"; then
	# This VM came from the command line: no vm.create, no vm.boot.
	why=
	api create "{\"kernel\": \"$GUEST\"}"
	[ $RC -eq 1 ] && grep -qF '["' "$TMP/resp" && grep -q 500 "$TMP/resp.err" ||
		why="create rc $RC"
	api boot
	[ $RC -eq 1 ] && grep -qF '["' "$TMP/resp" && grep -q 500 "$TMP/resp.err" ||
		why="${why:+$why, }boot rc $RC"
	[ -z "$why" ]
	check $? "$why"
fi

CASE=power-button-ignored
if wanted "$CASE"; then
	# The counter guest never enables the GED: the press is answered 204
	# with no body, latched (counted) and the guest ticks on.
	printf 'PUT /api/v1/vm.power-button HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' | raw
	s1=$STATUS
	grep -qi '^Content-Length' "$TMP/resp"
	clen=$?
	body=$(sed -n '/^\r$/,$p' "$TMP/resp" | tail -n +2)
	api power-button
	r2=$RC
	t1=$(ticks)
	t_wait 3 ticks_above "$t1"
	adv=$?
	api counters
	grep -qF '"power_button_presses":2' "$TMP/resp"
	counted=$?
	[ "$s1" = 204 ] && [ $clen -ne 0 ] && [ -z "$body" ] && [ $r2 -eq 0 ] &&
		[ ! -s "$TMP/resp.err" ] && [ $adv -eq 0 ] && [ $counted -eq 0 ]
	check $? "raw status $s1 (want 204, no Content-Length: $clen, body '$body'), cvmm-remote rc $r2, guest ticking $adv, 2 presses counted $counted"
fi

# ---- hostile clients (the VM must keep running through all of them)
CASE=bad-json-400
if wanted "$CASE"; then
	body='{"oops": '
	printf 'PUT /api/v1/vm.pause HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s' \
		${#body} "$body" | raw
	s1=$STATUS
	api pause '[1, 2] trailing'
	r2=$RC
	api info
	grep -qF '"state":"Running"' "$TMP/resp"
	running=$?
	[ "$s1" = 400 ] && [ $r2 -eq 1 ] && [ $running -eq 0 ]
	check $? "status $s1 (want 400), cvmm-remote rc $r2 (want 1), VM must still run"
fi

CASE=unknown-endpoint-404
if wanted "$CASE"; then
	why=
	for p in /api/v1/vm.nope /api/v1/ /api/v2/vmm.ping / /api/v1/vmm.ping/extra; do
		printf 'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' "$p" | raw
		[ "$STATUS" = 404 ] || why="${why:+$why, }$p: $STATUS"
	done
	[ -z "$why" ]
	check $? "want 404: $why"
fi

CASE=wrong-method-405
if wanted "$CASE"; then
	printf 'PUT /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' | raw
	s1=$STATUS
	grep -qi '^Allow: GET' "$TMP/resp"
	a1=$?
	printf 'DELETE /api/v1/vm.pause HTTP/1.1\r\nHost: x\r\n\r\n' | raw
	s2=$STATUS
	grep -qi '^Allow: PUT' "$TMP/resp"
	a2=$?
	[ "$s1" = 405 ] && [ "$s2" = 405 ] && [ $a1 -eq 0 ] && [ $a2 -eq 0 ]
	check $? "statuses $s1/$s2 (want 405), Allow headers $a1/$a2"
fi

CASE=oversized-413
if wanted "$CASE"; then
	head -c 100000 /dev/zero | tr '\0' ' ' >"$TMP/big"
	{ printf 'PUT /api/v1/vm.pause HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n'
	  cat "$TMP/big"; } | raw
	s1=$STATUS
	api pause "@$TMP/big"
	r2=$RC
	grep -q 413 "$TMP/resp.err"
	said413=$?
	[ "$s1" = 413 ] && [ $r2 -eq 1 ] && [ $said413 -eq 0 ]
	check $? "status $s1 (want 413), cvmm-remote rc $r2"
fi

CASE=malformed-requests
if wanted "$CASE"; then
	why=
	# request  expected-status
	while IFS='|' read -r req want; do
		printf "$req" | raw
		[ "$STATUS" = "$want" ] || why="${why:+$why; }[$req] $STATUS, want $want"
	done <<-'EOF'
	GARBAGE\r\n\r\n|400
	GET /api/v1/vmm.ping\r\n\r\n|400
	GET api/v1/vmm.ping HTTP/1.1\r\n\r\n|400
	GET /api/v1/vmm.ping HTTP/2.0\r\n\r\n|505
	GET /api/v1/vmm.ping HTTP/1.1\r\nNo colon here\r\n\r\n|400
	GET /api/v1/vmm.ping HTTP/1.1\r\nContent-Length: abc\r\n\r\n|400
	GET /api/v1/vmm.ping HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx|400
	PUT /api/v1/vm.pause HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n|501
	GET /api/v1/vmm.ping HTTP/1.0\r\n\r\n|200
	GET /api/v1/vmm.ping?x=1 HTTP/1.1\r\nHost: x\r\n\r\n|200
	EOF
	# A header section over 8 KiB.
	{ printf 'GET /api/v1/vmm.ping HTTP/1.1\r\nX-Big: '; head -c 9000 /dev/zero | tr '\0' a
	  printf '\r\n\r\n'; } | raw
	[ "$STATUS" = 431 ] || why="${why:+$why; }big header $STATUS, want 431"
	[ -z "$why" ]
	check $? "$why"
fi

CASE=keep-alive-pipelined
if wanted "$CASE"; then
	printf 'GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/vm.info HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/vm.nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' | raw
	# (a body has no final newline: the next status line follows it)
	n200=$(grep -ao 'HTTP/1.1 200 OK' "$TMP/resp" | wc -l)
	n404=$(grep -ao 'HTTP/1.1 404 Not Found' "$TMP/resp" | wc -l)
	[ "$n200" -eq 2 ] && [ "$n404" -eq 1 ]
	check $? "three pipelined requests on one connection: $n200 x 200, $n404 x 404"
fi

CASE=pipelined-open
if wanted "$CASE"; then
	# Two requests in one write and the client's side kept open (stdin
	# stays open 4 s): both answers come within cvmm-remote's 3 s, not
	# after the 30 s idle sweep.
	{ printf 'GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/vm.info HTTP/1.1\r\nHost: x\r\n\r\n'
	  sleep 4; } |
		timeout 15 "$REMOTE" --api-socket "$SOCK" --timeout 3 raw >"$TMP/resp" 2>"$TMP/resp.err"
	n200=$(grep -ao 'HTTP/1.1 200 OK' "$TMP/resp" | wc -l)
	[ "$n200" -eq 2 ]
	check $? "two pipelined requests, connection left open: $n200 of 2 answered"
fi

CASE=slow-client
if wanted "$CASE"; then
	# Half a request, then nothing for 3 s; meanwhile others are served
	# and the guest keeps counting; then the slow one completes.
	{ printf 'GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x'; sleep 3; printf '\r\n\r\n'; } |
		timeout 20 "$REMOTE" --api-socket "$SOCK" raw >"$TMP/slow.out" 2>&1 &
	slow=$!
	sleep 0.5
	t1=$(ticks)
	start=$(date +%s%N)
	api ping
	prc=$RC
	api info
	irc=$RC
	ms=$((($(date +%s%N) - start) / 1000000))
	t_wait 2 ticks_above "$t1"
	adv=$?
	wait $slow
	src=$?
	grep -q '^HTTP/1.1 200' "$TMP/slow.out"
	sgot=$?
	[ $prc -eq 0 ] && [ $irc -eq 0 ] && [ $ms -lt 2000 ] && [ $adv -eq 0 ] &&
		[ $src -eq 0 ] && [ $sgot -eq 0 ]
	check $? "others served: ping $prc info $irc in $ms ms; guest ticking: $adv; slow client rc $src, answered: $sgot"
fi

CASE=many-clients
if wanted "$CASE"; then
	# 40 stalled clients (more than the server keeps): a new one still
	# gets in (the quietest ones make room).
	pids=
	for i in $(seq 1 40); do
		{ printf 'GET /api/v1/vmm.ping HTTP/1.1\r\n'; sleep 4; } |
			timeout 20 "$REMOTE" --api-socket "$SOCK" raw >/dev/null 2>&1 &
		pids="$pids $!"
	done
	sleep 1
	api ping
	prc=$RC
	# shellcheck disable=SC2086
	wait $pids 2>/dev/null
	kill -0 "$PID" 2>/dev/null
	alive=$?
	[ $prc -eq 0 ] && [ $alive -eq 0 ]
	check $? "ping rc $prc with 40 stalled clients, cvmm alive $alive"
fi

CASE=openapi-matches-server
if wanted "$CASE"; then
	# path method lines from the document (two-space paths, four-space methods).
	awk '/^paths:/ { p = 1; next } /^[^ ]/ { p = 0 }
	     p && /^  \/[^ ]*:$/ { path = $1; sub(/:$/, "", path) }
	     p && /^    (get|put|post|patch|delete):$/ { m = $1; sub(/:$/, "", m); print path, toupper(m) }' \
		"$OPENAPI" >"$TMP/doc"
	why=
	ndoc=$(wc -l <"$TMP/doc")
	[ "$ndoc" -ge 9 ] || why="only $ndoc operations found in $OPENAPI"
	while read -r path method; do
		other=GET
		[ "$method" = GET ] && other=PUT
		if [ "$method" = GET ]; then
			printf 'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' "$path" | raw
			want=200
		else
			# A broken body: routed (not 404/405) but refused before the
			# endpoint runs, so shutdown & co. are not carried out.
			printf '%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n{' \
				"$method" "$path" | raw
			want=400
		fi
		[ "$STATUS" = "$want" ] || why="${why:+$why; }$method $path: $STATUS, want $want"
		printf '%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n' "$other" "$path" | raw
		[ "$STATUS" = 405 ] || why="${why:+$why; }$other $path: $STATUS, want 405"
	done <"$TMP/doc"
	# And every endpoint the server knows is documented: the client's
	# command list names them all.
	for ep in $("$REMOTE" --help | sed -n 's|.* /api/v1/\([^:]*\):.*|\1|p'); do
		grep -q "^/api/v1/$ep " "$TMP/doc" || why="${why:+$why; }$ep not documented"
	done
	[ -z "$why" ]
	check $? "$why"
fi

CASE=still-running
if wanted "$CASE"; then
	t1=$(ticks)
	t_wait 3 ticks_above "$t1"
	adv=$?
	api info
	grep -qF '"state":"Running"' "$TMP/resp"
	running=$?
	[ $adv -eq 0 ] && [ $running -eq 0 ]
	check $? "after the hostile clients the guest must still tick and the VM run"
fi

# count_of TEXT: lines of the serial output that are exactly TEXT.
count_of() {
	tr -d '\r' <"$SERIAL" | grep -cxF -- "$1"
}

# booted N: the guest has come up N times (banner, APs, first tick).
booted() {
	[ "$(count_of 'tick 0')" -ge "$1" ]
}

CASE=reboot
if wanted "$CASE"; then
	t1=$(ticks)
	api reboot
	rrc=$RC
	api info
	grep -qF '"state":"Running"' "$TMP/resp"
	rstate=$?
	t_wait 10 booted 2
	booted=$?
	# (not anchored: the reset may cut the previous guest's last line short)
	b=$(grep -c "== cvmm test guest 'api_counter'" "$SERIAL")
	o=$(count_of 'api_counter: 2 CPUs online')
	api counters
	grep -qF '"reboots":1' "$TMP/resp"
	counted=$?
	[ $rrc -eq 0 ] && [ $rstate -eq 0 ] && [ $booted -eq 0 ] && [ "$b" -eq 2 ] &&
		[ "$o" -eq 2 ] && [ $counted -eq 0 ]
	check $? "rc $rrc state $rstate; second boot seen: $booted (banners $b, '2 CPUs online' $o times, ticks before $t1); reboots counted: $counted"
fi

CASE=reboot-while-paused
if wanted "$CASE"; then
	api pause
	prc=$RC
	api reboot
	rrc=$RC
	api info
	grep -qF '"state":"Running"' "$TMP/resp"
	rstate=$?
	t_wait 10 booted 3
	booted=$?
	o=$(count_of 'api_counter: 2 CPUs online')
	[ $prc -eq 0 ] && [ $rrc -eq 0 ] && [ $rstate -eq 0 ] && [ $booted -eq 0 ] && [ "$o" -eq 3 ]
	check $? "pause rc $prc, reboot rc $rrc, state Running: $rstate, third boot: $booted (APs up $o times)"
fi

# The helper that takes the VM's teardown off cvmm's exit (kvm.h,
# kvm_defer_teardown): cvmm's child while it runs, holding nothing but its
# pipe (fd 0) and the VM (fd 1), in strict seccomp (mode 1).
CASE=teardown-helper
HELPER=
if wanted "$CASE"; then
	HELPER=$(pgrep -P "$PID" -x cvmm-teardown)
	fds=$(ls /proc/"$HELPER"/fd 2>/dev/null | sort -n | tr '\n' ' ')
	mode=$(awk '/^Seccomp:/ { print $2 }' /proc/"$HELPER"/status 2>/dev/null)
	[ -n "$HELPER" ] && [ "$fds" = "0 1 " ] && [ "$mode" = 1 ]
	check $? "helper pid '$HELPER', fds '$fds' (want '0 1 '), seccomp mode '$mode' (want 1)"
fi

# vm.shutdown stops the VM, the VMM serves on (state Shutdown, ping);
# vmm.shutdown ends the process.
CASE=shutdown
if wanted "$CASE"; then
	api shutdown
	src=$RC
	[ ! -s "$TMP/resp" ] # 204, as cloud-hypervisor
	sstate=$?
	t1=$(ticks)
	sleep 0.3
	t2=$(ticks)
	api info
	grep -qF '"state":"Shutdown"' "$TMP/resp"
	down=$?
	api ping
	prc=$RC
	alive=no
	kill -0 "$PID" 2>/dev/null && alive=yes
	api shutdown-vmm
	vrc=$RC
	vm_wait_exit 5
	[ $src -eq 0 ] && [ $sstate -eq 0 ] && [ "$t1" -eq "$t2" ] && [ $down -eq 0 ] &&
		[ $prc -eq 0 ] && [ $alive = yes ] && [ $vrc -eq 0 ] && [ "$VMRC" -eq 0 ] &&
		[ ! -e "$SOCK" ]
	check $? "vm.shutdown rc $src, empty $sstate, ticks $t1 -> $t2, state Shutdown $down, ping $prc, alive $alive, vmm.shutdown $vrc, cvmm exit $VMRC (want 0), socket left: $([ -e "$SOCK" ] && echo yes || echo no)"
fi
vm_kill

# Once cvmm is gone (shut down, or killed when the filter skipped that),
# so is its helper: it exits at its pipe's EOF (whoever adopted it may
# still have to reap it).
CASE=teardown-helper-exits
if wanted "$CASE" && [ -n "$HELPER" ]; then
	# gone: no process, or a zombie; $st its last state.
	helper_gone() {
		st=$(awk '/^State:/ { print $2 }' /proc/"$HELPER"/status 2>/dev/null)
		[ -z "$st" ] || [ "$st" = Z ]
	}
	t_wait 5 helper_gone
	check $? "helper $HELPER still in state '$st' 5 s after cvmm's exit"
fi

# A guest's write reaches the image and vm.shutdown flushes it: the guest
# writes sector 0 without a FLUSH request, cvmm must fdatasync the image
# before it exits (its debug log says so) and the bytes must be in the file.
CASE=shutdown-flushes-disk
if wanted "$CASE"; then
	truncate -s 1M "$TMP/flush.img"
	if start_vm --disk "path=$TMP/flush.img" --cmdline disk=1 --log-level debug &&
		grep -q '^api_counter: disk written' "$SERIAL"; then
		# vm.shutdown flushes it (the VMM still runs), as vmm.shutdown would.
		api shutdown
		src=$RC
		want=$(printf 'cvmm-flush-test %.0s' $(seq 32))
		got=$(head -c 512 "$TMP/flush.img")
		flushed=no
		grep -qF "disk $TMP/flush.img: flushed (fdatasync) at teardown" "$ERR" && flushed=yes
		api shutdown-vmm
		vm_wait_exit 5
		[ $src -eq 0 ] && [ "$VMRC" -eq 0 ] && [ "$got" = "$want" ] && [ $flushed = yes ]
		check $? "shutdown rc $src, exit $VMRC, sector 0 '${got:0:32}...', flushed: $flushed"
	else
		bad "the guest did not write its disk: $(tail -n 3 "$SERIAL" "$ERR" | tr '\n' ' ')"
	fi
fi
vm_kill

# A reboot clears guest RAM whatever backs it: with --memory shared=on (a
# memfd: its pages are punched out, kvm_clear_ram, under the main thread's
# seccomp filter) the guest's marker from the first boot must be gone at
# the second.
CASE=reboot-shared-ram
if wanted "$CASE"; then
	if start_vm --memory size=64M,shared=on --cmdline ramcheck=0x2000000; then
		api reboot
		rrc=$RC
		t_wait 10 booted 2
		booted=$?
		clean=$(count_of 'api_counter: RAM clean')
		dirty=$(count_of 'api_counter: RAM dirty')
		api shutdown-vmm
		vm_wait_exit 5
		[ $rrc -eq 0 ] && [ $booted -eq 0 ] && [ "$clean" -eq 2 ] && [ "$dirty" -eq 0 ] &&
			[ "$VMRC" -eq 0 ]
		check $? "reboot rc $rrc, second boot seen: $booted, RAM clean at $clean boot(s), dirty at $dirty (want 2 and 0), exit $VMRC"
	else
		bad "cvmm did not start"
	fi
fi
vm_kill

# A reader that stops reading must not hold the VM: the guest writes its
# disk, then floods the serial port (--serial tty, stdout a FIFO) or the
# virtio-console (--console file=FIFO); the reader takes the first bytes
# and then sleeps with the FIFO open. cvmm must drop what does not fit
# (vm.counters counts it) and, on SIGTERM, exit within 5 s with the disk
# flushed (debug log) and the guest's bytes in the image.
stall_case() {
	local name=$1 where=$2 dropped=$3 reader n
	shift 3
	CASE=$name
	wanted "$CASE" || return 0
	rm -f "$TMP/out.fifo" "$TMP/first"
	mkfifo "$TMP/out.fifo"
	truncate -s 1M "$TMP/stall.img"
	: >"$SERIAL"
	{ head -c 300 >"$TMP/first"; exec sleep 60; } <"$TMP/out.fifo" &
	reader=$!
	if [ "$where" = serial ]; then
		"$CVMM" --kernel "$GUEST" --serial tty --memory size=64M --api-socket "$SOCK" \
			--log-level debug --disk "path=$TMP/stall.img" --cmdline "disk=1 period_ms=0" \
			</dev/null >"$TMP/out.fifo" 2>"$ERR" &
	else
		"$CVMM" --kernel "$GUEST" --serial "file=$SERIAL" --console "file=$TMP/out.fifo" \
			--memory size=64M --api-socket "$SOCK" --log-level debug \
			--disk "path=$TMP/stall.img" --cmdline "disk=1 console=1 flood=1 period_ms=0" \
			</dev/null 2>"$ERR" &
	fi
	PID=$!
	# Liveness bound: the output is stalled once bytes are being dropped
	# (n: the count in vm.counters).
	n=0
	dropping() {
		[ -S "$SOCK" ] || return 1
		api counters
		n=$(sed -n "s/.*$dropped\([0-9]*\).*/\1/p" "$TMP/resp")
		[ "${n:-0}" -gt 0 ]
	}
	vm_up 30 dropping
	kill -TERM "$PID" 2>/dev/null
	vm_wait_exit 5
	# The reader may not have run yet on a loaded host (the pipe filled
	# before its first read): what the pipe holds is still there after
	# cvmm's exit, give it time to take its first bytes.
	reader_has_300() { [ "$(wc -c <"$TMP/first")" -ge 300 ]; }
	t_wait 10 reader_has_300
	kill "$reader" 2>/dev/null
	wait "$reader" 2>/dev/null
	local want got flushed=no
	want=$(printf 'cvmm-flush-test %.0s' $(seq 32))
	got=$(head -c 512 "$TMP/stall.img")
	grep -qF "disk $TMP/stall.img: flushed (fdatasync) at teardown" "$ERR" && flushed=yes
	[ "${n:-0}" -gt 0 ] && [ "$VMRC" -eq 0 ] && [ "$got" = "$want" ] && [ $flushed = yes ] &&
		[ -s "$TMP/first" ]
	check $? "dropped ${n:-none} (want > 0), exit $VMRC within 5 s of SIGTERM (want 0), sector 0 '${got:0:32}...', flushed: $flushed, reader got $(wc -c <"$TMP/first") bytes"
}
stall_case stalled-serial-reader serial '"serial":{"tx_dropped":'
stall_case stalled-console-reader console '"virtio-console":{[^}]*"tx_dropped":'
vm_kill

# ------------------------------------------------- the ACPI power button
PBGUEST=$GDIR/power_button.bzImage

# start_pb CMDLINE PATTERN: boots the power_button guest (--debug-exit) and
# waits for the socket and a serial line matching PATTERN (grep -E).
start_pb() {
	: >"$SERIAL"
	rm -f "$SOCK"
	"$CVMM" --kernel "$PBGUEST" --serial "file=$SERIAL" --memory size=64M --debug-exit \
		--api-socket "$SOCK" --log-level info --cmdline "$1" </dev/null 2>"$ERR" &
	PID=$!
	vm_up 15 up_with "$2"
}

# pb_outcome: after the press, the guest must print that it took the press
# by interrupt, then PASS, and end cvmm with status 0 (debug-exit). WHY
# says what went wrong.
pb_outcome() {
	vm_wait_exit 20
	WHY=
	[ "$VMRC" -eq 0 ] || WHY="cvmm exit $VMRC (want 0)"
	grep -q '^FAIL' "$SERIAL" && WHY="${WHY:+$WHY, }guest: $(grep -m1 '^FAIL' "$SERIAL")"
	grep -q '^power button pressed (' "$SERIAL" || WHY="${WHY:+$WHY, }no 'power button pressed' line"
	grep -q '^PASS' "$SERIAL" || WHY="${WHY:+$WHY, }no PASS"
	[ -z "$WHY" ]
}

CASE=power-button
if wanted "$CASE"; then
	if [ ! -f "$PBGUEST" ]; then
		bad "$PBGUEST missing (run 'make guests')"
	elif start_pb "wait_ms=20000" '^power_button: ready'; then
		api power-button
		prc=$RC
		rbody=$(cat "$TMP/resp")
		if pb_outcome && [ $prc -eq 0 ] && [ -z "$rbody" ]; then
			ok
		else
			bad "power-button rc $prc body '$rbody'; $WHY"
		fi
	else
		bad "the power_button guest did not get ready"
	fi
fi

CASE=power-button-before-setup
if wanted "$CASE"; then
	# Pressed while the guest spins with the GED's pin still masked: the
	# event latches (EVENT reads 1) and the level interrupt comes as soon
	# as the guest unmasks the pin.
	if start_pb "wait_ms=20000 setup_delay_ms=3000 expect_early=1" '^power_button: setting up in'; then
		api power-button
		prc=$RC
		if pb_outcome && [ $prc -eq 0 ] &&
			grep -q '^power_button: event pending before setup: yes' "$SERIAL"; then
			ok
		else
			bad "power-button rc $prc; ${WHY:-the guest did not see the early press latched}"
		fi
	else
		bad "the power_button guest did not start"
	fi
fi

CASE=power-button-while-paused
if wanted "$CASE"; then
	# Pressed while paused: 204, nothing happens until resume, then the
	# guest takes it.
	if start_pb "wait_ms=20000" '^power_button: ready'; then
		api pause
		parc=$RC
		api power-button
		prc=$RC
		sleep 0.5
		grep -q '^power button pressed' "$SERIAL"
		early=$?
		api counters
		grep -qF '"power_button_presses":1' "$TMP/resp"
		counted=$?
		api resume
		rrc=$RC
		if pb_outcome && [ $parc -eq 0 ] && [ $prc -eq 0 ] && [ $early -ne 0 ] &&
			[ $counted -eq 0 ] && [ $rrc -eq 0 ]; then
			ok
		else
			bad "pause $parc, press $prc, taken while paused: $([ $early -eq 0 ] && echo yes || echo no), counted $counted, resume $rrc; $WHY"
		fi
	else
		bad "the power_button guest did not get ready"
	fi
fi
vm_kill

# ------------------------------------------------- lifecycle, one VM each
CASE=pause-then-shutdown
if wanted "$CASE"; then
	rm -f "$SOCK"
	if start_vm --cpus boot=2; then
		api pause
		prc=$RC
		api shutdown-vmm
		src=$RC
		vm_wait_exit 5
		[ $prc -eq 0 ] && [ $src -eq 0 ] && [ "$VMRC" -eq 0 ]
		check $? "pause rc $prc, vmm.shutdown rc $src, cvmm exit $VMRC (want 0)"
	else
		bad "cvmm did not start"
	fi
fi

CASE=sighup-ignored-sigterm-removes-socket
if wanted "$CASE"; then
	rm -f "$SOCK"
	if start_vm; then
		kill -HUP "$PID"
		sleep 0.3
		api ping
		hup=$RC
		kill -TERM "$PID"
		vm_wait_exit 5
		[ $hup -eq 0 ] && [ "$VMRC" -eq 0 ] && [ ! -e "$SOCK" ]
		check $? "after SIGHUP ping rc $hup (want 0); after SIGTERM exit $VMRC (want 0), socket left: $([ -e "$SOCK" ] && echo yes || echo no)"
	else
		bad "cvmm did not start"
	fi
fi

CASE=stale-socket-replaced
if wanted "$CASE"; then
	rm -f "$SOCK"
	if start_vm; then
		kill -KILL "$PID"
		wait "$PID" 2>/dev/null
		PID=
		if [ -S "$SOCK" ] && start_vm; then
			api ping
			prc=$RC
			api shutdown-vmm
			vm_wait_exit 5
			[ $prc -eq 0 ] && [ "$VMRC" -eq 0 ]
			check $? "second cvmm on the stale socket: ping rc $prc, exit $VMRC"
		else
			bad "no stale socket left by SIGKILL, or the second cvmm did not start"
		fi
	else
		bad "cvmm did not start"
	fi
fi

CASE=live-socket-refused
if wanted "$CASE"; then
	rm -f "$SOCK"
	if start_vm; then
		timeout 10 "$CVMM" --kernel "$GUEST" --serial null --api-socket "$SOCK" \
			</dev/null >/dev/null 2>"$TMP/second.err"
		r2=$?
		api ping
		prc=$RC
		api shutdown-vmm
		vm_wait_exit 5
		[ $r2 -eq 1 ] && grep -q 'another process' "$TMP/second.err" && [ $prc -eq 0 ]
		check $? "second cvmm on a live socket: exit $r2 (want 1 with a message), first still answers: $prc"
	else
		bad "cvmm did not start"
	fi
fi

CASE=non-socket-refused
if wanted "$CASE"; then
	echo precious >"$TMP/file"
	timeout 10 "$CVMM" --kernel "$GUEST" --serial null --api-socket "$TMP/file" \
		</dev/null >/dev/null 2>"$TMP/third.err"
	r=$?
	[ $r -eq 1 ] && [ "$(cat "$TMP/file")" = precious ] && grep -q 'not a socket' "$TMP/third.err"
	check $? "a regular file at the socket path: exit $r (want 1), file kept, message"
fi

# ------------------------------------- device threads: pause and reboot
# The counter guest drives a virtio-console (console=1) whose input is a
# FIFO this script writes: while the VM is paused, a line written to it
# must stay with the host (the device thread is parked: the console's
# counters do not move and the guest gets nothing); on resume the guest
# receives it. Then (scramble=1: the guest moved BAR 0, masked MSI-X,
# disabled INTx) a reboot must give the new guest the function as it was
# at the first boot, and the device must work again.
FIFO=$TMP/console.in

# console_counts: "requests bytes" of the virtio-console in vm.counters.
console_counts() {
	api counters
	sed -n 's/.*"virtio-console":{"requests":\([0-9]*\),"bytes":\([0-9]*\).*/\1 \2/p' \
		"$TMP/resp"
}

start_console_vm() {
	: >"$SERIAL"
	rm -f "$SOCK" "$FIFO"
	mkfifo "$FIFO" || return 1
	"$CVMM" --kernel "$GUEST" --serial "file=$SERIAL" --console tty --memory size=64M \
		--api-socket "$SOCK" --log-level info --cmdline "console=1 scramble=1" \
		<"$FIFO" >"$TMP/console.out" 2>"$ERR" &
	PID=$!
	# Opening the FIFO for writing waits for cvmm to open it for reading.
	exec 7>"$FIFO"
	vm_up 15 up_with '^tick'
}

if wanted 'pause-parks-devices' || wanted 'reboot-resets-devices'; then
	if ! start_console_vm; then
		CASE=pause-parks-devices
		bad "the counter guest with a virtio-console did not come up"
	fi
fi

CASE=pause-parks-devices
if wanted "$CASE" && [ -n "$PID" ]; then
	api pause
	prc=$RC
	sleep 0.2
	c1=$(console_counts)
	t1=$(ticks)
	echo "while-paused" >&7
	sleep 1
	c2=$(console_counts)
	t2=$(ticks)
	grep -q "console got" "$SERIAL"
	early=$?
	api resume
	rrc=$RC
	t_wait 5 serial_has "^api_counter: console got 'while-paused'"
	got=$?
	c3=$(console_counts)
	[ $prc -eq 0 ] && [ -n "$c1" ] && [ "$c1" = "$c2" ] && [ "$t1" -eq "$t2" ] &&
		[ $early -ne 0 ] && [ $rrc -eq 0 ] && [ $got -eq 0 ] && [ "$c3" != "$c1" ]
	check $? "pause rc $prc; console counters paused '$c1' -> '$c2' (must not move), ticks $t1 -> $t2, delivered while paused: $([ $early -eq 0 ] && echo yes || echo no); resume rc $rrc, line received after resume: $got, counters then '$c3'"
fi

CASE=reboot-resets-devices
if wanted "$CASE" && [ -n "$PID" ]; then
	grep -q '^api_counter: console state scrambled' "$SERIAL"
	scrambled=$?
	api reboot
	rrc=$RC
	t_wait 1 serial_has '^api_counter: a tick' >/dev/null
	ready_twice() { [ "$(count_of 'api_counter: console ready')" -ge 2 ]; }
	t_wait 10 ready_twice
	ready=$(count_of 'api_counter: console ready')
	boots=$(grep -c '^api_counter: console at boot:' "$SERIAL")
	distinct=$(grep '^api_counter: console at boot:' "$SERIAL" | tr -d '\r' | sort -u | wc -l)
	echo "after-reboot" >&7
	t_wait 5 serial_has "^api_counter: console got 'after-reboot'"
	got=$?
	[ $scrambled -eq 0 ] && [ $rrc -eq 0 ] && [ "$ready" -eq 2 ] && [ "$boots" -eq 2 ] &&
		[ "$distinct" -eq 1 ] && [ $got -eq 0 ]
	check $? "scrambled before: $scrambled, reboot rc $rrc, console ready $ready times (want 2), power-on config seen $boots times with $distinct variant(s) (want 1: $(grep '^api_counter: console at boot:' "$SERIAL" | tr -d '\r' | sort -u | tr '\n' '|')), used after reboot: $got"
fi
if [ -n "$PID" ]; then
	api shutdown-vmm
	vm_wait_exit 5
	exec 7>&-
fi

# vm.info on a virtio-mmio VM: each device's transport, 4 KiB window and
# GSI (in the order the devices were added: disk, then rng), no PCI fields.
CASE=info-virtio-mmio
if wanted "$CASE"; then
	rm -f "$SOCK"
	if start_vm --rng --disk "path=$TMP/disk.img" --virtio-transport mmio; then
		api info
		why=
		[ $RC -eq 0 ] || why="rc $RC"
		for s in '"type":"virtio-blk","transport":"mmio","address":4272951296,"size":4096,"interrupt":16' \
			'"type":"virtio-rng","transport":"mmio","address":4272955392,"size":4096,"interrupt":17'; do
			grep -qF -- "$s" "$TMP/resp" || { why="${why:+$why, }lacks $s"; break; }
		done
		# The windows are platform devices too: legacy_devices lists them.
		grep -qF '"mmio":4272951296,"mmio_size":4096,"irq":16}' "$TMP/resp" ||
			why="${why:+$why, }no legacy_devices entry of the first window"
		! grep -qF '"bdf"' "$TMP/resp" || why="${why:+$why, }a bdf on virtio-mmio"
		! grep -qF '"transport":"pci"' "$TMP/resp" || why="${why:+$why, }a device on pci"
		[ -z "$why" ] || why="$why (info: $(head -c 600 "$TMP/resp"))"
		shutdown_and_check
	else
		bad "cvmm did not come up with --virtio-transport mmio"
		[ -n "$PID" ] && kill "$PID" 2>/dev/null
	fi
fi

# Reboot resets the virtio-mmio windows through their platform records,
# and a VM without a PIT (--platform pit=off) has none to put back.
CASE=reboot-virtio-mmio-no-pit
if wanted "$CASE"; then
	rm -f "$SOCK"
	if start_vm --rng --virtio-transport mmio --platform pit=off; then
		api reboot
		why=
		[ $RC -eq 0 ] || why="reboot rc $RC ($(head -c 200 "$TMP/resp"))"
		t_wait 10 booted 2 || why="${why:+$why, }no second boot"
		shutdown_and_check
	else
		bad "cvmm did not come up with --virtio-transport mmio --platform pit=off"
		[ -n "$PID" ] && kill "$PID" 2>/dev/null
	fi
fi

# A passthrough device (a vfio-user server: tests/vfio-user/edu-server)
# in vm.info (its BARs, mapped and trapped, the interrupt kind) and
# vm.counters, and reset with the machine at a reboot.
CASE=passthrough-user-device
EDU=$(dirname "$CVMM")/tests/vfio-user/edu-server
if wanted "$CASE"; then
	if [ ! -x "$EDU" ]; then
		skip "$CASE" "no $EDU (make $(dirname "$CVMM")/tests/vfio-user/edu-server)"
	else
		rm -f "$SOCK" "$TMP/edu.sock"
		"$EDU" --socket "$TMP/edu.sock" 2>"$TMP/edu.err" &
		EPID=$!
		t_wait 5 test -S "$TMP/edu.sock"
		if start_vm --user-device "socket=$TMP/edu.sock,id=edu0" --memory size=64M,shared=on; then
			why=
			api info
			for s in '"passthrough":[{"name":"edu0","backend":"vfio-user"' \
				'"vendor_id":4660,"device_id":4584' '"access":"mmap+trap"' \
				'"access":"trap"' '"irq":{"mode":"intx","vectors":1,"msix_vectors":2'; do
				grep -qF -- "$s" "$TMP/resp" || { why="${why:+$why, }info lacks $s"; break; }
			done
			api reboot
			[ $RC -eq 0 ] || why="${why:+$why, }reboot rc $RC"
			t_wait 10 booted 2 || why="${why:+$why, }no second boot"
			api counters
			grep -qF '"edu0":{"config_reads":' "$TMP/resp" &&
				grep -qF '"resets":1,' "$TMP/resp" ||
				why="${why:+$why, }counters: $(head -c 300 "$TMP/resp")"
			shutdown_and_check
		else
			bad "cvmm did not come up with --user-device"
			[ -n "$PID" ] && kill "$PID" 2>/dev/null
		fi
		kill "$EPID" 2>/dev/null
		wait "$EPID" 2>/dev/null
	fi
fi

# vhost-user devices in vm.info: a vhost-user-blk disk (qemu-storage-daemon)
# and a virtio-fs (virtiofsd), their configuration and their backends'
# state; a reboot and the shutdown with them (exit 0, nothing logged above
# info).
CASE=vhost-user-info
VIRTIOFSD=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
if wanted "$CASE"; then
	if ! command -v qemu-storage-daemon >/dev/null || [ ! -x "$VIRTIOFSD" ]; then
		skip "$CASE" "no qemu-storage-daemon or $VIRTIOFSD (qemu-system-common)"
	else
		rm -f "$SOCK" "$TMP/vub.sock" "$TMP/fs.sock"
		mkdir -p "$TMP/share"
		truncate -s 1M "$TMP/vub.img"
		qemu-storage-daemon --blockdev "driver=file,node-name=d0,filename=$TMP/vub.img" \
			--export "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=$TMP/vub.sock,writable=on" \
			>"$TMP/qsd.err" 2>&1 &
		QPID=$!
		"$VIRTIOFSD" --socket-path="$TMP/fs.sock" -o source="$TMP/share" -o sandbox=chroot \
			>"$TMP/virtiofsd.err" 2>&1 &
		FPID=$!
		t_wait 10 test -S "$TMP/vub.sock" && t_wait 10 test -S "$TMP/fs.sock"
		if start_vm --memory size=64M,shared=on --disk "vhost_user=on,socket=$TMP/vub.sock,id=vub" \
			--fs "tag=share,socket=$TMP/fs.sock"; then
			why=
			api info
			for s in '"num_queues":1,"queue_size":128,"vhost_user":true,"socket":"'"$TMP/vub.sock"'"' \
				'"fs":[{"tag":"share","socket":"'"$TMP/fs.sock"'","num_queues":1,"queue_size":128,"id":"_fs' \
				'"name":"vhost-user-blk(vub)","type":"virtio-blk"' \
				'"name":"virtio-fs(share)","type":"virtio-fs"' \
				'"queues":2,"vhost_user":{"socket":"'"$TMP/fs.sock"'","connected":true,"active":false'; do
				grep -qF -- "$s" "$TMP/resp" || { why="${why:+$why, }info lacks $s"; break; }
			done
			api reboot
			[ $RC -eq 0 ] || why="${why:+$why, }reboot rc $RC"
			t_wait 10 booted 2 || why="${why:+$why, }no second boot"
			shutdown_and_check
			if grep -qvE '^cvmm: (info|debug): ' "$ERR"; then
				bad "cvmm logged: $(grep -vE '^cvmm: (info|debug): ' "$ERR" | head -n 2)"
			fi
		else
			bad "cvmm did not come up with vhost-user devices"
			[ -n "$PID" ] && kill "$PID" 2>/dev/null
		fi
		kill "$QPID" "$FPID" 2>/dev/null
		wait "$QPID" "$FPID" 2>/dev/null
	fi
fi

CASE=pause-during-device-churn
if wanted "$CASE"; then
	# The guest activates and resets the virtio-rng at every tick (its
	# device thread starts and stops all the time) while the VM is
	# paused and resumed 30 times in a row: every pause must succeed (no
	# deadlock with a vCPU starting or joining the thread, no timeout),
	# the device counters must stand still while paused, and the guest
	# must go on with its sessions.
	rm -f "$SOCK"
	if start_vm --rng --cpus boot=2 --cmdline churn=1; then
		t_wait 10 serial_has '^api_counter: rng churn'
		why=
		for i in $(seq 1 30); do
			api pause
			[ $RC -eq 0 ] || { why="${why:+$why, }pause $i rc $RC"; break; }
			if [ "$i" -eq 15 ]; then
				r1=$(api counters; sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$TMP/resp")
				sleep 0.5
				r2=$(api counters; sed -n 's/.*"requests":\([0-9]*\).*/\1/p' "$TMP/resp")
				[ -n "$r1" ] && [ "$r1" = "$r2" ] || why="${why:+$why, }rng requests moved while paused: $r1 -> $r2"
			fi
			api resume
			[ $RC -eq 0 ] || { why="${why:+$why, }resume $i rc $RC"; break; }
		done
		# 10 more pause/resume pairs pipelined on one connection: each
		# pause comes microseconds after the resume before it, often
		# while the vCPU threads are still waking from the last one.
		pipe=
		for i in $(seq 1 10); do
			pipe="${pipe}PUT /api/v1/vm.pause HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
			[ "$i" -eq 10 ] && conn='Connection: close\r\n' || conn=
			pipe="${pipe}PUT /api/v1/vm.resume HTTP/1.1\r\nHost: x\r\n${conn}Content-Length: 0\r\n\r\n"
		done
		printf "$pipe" | raw
		n200=$(grep -ao 'HTTP/1.1 204 No Content' "$TMP/resp" | wc -l)
		[ "$n200" -eq 20 ] || why="${why:+$why, }pipelined pause/resume: $n200 of 20 answered 204"
		# The VM and every vCPU counted each of the 40 pauses (a pause
		# right after a resume finds the vCPU still parked: it counts too).
		api counters
		pc=$(grep -o '"pauses":[0-9]*' "$TMP/resp" | sort | uniq -c | tr -s ' ' | tr '\n' ' ')
		[ "$(grep -o '"pauses":[0-9]*' "$TMP/resp" | sort -u)" = '"pauses":40' ] ||
			why="${why:+$why, }pause counts (VM and vCPUs) are not all 40: $pc"
		n1=$(grep -c '^api_counter: rng churn' "$SERIAL")
		churn_reports() { [ "$(grep -c '^api_counter: rng churn' "$SERIAL")" -ge "$1" ]; }
		t_wait 15 churn_reports $((n1 + 2)) ||
			why="${why:+$why, }the sessions did not go on ($n1 reports; serial ends: $(tail -n 3 "$SERIAL" | tr -d '\r' | tr '\n' '|'))"
		grep -q '^FAIL' "$SERIAL" && why="${why:+$why, }guest: $(grep -m1 '^FAIL' "$SERIAL")"
		shutdown_and_check
	else
		bad "cvmm did not start"
	fi
fi
vm_kill

# ------------------------------------------------------ create-then-boot
# cvmm --api-socket PATH with no --kernel: NotCreated until vm.create (the
# command line's options as JSON, checked by the same parser), Created
# until vm.boot, then an ordinary VM.

# start_empty: cvmm with only the API socket; waits for the socket.
start_empty() {
	: >"$SERIAL"
	rm -f "$SOCK"
	"$CVMM" --api-socket "$SOCK" --log-level info </dev/null >/dev/null 2>"$ERR" &
	PID=$!
	vm_up 10 test -S "$SOCK"
}

# api_status COMMAND [JSON]: as api, and ST is the HTTP status cvmm-remote
# reported (200 when it succeeded).
api_status() {
	api "$@"
	ST=200
	[ $RC -eq 0 ] || ST=$(sed -n 's/.*HTTP\/1\.1 \([0-9][0-9][0-9]\).*/\1/p' "$TMP/resp.err" | head -n 1)
}

# create_refusals: for each "body|message" line on stdin, vm.create must
# answer 400 with exactly that message; what does not is added to $why.
create_refusals() {
	local body msg
	while IFS='|' read -r body msg; do
		api_status create "$body"
		grep -qF "[\"$msg\"]" "$TMP/resp" && [ "$ST" = 400 ] ||
			why="${why:+$why; }[$body] $ST $(cat "$TMP/resp")"
	done
}

# Without the in-kernel PIT (the counter guest ticks on the LAPIC timer):
# built, rebooted and shut down that way too.
CREATE_JSON="{\"kernel\": \"$GUEST\", \"serial\": \"file=$SERIAL\", \"memory\": \"64M\",
 \"cpus\": {\"boot\": 2}, \"cmdline\": \"aps=1\", \"rng\": true, \"platform\": {\"pit\": false},
 \"vsock\": {\"cid\": 5, \"socket\": \"$TMP/v.sock\"}}"

if wanted not-created-info || wanted boot-before-create-404 || wanted create-bad-400 ||
	wanted create-boot || wanted create-boot-reboot || wanted create-boot-lifecycle ||
	wanted shutdown-boot-cycle; then
	if ! start_empty; then
		CASE=create-start
		bad "cvmm --api-socket without --kernel did not come up"
	fi
fi

CASE=not-created-info
if wanted "$CASE" && [ -n "$PID" ]; then
	api_status info
	[ "$ST" = 404 ]
	check $? "vm.info before vm.create: $ST, want 404"
fi

# No VM yet: 404, as cloud-hypervisor's "not created".
CASE=boot-before-create-404
if wanted "$CASE" && [ -n "$PID" ]; then
	api_status boot
	why=
	[ "$ST" = 404 ] || why="boot: $ST"
	for c in pause resume reboot power-button shutdown; do
		api_status "$c"
		[ "$ST" = 404 ] || why="${why:+$why, }$c: $ST"
	done
	[ -z "$why" ]
	check $? "want 404: $why"
fi

CASE=create-bad-400
if wanted "$CASE" && [ -n "$PID" ]; then
	why=
	# body | the exact error message (the command line's own, for values);
	# a string that looks like an option is a value, never an option
	create_refusals <<-EOF
	{}|--kernel: required (see --help)
	[1, 2]|vm.create: the body must be a JSON object
	{"kernel": 5}|vm.create: 'kernel': expected a string
	{"kernel": "k", "frob": 1}|vm.create: unknown field 'frob'
	{"kernel": "k", "cpus": 0}|--cpus: boot=0: expected 1-254
	{"kernel": "k", "memory": "1K"}|--memory: size=1K: must be between 16M and 1T
	{"kernel": "k", "serial": "tty", "console": "tty"}|--console tty: the tty already belongs to --serial (use --serial off or another backend)
	{"kernel": "k", "disks": [{"path": "/x", "bogus": true}]}|--disk: unknown key 'bogus' (expected path, readonly, direct, id, num_queues, queue_size, engine, fixed_buffers, vhost_user, socket)
	{"kernel": "k", "disks": [{"path": "/x", "num_queues": 9}]}|--disk: num_queues=9: expected 1-8
	{"kernel": "k", "disks": [{"path": "/x", "queue_size": 100}]}|--disk: queue_size=100: expected a power of two, 4-1024
	{"kernel": "k", "disks": [{"path": "/x", "engine": "aio"}]}|--disk: engine=aio: expected uring or sync
	{"kernel": "k", "disks": ["path=/x,num_queues=0"]}|--disk: num_queues=0: expected 1-8
	{"nets": ["--help"]}|--net: expected key=value, got '--help'
	{"kernel": "k", "nets": ["--disk=path=/etc/passwd"]}|--net: unknown key '--disk' (expected tap, mac, ip, mask, id)
	{"kernel": "k", "rng": "--disk=path=/etc/passwd"}|--rng: unknown key '--disk' (expected src=PATH, id)
	{"kernel": "k", "cmdline": ["--help"]}|vm.create: 'cmdline': expected a string
	{"kernel": "k", "vsock": {"cid": 1, "socket": "/v"}}|--vsock: cid=1: expected 3-4294967294
	EOF
	api_status info
	[ "$ST" = 404 ] || why="${why:+$why; }state after: $ST $(cat "$TMP/resp")"
	[ -z "$why" ]
	check $? "$why"
fi

CASE=create-boot
if wanted "$CASE" && [ -n "$PID" ]; then
	api_status create "$CREATE_JSON"
	cst=$ST
	api info
	grep -qF '"state":"Created"' "$TMP/resp" && grep -qF "\"kernel\":\"$GUEST\"" "$TMP/resp"
	created=$?
	api_status create "$CREATE_JSON"
	twice=$ST
	api_status boot
	bst=$ST
	api info
	grep -qF '"state":"Running"' "$TMP/resp"
	running=$?
	t_wait 10 booted 1
	booted=$?
	o=$(count_of 'api_counter: 2 CPUs online')
	api info
	grep -qF '"type":"virtio-rng"' "$TMP/resp" && grep -qF '"vcpus":2' "$TMP/resp" &&
		grep -qF '"platform":{"num_pci_segments":1,"pit":false}' "$TMP/resp" &&
		grep -qF '"type":"virtio-vsock"' "$TMP/resp" &&
		grep -qF "\"vsock\":{\"cid\":5,\"socket\":\"$TMP/v.sock\",\"id\":\"_vsock" "$TMP/resp" &&
		[ -S "$TMP/v.sock" ]
	devs=$?
	api_status boot
	again=$ST
	[ "$cst" = 200 ] && [ $created -eq 0 ] && [ "$twice" = 500 ] && [ "$bst" = 200 ] &&
		[ $running -eq 0 ] && [ $booted -eq 0 ] && [ "$o" -eq 1 ] && [ $devs -eq 0 ] &&
		[ "$again" = 500 ]
	check $? "create $cst (want 200), state Created $created, create again $twice (want 500), boot $bst state Running $running, guest output: $booted (APs online $o), devices and platform in info $devs, boot again $again (want 500)"
fi

# A reboot of the VM without a PIT (nothing of a PIT to save or restore).
CASE=create-boot-reboot
if wanted "$CASE" && [ -n "$PID" ]; then
	api reboot
	rrc=$RC
	t_wait 10 booted 2
	booted=$?
	[ $rrc -eq 0 ] && [ $booted -eq 0 ]
	check $? "reboot rc $rrc, second boot seen: $booted"
fi

CASE=create-boot-lifecycle
if wanted "$CASE" && [ -n "$PID" ]; then
	api pause
	prc=$RC
	t1=$(ticks)
	sleep 0.5
	t2=$(ticks)
	api resume
	rrc=$RC
	t_wait 5 ticks_above "$t2"
	adv=$?
	[ $prc -eq 0 ] && [ "$t1" -eq "$t2" ] && [ $rrc -eq 0 ] && [ $adv -eq 0 ]
	check $? "pause $prc (ticks $t1 -> $t2), resume $rrc, ticking again $adv"
fi

# The VM goes and comes back while the VMM runs on: boot, shutdown (state
# Shutdown, alive, ping), boot again (the guest runs again), shutdown,
# delete, create, boot; the process's fds are those it had before each
# boot (nothing leaks across machines; ASan checks memory at the exit).
CASE=shutdown-boot-cycle
if wanted "$CASE" && [ -n "$PID" ]; then
	why=
	nfds() { ls /proc/"$PID"/fd | wc -l; }
	# down: vm.shutdown answered 204 and the VMM serves on.
	down() {
		api shutdown
		[ $RC -eq 0 ] || why="${why:+$why; }$1: shutdown rc $RC $(cat "$TMP/resp")"
		api info
		grep -qF '"state":"Shutdown"' "$TMP/resp" ||
			why="${why:+$why; }$1: state $(grep -o '"state":"[A-Za-z]*"' "$TMP/resp")"
		api ping
		[ $RC -eq 0 ] && kill -0 "$PID" 2>/dev/null || why="${why:+$why; }$1: VMM gone"
	}
	# up N: vm.boot answered 204 and the guest came up the Nth time.
	up() {
		api_status boot
		[ "$ST" = 200 ] || why="${why:+$why; }boot $1: $ST $(cat "$TMP/resp")"
		t_wait 10 booted "$1" || why="${why:+$why; }boot $1: no tick 0"
	}
	n0=$(count_of 'tick 0')
	down first
	f0=$(nfds)
	up $((n0 + 1))
	down second
	f1=$(nfds)
	api_status shutdown
	[ "$ST" = 500 ] || why="${why:+$why; }shutdown when Shutdown: $ST (want 500)"
	api_status delete
	[ "$ST" = 200 ] || why="${why:+$why; }delete: $ST"
	api_status info
	[ "$ST" = 404 ] || why="${why:+$why; }info after delete: $ST (want 404)"
	api_status create "$CREATE_JSON"
	[ "$ST" = 200 ] || why="${why:+$why; }create again: $ST"
	up $((n0 + 2))
	api_status delete # a running VM: shut down, then forgotten
	[ "$ST" = 200 ] || why="${why:+$why; }delete while running: $ST"
	f2=$(nfds)
	[ "$f0" -eq "$f1" ] && [ "$f0" -eq "$f2" ] || why="${why:+$why; }fds $f0 -> $f1 -> $f2"
	api_status info
	[ "$ST" = 404 ] || why="${why:+$why; }info after the last delete: $ST"
	shutdown_and_check
fi
vm_kill

CASE=not-created-sigterm
if wanted "$CASE"; then
	if start_empty; then
		kill -TERM "$PID"
		vm_wait_exit 5
		[ "$VMRC" -eq 0 ] && [ ! -e "$SOCK" ]
		check $? "SIGTERM while NotCreated: exit $VMRC (want 0), socket left: $([ -e "$SOCK" ] && echo yes || echo no)"
	else
		bad "cvmm did not start"
	fi
fi

CASE=created-shutdown
if wanted "$CASE"; then
	if start_empty; then
		api create "$CREATE_JSON"
		crc=$RC
		api_status shutdown # not booted: 500, as cloud-hypervisor
		sst=$ST
		api shutdown-vmm
		src=$RC
		vm_wait_exit 5
		[ $crc -eq 0 ] && [ "$sst" = 500 ] && [ $src -eq 0 ] && [ "$VMRC" -eq 0 ] && [ ! -s "$SERIAL" ]
		check $? "create $crc, vm.shutdown while Created $sst (want 500), vmm.shutdown $src, exit $VMRC (want 0), no guest output: $([ -s "$SERIAL" ] && echo no || echo yes)"
	else
		bad "cvmm did not start"
	fi
fi

CASE=create-missing-file-400
if wanted "$CASE"; then
	if start_empty; then
		why=
		# A file that cannot be opened: 400 naming the field and the file,
		# and nothing is created.
		create_refusals <<-EOF
		{"kernel": "/nonexistent/bzImage"}|vm.create: 'kernel': /nonexistent/bzImage: No such file or directory
		{"kernel": "$GUEST", "initramfs": "/nonexistent/initrd"}|vm.create: 'initramfs': /nonexistent/initrd: No such file or directory
		{"kernel": "$GUEST", "disks": ["path=/nonexistent/d.img"]}|vm.create: 'disks[0].path': /nonexistent/d.img: No such file or directory
		{"kernel": "$GUEST", "rng": {"src": "/nonexistent/rng"}}|vm.create: 'rng.src': /nonexistent/rng: No such file or directory
		{"kernel": "$GUEST", "devices": [{"path": "/nonexistent/0000:01:00.0"}]}|vm.create: 'devices[0].path': /nonexistent/0000:01:00.0: No such file or directory
		{"kernel": "$GUEST", "devices": ["path=/tmp"]}|vm.create: 'devices[0].path': /tmp: not a PCI device (expected /sys/bus/pci/devices/DDDD:BB:DD.F)
		EOF
		api_status info
		[ "$ST" = 404 ] || why="${why:+$why; }state: $ST $(cat "$TMP/resp")"
		# A disk removed between vm.create and vm.boot: 400, still Created;
		# back again, the boot goes ahead.
		truncate -s 1M "$TMP/late.img"
		api_status create "{\"kernel\": \"$GUEST\", \"serial\": \"file=$SERIAL\",
		 \"memory\": \"64M\", \"disks\": [{\"path\": \"$TMP/late.img\"}]}"
		[ "$ST" = 200 ] || why="${why:+$why; }create with the disk: $ST"
		rm -f "$TMP/late.img"
		api_status boot
		msg="vm.boot: 'disks[0].path': $TMP/late.img: No such file or directory"
		[ "$ST" = 400 ] && grep -qF "[\"$msg\"]" "$TMP/resp" ||
			why="${why:+$why; }boot without the disk: $ST $(cat "$TMP/resp")"
		api info
		grep -qF '"state":"Created"' "$TMP/resp" || why="${why:+$why; }state: $(cat "$TMP/resp")"
		truncate -s 1M "$TMP/late.img"
		api_status boot
		[ "$ST" = 200 ] && t_wait 10 booted 1 || why="${why:+$why; }boot with the disk: $ST"
		shutdown_and_check
	else
		bad "cvmm did not start"
	fi
fi
vm_kill

CASE=create-boot-fails
if wanted "$CASE"; then
	if start_empty; then
		why=
		# A kernel file that opens but is no kernel: the build fails, the
		# answer is 500 and the VMM serves on with the VM Created.
		printf 'not a kernel\n' >"$TMP/notakernel"
		api create "{\"kernel\": \"$TMP/notakernel\"}"
		crc=$RC
		api_status boot
		bst=$ST
		# One failure, one error line (docs/logging.md): the loader's.
		nerr=$(grep -c "cvmm: error:" "$ERR")
		[ $crc -eq 0 ] && [ "$bst" = 500 ] && grep -q "$TMP/notakernel" "$ERR" &&
			[ "$nerr" -eq 1 ] ||
			why="create $crc, boot $bst (want 500), kernel named in the log?, $nerr error lines (want 1)"
		kill -0 "$PID" 2>/dev/null || why="${why:+$why; }cvmm exited"
		api ping
		[ $RC -eq 0 ] || why="${why:+$why; }ping after the failed boot: $(cat "$TMP/resp.err")"
		api info
		grep -qF '"state":"Created"' "$TMP/resp" || why="${why:+$why; }state: $(head -c 200 "$TMP/resp")"
		# Booted again after a vm.delete and a good vm.create.
		api_status delete
		[ "$ST" = 200 ] || why="${why:+$why; }delete: $ST"
		api_status create "{\"kernel\": \"$GUEST\", \"serial\": \"file=$SERIAL\", \"memory\": \"64M\"}"
		api_status boot
		[ "$ST" = 200 ] && t_wait 10 booted 1 || why="${why:+$why; }boot of a good kernel: $ST"
		shutdown_and_check
	else
		bad "cvmm did not start"
	fi
fi
vm_kill

# A vfio-user server that hangs up at once: the boot fails in the build
# (the connection), cvmm serves on; vm.remove-device takes the device out of
# the configuration (by its id; an unknown id is 500) and the boot succeeds.
CASE=boot-fails-remove-device
if wanted "$CASE"; then
	rm -f "$TMP/hangup.sock"
	python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
while True:
    s.accept()[0].close()' "$TMP/hangup.sock" &
	HANGUP=$!
	t_wait 5 test -S "$TMP/hangup.sock"
	if start_empty; then
		why=
		api_status create "{\"kernel\": \"$GUEST\", \"serial\": \"file=$SERIAL\", \"memory\": \"64M\",
		 \"user_devices\": [{\"socket\": \"$TMP/hangup.sock\", \"id\": \"gone\"}]}"
		[ "$ST" = 200 ] || why="create: $ST $(cat "$TMP/resp")"
		api_status boot
		[ "$ST" = 500 ] || why="${why:+$why; }boot with the hung-up server: $ST, want 500"
		api info
		grep -qF '"state":"Created"' "$TMP/resp" && grep -qF '"id":"gone"' "$TMP/resp" ||
			why="${why:+$why; }after the failed boot: $(head -c 300 "$TMP/resp")"
		api_status remove-device nope
		[ "$ST" = 500 ] && grep -qF "no device with id 'nope'" "$TMP/resp" ||
			why="${why:+$why; }remove-device nope: $ST $(cat "$TMP/resp")"
		api_status resize-disk --disk gone --size 1M
		[ "$ST" = 500 ] || why="${why:+$why; }resize-disk before boot: $ST"
		api_status remove-device gone
		[ "$ST" = 200 ] || why="${why:+$why; }remove-device gone: $ST $(cat "$TMP/resp")"
		api info
		grep -qF '"user_devices":[]' "$TMP/resp" ||
			why="${why:+$why; }still configured: $(head -c 300 "$TMP/resp")"
		api_status boot
		[ "$ST" = 200 ] && t_wait 10 booted 1 || why="${why:+$why; }boot without it: $ST"
		shutdown_and_check
	else
		bad "cvmm did not start"
	fi
	kill "$HANGUP" 2>/dev/null
	wait "$HANGUP" 2>/dev/null
fi
vm_kill

# Ids of every device kind (cloud-hypervisor's NetConfig, VsockConfig,
# RngConfig... have one): defaults "_vsock0", "_rng1" in vm.info's config,
# given ones (id=) kept; vm.remove-device takes each out before boot; 300
# vm.add-disk / vm.remove-device cycles do not fill the configuration's
# string store (they did after ~200); on the running VM, remove-device of
# the virtio-console is refused, saying why.
CASE=remove-device-ids
if wanted "$CASE"; then
	if start_empty; then
		why=
		api_status create "{\"kernel\": \"$GUEST\", \"serial\": \"file=$SERIAL\", \"memory\": \"64M\",
		 \"console\": \"file=$TMP/ids.hvc\",
		 \"vsock\": {\"cid\": 3, \"socket\": \"$TMP/ids.vsock\"}, \"rng\": {\"src\": \"/dev/urandom\"}}"
		[ "$ST" = 200 ] || why="create: $ST $(cat "$TMP/resp")"
		api info
		grep -qF '"cid":3,"socket":"'"$TMP"'/ids.vsock","id":"_vsock0"' "$TMP/resp" &&
			grep -qF '"src":"/dev/urandom","id":"_rng1"' "$TMP/resp" ||
			why="${why:+$why; }default ids: $(head -c 600 "$TMP/resp")"
		api_status add-net "tap=cvmmids0,id=n1"
		[ "$ST" = 200 ] || why="${why:+$why; }add-net id=n1: $ST $(cat "$TMP/resp.err")"
		api_status add-net "tap=cvmmids1"
		api info
		grep -qF '"tap":"cvmmids0","id":"n1"' "$TMP/resp" &&
			grep -qF '"tap":"cvmmids1","id":"_net2"' "$TMP/resp" ||
			why="${why:+$why; }net ids: $(head -c 600 "$TMP/resp")"
		api_status add-net "tap=cvmmids2,id=_rng1"
		[ "$ST" = 400 ] && grep -qF "id _rng1: given to two devices" "$TMP/resp" ||
			why="${why:+$why; }a second _rng1: $ST $(cat "$TMP/resp")"
		for id in n1 _net2 _rng1 _vsock0; do
			api_status remove-device "$id"
			[ "$ST" = 200 ] || why="${why:+$why; }remove-device $id: $ST $(cat "$TMP/resp.err")"
		done
		api info
		grep -qF '"net":[]' "$TMP/resp" && ! grep -qF '"vsock"' "$TMP/resp" &&
			! grep -qF '"rng"' "$TMP/resp" ||
			why="${why:+$why; }still configured: $(head -c 600 "$TMP/resp")"
		i=0
		while [ $i -lt 300 ] && [ -z "$why" ]; do
			api_status add-disk "path=$GUEST,readonly=on,id=cycle-disk-$i"
			[ "$ST" = 200 ] || why="add-disk cycle $i: $ST $(cat "$TMP/resp.err")"
			api_status remove-device "cycle-disk-$i"
			[ "$ST" = 200 ] || why="${why:+$why; }remove-device cycle $i: $ST"
			i=$((i + 1))
		done
		api_status boot
		[ "$ST" = 200 ] && t_wait 10 booted 1 || why="${why:+$why; }boot: $ST"
		api info
		con=$(sed -nE 's/.*"id":"(_console[0-9]+)".*/\1/p' "$TMP/resp" | head -n 1)
		api_status remove-device "${con:-_console}"
		[ "$ST" = 500 ] && grep -qF "'$con' is the virtio-console, which cvmm cannot unplug" "$TMP/resp" ||
			why="${why:+$why; }remove-device of the console ($con): $ST $(cat "$TMP/resp")"
		shutdown_and_check
	else
		bad "cvmm did not start"
	fi
fi
vm_kill

# ------------------------------------------------- Kata's clh sequence
# tests/kata-replay.py: Kata's start/stop sequence with its generated
# client's bodies, a tap fd over SCM_RIGHTS, and hostile clients.
CASE=kata-replay
if wanted "$CASE"; then
	if command -v python3 >/dev/null && [ -c /dev/net/tun ]; then
		python3 "$ROOT/tests/kata-replay.py" "$CVMM" "$GUEST" "$TMP" >"$TMP/kata.out" 2>&1
		krc=$?
		grep '^FAIL' "$TMP/kata.out" | sed 's/^/  /'
		[ $krc -eq 0 ]
		check $? "$(grep -c '^FAIL' "$TMP/kata.out") checks failed (tests/kata-replay.py)"
	else
		echo "skip $CASE: needs python3 and /dev/net/tun"
	fi
fi

t_finish
