#!/usr/bin/env bash
# warm-interleave.sh — compare builds of aysfs on the warm path, on a noisy machine: one tree
# (default /usr/lib/python3.11) published into a local store and mounted once per build, then
# ROUNDS rounds of one warm run of FIGURE on the native tree and on each mount in turn; the
# median (min-max) of each, its ratio to native, and the CPU time the supervisor and its workers
# of each build spent over all the rounds. A slow minute slows every build alike.
#
#   bench/warm-interleave.sh ROUNDS tar|python BUILD...
#
# tar: `tar -cf - .` of the whole tree into `wc -c`; python: the interpreter importing a dozen
# modules with the tree first on sys.path (as bench/read.sh does). A BUILD is a folder with the
# aysfs binaries: copy build/release aside (cp -r build/release /tmp/a) before changing the code.
#
#   BENCH_DIR   scratch folder, removed at the end (default /var/tmp/aysfs-warm)
#   TREE        the tree to publish (default /usr/lib/python3.11)
# Run as root.
set -eu -o pipefail
export LC_ALL=C
. "$(dirname "$0")/lib.sh"
D=${BENCH_DIR:-/var/tmp/aysfs-warm}
TREE=${TREE:-/usr/lib/python3.11}

die() { printf 'warm-interleave.sh: %s\n' "$*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: bench/warm-interleave.sh ROUNDS tar|python BUILD..."
ROUNDS=$1 FIGURE=$2
shift 2
case $ROUNDS in '' | *[!0-9]*) die "ROUNDS must be a number" ;; esac
case $FIGURE in tar | python) ;; *) die "FIGURE must be tar or python" ;; esac
[ "$(id -u)" = 0 ] || die "run as root (it mounts filesystems)"
[ -d "$TREE" ] || die "$TREE is not a folder"
[ ! -e "$D" ] || die "$D exists: remove it or choose another BENCH_DIR"
for b in "$@"; do [ -x "$b/aysfs-supervisor" ] || die "$b has no aysfs-supervisor"; done

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 1
	for m in "$D"/m*; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
	rm -rf "$D"
}
trap cleanup EXIT

publish_tree "$D" "$TREE" "$1/aysfs-pack"
TOP=$D/src/$(basename "$TREE")

# One mount per build, each with a local cache of its own.
n=0
for b in "$@"; do
	n=$((n + 1))
	mount_build "$b" "$D" "$n" || die "$b did not mount"
	PIDS+=("$MOUNT_PID")
done

# run DIR: one run of FIGURE on the tree under DIR; prints its seconds.
run() {
	local t=$EPOCHREALTIME
	if [ "$FIGURE" = tar ]; then
		tar -C "$1" -cf - . | wc -c >/dev/null
	else
		py_start "$1"
	fi
	echo "$t $EPOCHREALTIME" | awk '{ printf "%.4f\n", $2 - $1 }'
}
# cpu_ticks PID: user + system clock ticks of PID and its children now (the workers).
cpu_ticks() {
	local p s=0
	for p in "$1" $(pgrep -P "$1"); do
		s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
	done
	echo "$s"
}

dirs=("$TOP")
for i in $(seq "$n"); do dirs+=("$D/m$i/$(basename "$TREE")"); done
for d in "${dirs[@]}"; do run "$d" >/dev/null; run "$d" >/dev/null; done      # warm
declare -A before
for i in $(seq "$n"); do before[$i]=$(cpu_ticks "${PIDS[$((i - 1))]}"); done
for _ in $(seq "$ROUNDS"); do
	for k in "${!dirs[@]}"; do run "${dirs[$k]}" >>"$D/times.$k"; done
done

hz=$(getconf CLK_TCK)
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	printf "%.4f %.4f %.4f\n", m, v[1], v[NR] }'; }
read -r nat _ < <(med "$D/times.0")
echo "== warm $FIGURE, $ROUNDS interleaved rounds, $(find "$TOP" -type f | wc -l) files of $TREE"
for k in "${!dirs[@]}"; do
	read -r m lo hi < <(med "$D/times.$k")
	if [ "$k" = 0 ]; then
		printf '   %-40s %.4f s (%.4f-%.4f)\n' native "$m" "$lo" "$hi"
	else
		t=$(( $(cpu_ticks "${PIDS[$((k - 1))]}") - ${before[$k]} ))
		printf '   %-40s %.4f s (%.4f-%.4f) %.2fx; workers %.1f ms CPU per run\n' "${@:k:1}" "$m" "$lo" "$hi" \
			"$(echo "$m $nat" | awk '{ print $1 / $2 }')" "$(echo "$t $hz $ROUNDS" | awk '{ print $1 * 1000 / $2 / $3 }')"
	fi
done
