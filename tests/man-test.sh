#!/bin/sh
# The man pages and the bash completion against what the programs print:
#   tests/man-test.sh build/cvmm build/cvmm-remote
#
# - every option cvmm --help lists has a tag in cvmm(1)'s OPTIONS with the
#   same synopsis ("--disk path=PATH[,readonly=on|off]..."), and every tag
#   there is in --help; the same for cvmm-remote's options and COMMANDS
#   (each command's entry starting with the method and path --help names);
# - groff finds nothing to warn about in either page;
# - the completion (completion/cvmm.bash) offers the options, keys, values
#   and commands --help names.
# Prints ok/FAIL lines and "man: N passed, M failed"; non-zero if any failed.

CVMM=${1:?usage: $0 path/to/cvmm path/to/cvmm-remote}
REMOTE=${2:?usage: $0 path/to/cvmm path/to/cvmm-remote}
SRC=$(cd "$(dirname "$0")/.." && pwd)
# t_init, ok/bad, t_finish (tests/lib.sh).
# shellcheck source=tests/lib.sh
. "$SRC/tests/lib.sh"
t_init man

# man_tags PAGE SECTION: the .TP tags of a section, roff escapes removed.
man_tags() {
	awk -v sec="$2" '
		/^\.SH / { on = ($0 == ".SH " sec); next }
		on && /^\.TP/ { tag = 1; next }
		on && tag { print; tag = 0 }' "$1" |
		sed -e 's/^\.B //' -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\%//g' |
		sort
}

# man_entries PAGE SECTION: "tag first-line-of-text" of a section.
man_entries() {
	awk -v sec="$2" '
		/^\.SH / { on = ($0 == ".SH " sec); next }
		on && /^\.TP/ { tag = 1; next }
		on && tag == 1 { t = $0; tag = 2; next }
		on && tag == 2 { print t " " $0; tag = 0 }' "$1" |
		sed -e 's/^\.B //' -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\%//g'
}

# same WHAT OTHER FROM_HELP FROM_OTHER: the two sorted lists are equal.
same() {
	if cmp -s "$3" "$4"; then
		ok "$1: --help and $2 agree ($(wc -l <"$3") entries)"
	else
		bad "$1: --help and $2 differ"
		comm -23 "$3" "$4" | sed 's/^/  only in --help: /'
		comm -13 "$3" "$4" | sed "s/^/  only in $2: /"
	fi
}

# --- cvmm(1) --------------------------------------------------------------
"$CVMM" --help >"$TMP/help" || bad "cvmm --help failed"
# "  --opt VALUE   text": the synopsis ends at two spaces; "--a, --b" is two.
awk '/^  --/ { sub(/^ +/, ""); sub(/  .*/, ""); n = split($0, a, /, /);
	for (i = 1; i <= n; i++) print a[i] }' "$TMP/help" | sort >"$TMP/h.opts"
man_tags "$SRC/man/cvmm.1.in" OPTIONS >"$TMP/m.opts"
same "cvmm options" "the man page" "$TMP/h.opts" "$TMP/m.opts"

# --- cvmm-remote(1) ---------------------------------------------------------
"$REMOTE" --help >"$TMP/rhelp" || bad "cvmm-remote --help failed"
grep -E '^(usage:)? +[^ ]*cvmm-remote' "$TMP/rhelp" |
	grep -oE -- '--[a-z][a-z-]*( [A-Z][A-Za-z0-9]*)?' | sort -u >"$TMP/h.ropts"
man_tags "$SRC/man/cvmm-remote.1.in" OPTIONS >"$TMP/m.ropts"
same "cvmm-remote options" "the man page" "$TMP/h.ropts" "$TMP/m.ropts"
awk '/^  [a-z][a-z-]* / { print $1 }' "$TMP/rhelp" | sort >"$TMP/h.cmds"
man_tags "$SRC/man/cvmm-remote.1.in" COMMANDS >"$TMP/m.cmds"
same "cvmm-remote commands" "the man page" "$TMP/h.cmds" "$TMP/m.cmds"
# "  ping          GET /api/v1/vmm.ping: ..." -> "ping GET /api/v1/vmm.ping:"
awk '/^  [a-z][a-z-]* +[A-Z]+ \// { print $1 " " $2 " " $3 }' "$TMP/rhelp" |
	sort >"$TMP/h.eps"
man_entries "$SRC/man/cvmm-remote.1.in" COMMANDS | awk '{ print $1 " " $2 " " $3 }' |
	grep -F ' /api/' | sort >"$TMP/m.eps"
same "cvmm-remote command endpoints" "the man page" "$TMP/h.eps" "$TMP/m.eps"

