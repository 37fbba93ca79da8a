#!/bin/sh
# What `make install` and the Debian package put on a system:
#   tests/install-test.sh [--package]      (make check-install [PACKAGE=1])
#
# - make install PREFIX=/usr DESTDIR=<scratch root>: exactly the files of
#   the list below; the man pages filled in (no @...@ left, the demo's
#   path); the installed cvmm says the version of VERSION and boots the
#   installed demo guest (needs /dev/kvm); make uninstall removes it all;
# - VERSION, debian/changelog and docs/openapi.yaml name the same version;
# - with --package: dpkg-buildpackage -us -uc -b in a copy of the tree,
#   which must change nothing outside debian/'s build folders; the .deb
#   holds the same files (plus Debian's copyright and changelog); lintian
#   reports no error (warnings are printed); unpacked into a scratch root,
#   its cvmm boots its demo guest.
# Prints ok/FAIL lines and "install: N passed, M failed"; non-zero if any
# failed. Runs make in the tree (BUILD=build unless set).

PACKAGE=""
[ "${1-}" = --package ] && PACKAGE=1
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
# t_init, ok/bad, t_finish (tests/lib.sh).
# shellcheck source=tests/lib.sh
. "$SRC/tests/lib.sh"
t_init install
VERSION=$(cat "$SRC/VERSION")

# The installed files below the prefix /usr (links too).
cat >"$TMP/want" <<'LIST'
/usr/bin/cvmm
/usr/bin/cvmm-remote
/usr/share/bash-completion/completions/cvmm
/usr/share/bash-completion/completions/cvmm-remote
/usr/share/cvmm/demo.bzImage
/usr/share/doc/cvmm/README.md
/usr/share/doc/cvmm/openapi.yaml
/usr/share/man/man1/cvmm-remote.1
/usr/share/man/man1/cvmm.1
LIST

# files ROOT: every file and link under ROOT, as absolute paths.
files() {
	(cd "$1" && find . ! -type d | sed 's|^\.||' | LC_ALL=C sort)
}

# same_list WHAT WANT GOT
same_list() {
	if cmp -s "$2" "$3"; then
		ok "$1: the $(wc -l <"$2") files expected"
	else
		bad "$1: not the files expected"
		diff "$2" "$3" | grep '^[<>]' | sed -e 's/^</  missing:/' -e 's/^>/  extra:  /'
	fi
}

# boots ROOT: ROOT/usr/bin/cvmm runs ROOT/usr/share/cvmm/demo.bzImage to
# its reset (exit status 0, the guest's last line on the serial port).
boots() {
	if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
		echo "install: /dev/kvm not usable, $2 demo boot skipped"
		return
	fi
	timeout 60 "$1/usr/bin/cvmm" --kernel "$1/usr/share/cvmm/demo.bzImage" \
		--cpus boot=2 --memory size=64M --cmdline "console=ttyS0 demo=1" \
		--serial "file=$TMP/demo.out" </dev/null >"$TMP/demo.err" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ] && grep -q '^demo done' "$TMP/demo.out"; then
		ok "$2: cvmm boots the installed demo guest"
	else
		bad "$2: demo boot: exit status $rc"
		cat "$TMP/demo.err" "$TMP/demo.out" 2>/dev/null | tail -n 5 | sed 's/^/  /'
	fi
	rm -f "$TMP/demo.out"
}

# --- versions ----------------------------------------------------------------
deb_version=$(sed -n '1s/^cvmm (\([^)]*\)).*/\1/p' "$SRC/debian/changelog")
api_version=$(sed -n 's/^  version: //p' "$SRC/docs/openapi.yaml")
if [ "$deb_version" = "$VERSION" ] && [ "$api_version" = "$VERSION" ]; then
	ok "VERSION, debian/changelog and docs/openapi.yaml say $VERSION"
else
	bad "versions: VERSION $VERSION, debian/changelog $deb_version, openapi.yaml $api_version"
fi

