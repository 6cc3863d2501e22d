#!/usr/bin/env bash
# check.sh — every test under prove, for the release build and then the ASan+UBSan build (which
# also runs each fuzz harness briefly). Called by `make check` once everything is built. A failing
# build's summary is repeated at the end, so that the last lines of a long log name what failed.
set -u
cd "$(dirname "$0")/.."
[ -e /dev/fuse ] || { echo "check: /dev/fuse is missing: the integration tests need FUSE" >&2; exit 1; }
log=$(mktemp -d "${TMPDIR:-/tmp}/aysfs-check.XXXXXX")
trap 'rm -rf "$log"' EXIT
failed=()
for v in release asan; do
	echo "=== tests of the $v build"
	AYSFS_BUILD=build/$v prove -e '' build/$v/tests/*.t tests/integration/*.t tests/fuzz/replay.t \
		$([ $v = asan ] && echo tests/fuzz/brief.t) 2>&1 | tee "$log/$v"
	[ "${PIPESTATUS[0]}" = 0 ] || failed+=("$v")
done
for v in "${failed[@]}"; do
	echo "=== the $v build failed:"
	sed -n '/^Test Summary Report/,$p' "$log/$v"
done
[ ${#failed[@]} = 0 ]
