#!/usr/bin/env bash
# Every fuzz harness, built as a plain program, replays its seed corpus without a finding.
. "$(dirname "$0")/../integration/lib.sh"
for r in "$AYSFS_BUILD"/tests/replay_*; do
	name=${r##*/replay_}
	out=$("$r" "$TOP/tests/fuzz/corpus/$name" 2>&1); st=$?
	n=$(printf '%s\n' "$out" | grep -c '^ok')
	ok $st "corpus of $name replays cleanly ($n inputs)"
	[ $st = 0 ] || printf '%s\n' "$out" | tail -20 | sed 's/^/#   /'
done
done_testing
