#!/bin/sh
# Prints the source revision cvmm is built from (the Makefile puts it in
# $(BUILD)/gen/revision.h for `cvmm --version`):
#   - "git <git describe --always --dirty>" in cvmm's own git tree;
#   - else the first line of the file REVISION (a tarball provides it);
#   - else "debian <version>" from debian/changelog (a Debian source package);
#   - else "unknown".
cd "$(dirname "$0")/.." || exit 1
top=$(git rev-parse --show-toplevel 2>/dev/null)
if [ -n "$top" ] && [ "$top" = "$(pwd -P)" ] &&
	d=$(git describe --always --dirty 2>/dev/null); then
	echo "git $d"
elif [ -s REVISION ]; then
	head -n 1 REVISION
elif [ -s debian/changelog ]; then
	sed -n '1s/^[^ ]* (\([^)]*\)).*/debian \1/p' debian/changelog
else
	echo unknown
fi