# --- make install / uninstall --------------------------------------------------
R=$TMP/root
if make -s -C "$SRC" BUILD="$BUILD" install PREFIX=/usr DESTDIR="$R" >"$TMP/log" 2>&1; then
	files "$R" >"$TMP/got"
	same_list "make install" "$TMP/want" "$TMP/got"
	if grep -l '@[A-Z]*@' "$R"/usr/share/man/man1/* >/dev/null ||
		! grep -q '^\.I /usr/share/cvmm/demo.bzImage' "$R/usr/share/man/man1/cvmm.1"; then
		bad "make install: man pages not filled in"
	else
		ok "make install: man pages name /usr/share/cvmm/demo.bzImage"
	fi
	v=$("$R/usr/bin/cvmm" --version)
	case $v in
	"cvmm $VERSION ("*")") ok "make install: '$v'" ;;
	*) bad "make install: cvmm --version says '$v'" ;;
	esac
	boots "$R" "make install"
	make -s -C "$SRC" BUILD="$BUILD" uninstall PREFIX=/usr DESTDIR="$R" >"$TMP/log" 2>&1
	left=$(files "$R")
	if [ -z "$left" ]; then
		ok "make uninstall: no file left"
	else
		bad "make uninstall: left $left"
	fi
else
	bad "make install failed"
	tail -n 20 "$TMP/log" | sed 's/^/  /'
fi

# --- the Debian package ------------------------------------------------------------
if [ -n "$PACKAGE" ]; then
	# A copy of the tree (what git would commit, with local changes) and
	# its revision, built as a package: nothing may change outside the
	# build folders debian/.gitignore names.
	P=$TMP/pkg/cvmm-$VERSION
	mkdir -p "$P"
	(cd "$SRC" && git ls-files -z -c -o --exclude-standard | xargs -0 tar -cf - ) |
		tar -xf - -C "$P"
	"$SRC/scripts/revision.sh" >"$P/REVISION"
	(cd "$P" && find . -type f | LC_ALL=C sort) >"$TMP/before"
	if (cd "$P" && dpkg-buildpackage -us -uc -b -j2) >"$TMP/build.log" 2>&1; then
		ok "dpkg-buildpackage -us -uc -b"
	else
		bad "dpkg-buildpackage -us -uc -b"
		tail -n 30 "$TMP/build.log" | sed 's/^/  /'
	fi
	(cd "$P" && find . -type f | LC_ALL=C sort) | grep -vE \
		'^\./debian/(build|cvmm|cvmm-dbgsym|\.debhelper|tmp)/|^\./debian/(debhelper-build-stamp|files|.*\.substvars|.*\.debhelper\.log)$' \
		>"$TMP/after"
	if cmp -s "$TMP/before" "$TMP/after"; then
		ok "package build: the tree unchanged outside debian/'s build folders"
	else
		bad "package build changed the tree"
		diff "$TMP/before" "$TMP/after" | grep '^[<>]' | sed 's/^/  /'
	fi
	deb=$(find "$TMP/pkg" -maxdepth 1 -name "cvmm_${VERSION}_*.deb" | head -n 1)
	if [ -n "$deb" ]; then
		# Debian adds its copyright and changelog and gzips man pages.
		{ sed 's|\(/man1/.*\)|\1.gz|' "$TMP/want"
		  echo /usr/share/doc/cvmm/changelog.gz
		  echo /usr/share/doc/cvmm/copyright; } | LC_ALL=C sort >"$TMP/want.deb"
		D=$TMP/deb
		dpkg-deb -x "$deb" "$D"
		files "$D" >"$TMP/got.deb"
		same_list "$(basename "$deb")" "$TMP/want.deb" "$TMP/got.deb"
		boots "$D" "the .deb"
		if command -v lintian >/dev/null 2>&1; then
			lintian --tag-display-limit 0 "$deb" 2>&1 |
				grep -v 'running with root privileges' >"$TMP/lintian"
			if grep -q '^E: ' "$TMP/lintian"; then
				bad "lintian: errors"
			else
				ok "lintian: no errors ($(grep -c '^W: ' "$TMP/lintian") warnings)"
			fi
			sed 's/^/  /' "$TMP/lintian"
		else
			bad "lintian not installed (scripts/install-deps.sh installs it)"
		fi
	else
		bad "no cvmm_${VERSION}_*.deb built"
	fi
fi

t_finish
