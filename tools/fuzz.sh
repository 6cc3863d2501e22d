#!/usr/bin/env bash
# fuzz.sh — run every libFuzzer harness for FUZZ_SECONDS (default 120) each, on a scratch copy of
# its corpus; new inputs that grow coverage are reported, not added to the tree. A crash leaves its
# input in build/fuzz/findings/ and fails the run.
set -u
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-120}
status=0
mkdir -p build/fuzz/findings
for h in build/fuzz/tests/fuzz_*; do
	name=${h##*/fuzz_}
	work=$(mktemp -d)
	cp -r "tests/fuzz/corpus/$name/." "$work/" 2>/dev/null
	echo "fuzz: $name for ${secs}s"
	if ! "$h" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix="build/fuzz/findings/$name-" "$work" 2>"build/fuzz/$name.log"; then
		echo "fuzz: $name FAILED, see build/fuzz/$name.log and build/fuzz/findings/"
		status=1
	fi
	grep -E 'stat::number_of_executed_units|stat::new_units_added' "build/fuzz/$name.log" | sed 's/^/  /'
	rm -rf "$work"
done
exit $status
