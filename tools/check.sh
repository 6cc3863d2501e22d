#!/usr/bin/env bash
# check.sh — every test under prove, for the release build and then the ASan+UBSan build (which
# also runs each fuzz harness briefly). Called by `make check` once everything is built.
set -u
cd "$(dirname "$0")/.."
[ -e /dev/fuse ] || { echo "check: /dev/fuse is missing: the integration tests need FUSE" >&2; exit 1; }
status=0
for v in release asan; do
	echo "=== tests of the $v build"
	AYSFS_BUILD=build/$v prove -e '' build/$v/tests/*.t tests/integration/*.t tests/fuzz/replay.t \
		$([ $v = asan ] && echo tests/fuzz/brief.t) || status=1
done
exit $status
