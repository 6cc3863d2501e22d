#!/usr/bin/env bash
# Each libFuzzer harness runs briefly (FUZZ_BRIEF_SECONDS, default 8) on a copy of its corpus
# without a finding. `make fuzz` runs them for longer.
. "$(dirname "$0")/../integration/lib.sh"
secs=${FUZZ_BRIEF_SECONDS:-8}
for h in "$TOP"/build/fuzz/tests/fuzz_*; do
	[ -x "$h" ] || continue
	name=${h##*/fuzz_}
	work=$(mktemp -d)
	cp -r "$TOP/tests/fuzz/corpus/$name/." "$work/" 2>/dev/null
	out=$("$h" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$work/crash-" \
		"$work" 2>&1); st=$?
	ok $st "fuzz_$name: ${secs}s without a finding"
	# On stderr as well: prove shows it without -v, so that a CI log keeps a finding's report.
	[ $st = 0 ] || printf '%s\n' "$out" | tail -30 | sed 's/^/#   /' | tee /dev/stderr
	rm -rf "$work"
done
[ "$_tap_n" -gt 0 ] || ok 1 "no fuzz harness was built (make V=fuzz fuzzers)"
done_testing
