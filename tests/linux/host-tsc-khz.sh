#!/usr/bin/env bash
# Print the host TSC frequency in kHz (an integer), for the guest command
# line option tsc_early_khz= (see tests/linux/README.md).
#
#   tests/linux/host-tsc-khz.sh [--measure]
#
# Sources, best first:
#   1. the kernel log (dmesg, else journalctl -k):
#        "tsc: Refined TSC clocksource calibration: X MHz"
#        "tsc: Detected X MHz TSC"  /  "tsc: Detected X MHz processor"
#   2. measuring RDTSC against CLOCK_MONOTONIC_RAW over 3 x 200 ms with a
#      small C program compiled on the fly (needs cc; used when the log is
#      unreadable or has rotated away, or always with --measure)
#   3. "cpu MHz" in /proc/cpuinfo (the current clock, may differ from the
#      TSC rate on CPUs without an invariant TSC)
set -euo pipefail

mhz_to_khz() { awk -v m="$1" 'BEGIN { printf "%d\n", m * 1000 + 0.5 }'; }

from_log() {
    local text mhz
    text=$(dmesg 2>/dev/null || true)
    if ! grep -q 'tsc: ' <<<"$text"; then
        text=$(journalctl -k -b --no-pager -q 2>/dev/null || true)
    fi
    for re in 'Refined TSC clocksource calibration: ([0-9.]+) MHz' \
              'tsc: Detected ([0-9.]+) MHz TSC' \
              'tsc: Detected ([0-9.]+) MHz processor'; do
        mhz=$(sed -nE "s/.*$re.*/\\1/p" <<<"$text" | tail -n1)
        if [ -n "$mhz" ]; then mhz_to_khz "$mhz"; return 0; fi
    done
    return 1
}

measure() {
    local cc dir
    cc=${CC:-cc}
    command -v "$cc" >/dev/null || return 1
    dir=$(mktemp -d)
    # shellcheck disable=SC2064
    trap "rm -rf '$dir'" RETURN
    cat >"$dir/tsc.c" <<'EOF'
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_RAW, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void)
{
	double k[3], t;

	for (int i = 0; i < 3; i++) {
		struct timespec d = { 0, 200 * 1000 * 1000 };
		double t0 = now();
		uint64_t c0 = __rdtsc();
		nanosleep(&d, NULL);
		double t1 = now();
		uint64_t c1 = __rdtsc();
		k[i] = (c1 - c0) / (t1 - t0) / 1000.0;
	}
	/* median of three */
	if (k[0] > k[1]) { t = k[0]; k[0] = k[1]; k[1] = t; }
	if (k[1] > k[2]) { t = k[1]; k[1] = k[2]; k[2] = t; }
	if (k[0] > k[1]) { t = k[0]; k[0] = k[1]; k[1] = t; }
	printf("%.0f\n", k[1]);
	return 0;
}
EOF
    "$cc" -O2 -o "$dir/tsc" "$dir/tsc.c" 2>/dev/null || return 1
    "$dir/tsc"
}

from_cpuinfo() {
    local mhz
    mhz=$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo 2>/dev/null)
    [ -n "$mhz" ] || return 1
    mhz_to_khz "$mhz"
}

case "${1:-}" in
--measure) measure || { echo "host-tsc-khz: cannot measure (no cc?)" >&2; exit 1; } ;;
"") from_log || measure || from_cpuinfo ||
        { echo "host-tsc-khz: cannot determine the TSC frequency" >&2; exit 1; } ;;
*) echo "usage: $0 [--measure]" >&2; exit 2 ;;
esac
