#!/usr/bin/env bash
# interleave.sh — compare builds of aysfs on a noisy machine: ROUNDS rounds of one cold run of the
# native tree, then one cold run through each build, each build mounted with an empty cache and
# the kernel's caches dropped before its run; then the median of each. A slow minute then slows
# every build alike, where one bench/cold-http.sh run per build would each meet a different host.
#
#   bench/interleave.sh ROUNDS FIGURE BUILD...
#
# FIGURE is python (the interpreter importing a dozen modules, as in cold-http.sh), tar (every
# file) or open (median of open + read(1) of cold-http.sh's sample files, in ms). A BUILD is a
# folder with the aysfs binaries: copy build/release aside (cp -r build/release /tmp/a) before
# changing the code, so that each build stays what it was.
#
# The data are cold-http.sh's, kept: run `KEEP=1 RUNS=1 TARGETS=native bench/cold-http.sh` once
# first. BENCH_DIR names that folder (default /var/tmp/aysfs-cold-http). nginx is started on its
# configuration when it is not running, and left running; each mount is undone after its run.
# Run as root.
set -eu -o pipefail
export LC_ALL=C
D=${BENCH_DIR:-/var/tmp/aysfs-cold-http}
MODULES="json, re, collections, typing, datetime, decimal, email, http.client, urllib.parse, logging, argparse, subprocess"

die() { printf 'interleave.sh: %s\n' "$*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: bench/interleave.sh ROUNDS python|tar|open BUILD..."
ROUNDS=$1 FIGURE=$2
shift 2
case $ROUNDS in '' | *[!0-9]*) die "ROUNDS must be a number" ;; esac
case $FIGURE in python | tar | open) ;; *) die "FIGURE must be python, tar or open" ;; esac
[ "$(id -u)" = 0 ] || die "run as root (it mounts filesystems and drops the kernel caches)"
[ -f "$D/nginx.conf" ] && [ -f "$D/aysfs.toml" ] && [ -d "$D/src" ] && [ -f "$D/samples" ] ||
	die "no data in $D: run KEEP=1 RUNS=1 TARGETS=native bench/cold-http.sh first"
for b in "$@"; do
	[ -x "$b/aysfs-supervisor" ] || die "$b: no aysfs-supervisor there"
done
PYREL=
for p in "$D"/src/bin/python3.*[0-9]; do [ -x "$p" ] && PYREL=${p#"$D"/src/}; done
[ "$FIGURE" != python ] || [ -n "$PYREL" ] || die "no interpreter in $D/src/bin"

if ! { [ -s "$D/nginx.pid" ] && kill -0 "$(cat "$D/nginx.pid")" 2>/dev/null; }; then
	nginx -c "$D/nginx.conf" -p "$D/" || die "nginx does not start: $(cat "$D/nginx.err")"
fi

M=$D/mnt/interleave
SUP=
undo() {
	if [ -n "$SUP" ] && kill -0 "$SUP" 2>/dev/null; then
		kill -TERM "$SUP"
		for _ in $(seq 100); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.1; done
	fi
	SUP=
	if findmnt -rn --mountpoint "$M" >/dev/null 2>&1; then umount -l "$M" 2>/dev/null || true; fi
}
trap undo EXIT
trap 'exit 130' INT TERM
mkdir -p "$M"

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# run ROOT: one cold run of the figure over ROOT; prints seconds (python, tar) or ms (open).
run() {
	local r=$1 s
	case $FIGURE in
	open)
		python3 -c '
import os, sys, time
lat = []
for p in open(sys.argv[1]).read().split("\n"):
    if not p: continue
    t = time.perf_counter()
    fd = os.open(os.path.join(sys.argv[2], p), os.O_RDONLY)
    os.read(fd, 1)
    lat.append(time.perf_counter() - t)
    os.close(fd)
lat.sort()
print("%.3f" % (lat[len(lat) // 2] * 1000))
' "$D/samples" "$r"
		return
		;;
	esac
	s=$EPOCHREALTIME
	if [ "$FIGURE" = python ]; then
		LD_LIBRARY_PATH=$r/lib "$r/$PYREL" -E -s -c "import $MODULES" >/dev/null
	else
		tar -C "$r" -cf - . | wc -c >/dev/null
	fi
	awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'
}

# mount BUILD: the build's supervisor on $M, with cold-http.sh's configuration and an empty cache.
mount_build() {
	rm -rf "$D/cache-aysfs"
	setsid "$1/aysfs-supervisor" -config "$D/aysfs.toml" "$M" </dev/null \
		>"$D/interleave.log" 2>&1 &
	SUP=$!
	for _ in $(seq 600); do
		mountpoint -q "$M" && [ -n "$(ls -A "$M" 2>/dev/null)" ] && return 0
		kill -0 "$SUP" 2>/dev/null || break
		sleep 0.1
	done
	tail -5 "$D/interleave.log" >&2
	die "$1 did not mount"
}

declare -A T=()
for i in $(seq "$ROUNDS"); do
	for b in native "$@"; do
		if [ "$b" = native ]; then
			drop_caches
			t=$(run "$D/src")
		else
			mount_build "$b"
			drop_caches
			t=$(run "$M")
			undo
		fi
		T[$b]="${T[$b]:-} $t"
		printf 'round %s  %-24s %s\n' "$i" "$b" "$t"
	done
done
median() { tr ' ' '\n' | awk NF | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
unit=s
[ "$FIGURE" = open ] && unit=ms
for b in native "$@"; do
	printf '%-24s median %s %s  (runs:%s)\n' "$b" "$(echo "${T[$b]}" | median)" "$unit" "${T[$b]}"
done
