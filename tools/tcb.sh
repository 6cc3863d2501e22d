#!/usr/bin/env bash
# tcb.sh SOURCE… — the privileged core: every line of this repository's C compiled into the given
# binaries' sources (the supervisor's and the fuser's, from the Makefile), with every header of
# this repository they include (found by the compiler, `-MM`: system headers are left out).
# Comments and blank lines aside. Prints the count per file, by folder, then the total, last.
set -eu
cd "$(dirname "$0")/.."
CFLAGS="-std=c17 -D_GNU_SOURCE -I. $(pkg-config --cflags fuse3 2>/dev/null)"
files=$(for s in "$@"; do gcc $CFLAGS -MM "$s"; done | tr -d '\\' | tr ' ' '\n' | grep -E '\.[ch]$' |
	grep -v '^/' | sort -u)
count() { grep -cvE '^\s*($|//|/\*|\*)' "$1" || true; }
total=0
for f in $files; do
	n=$(count "$f")
	printf '%6d %s\n' "$n" "$f"
	total=$((total + n))
done
for d in $(printf '%s\n' $files | cut -d/ -f1 | sort -u); do
	n=0
	for f in $files; do case $f in "$d"/*) n=$((n + $(count "$f"))) ;; esac; done
	printf '%6d %s/ (folder)\n' "$n" "$d"
done
echo "$total"