# --- roff -----------------------------------------------------------------
if command -v groff >/dev/null 2>&1; then
	for page in cvmm cvmm-remote; do
		sed -e 's/@VERSION@/0/' -e 's|@DATADIR@|/usr/share|' -e 's|@DOCDIR@|/usr/share/doc|' \
			"$SRC/man/$page.1.in" >"$TMP/$page.1"
		if groff -man -ww -z "$TMP/$page.1" >"$TMP/groff" 2>&1 && [ ! -s "$TMP/groff" ]; then
			ok "$page.1: groff -ww finds nothing"
		else
			bad "$page.1: groff warns"
			sed 's/^/  /' "$TMP/groff"
		fi
	done
else
	echo "man: groff not installed, roff check skipped"
fi

# --- bash completion --------------------------------------------------------
# complete_line PROG LINE: what the completion offers at the end of LINE,
# as whole words. With BW set, bash's last word is BW (bash splits words
# at '=' too): the offers are then what replaces BW.
complete_line() {
	bash -c '. "$1"/completion/cvmm.bash
		COMP_LINE="$2 $3"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=("$4"); COMP_CWORD=0
		_cvmm "$2"; printf "%s\n" "${COMPREPLY[@]}"' sh "$SRC" "$1" "$2" "${BW-}" | sort
}
# expect_complete PROG LINE WORD...: the offers are exactly WORD...
expect_complete() {
	prog=$1 line=$2
	shift 2
	printf '%s\n' "$@" | sort >"$TMP/want"
	complete_line "$prog" "$line" >"$TMP/got"
	if cmp -s "$TMP/want" "$TMP/got"; then
		ok "completion of '$(basename "$prog") $line'"
	else
		bad "completion of '$(basename "$prog") $line': $(tr '\n' ' ' <"$TMP/got")"
	fi
}
if command -v bash >/dev/null 2>&1; then
	sed 's/ .*//' "$TMP/h.opts" | sort -u >"$TMP/h.names" # --disk: two synopses
	complete_line "$CVMM" "--" >"$TMP/c.names"
	same "cvmm options" "the completion" "$TMP/h.names" "$TMP/c.names"
	sed 's/ .*//' "$TMP/h.ropts" | sort >"$TMP/h.rnames"
	complete_line "$REMOTE" "--" >"$TMP/c.rnames"
	same "cvmm-remote options" "the completion" "$TMP/h.rnames" "$TMP/c.rnames"
	complete_line "$REMOTE" "--api-socket /tmp/s " >"$TMP/c.cmds"
	same "cvmm-remote commands" "the completion" "$TMP/h.cmds" "$TMP/c.cmds"
	expect_complete "$CVMM" "--cpus " boot= max=
	expect_complete "$CVMM" "--memory=" --memory=size= --memory=shared= --memory=hugepages=
	expect_complete "$CVMM" "--memory size=1G,shared=" size=1G,shared=on size=1G,shared=off
	expect_complete "$CVMM" "--disk " path= readonly= direct= id= num_queues= queue_size= engine= fixed_buffers= \
		vhost_user= socket=
	expect_complete "$CVMM" "--disk vhost_user=" vhost_user=on
	expect_complete "$CVMM" "--fs tag=t,s" tag=t,socket=
	expect_complete "$CVMM" "--disk path=a.img,r" path=a.img,readonly=
	expect_complete "$CVMM" "--disk path=a.img,readonly=" \
		path=a.img,readonly=on path=a.img,readonly=off
	expect_complete "$CVMM" "--net tap=t0," tap=t0,tap= tap=t0,mac= tap=t0,ip= tap=t0,mask= tap=t0,id=
	BW="="
	expect_complete "$CVMM" "--disk path=a.img,readonly=" =on =off
	unset BW
	expect_complete "$CVMM" "--user-device " socket= id=
	expect_complete "$CVMM" "--rng s" src=
	expect_complete "$CVMM" "--serial " tty file= null off
	expect_complete "$CVMM" "--console n" null
	expect_complete "$CVMM" "--log-level " error warn info debug
	expect_complete "$CVMM" "--seccomp=o" --seccomp=on --seccomp=off
	mkdir "$TMP/d" && : >"$TMP/d/kern.img"
	expect_complete "$CVMM" "--kernel $TMP/d/ke" "$TMP/d/kern.img"
	expect_complete "$CVMM" "--disk path=$TMP/d/k" "path=$TMP/d/kern.img"
	expect_complete "$REMOTE" "--api-socket /tmp/s sh" shutdown shutdown-vmm
	expect_complete "$REMOTE" "--api-socket /tmp/s create @$TMP/d/k" "@$TMP/d/kern.img"
else
	echo "man: bash not installed, completion checks skipped"
fi

t_finish
