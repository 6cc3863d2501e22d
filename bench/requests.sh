#!/usr/bin/env bash
# requests.sh — what a warm run waits for, request by request: one tree (default
# /usr/lib/python3.11) published into a local store and mounted with BUILD, warmed, then ROUNDS
# runs of FIGURE on the mount with the kernel's FUSE tracepoints on (fuse_request_send and
# fuse_request_end, tracefs). Prints, per opcode, the requests per run, the median and 90th
# percentile of their time from send to reply, their sum per run, and how many replies came on
# the requester's CPU; then the median run on the mount and on the native tree (untraced, ROUNDS
# each, interleaved).
#
#   bench/requests.sh ROUNDS tar|python BUILD
#
# A request's time includes its wait in the kernel's queue: an asynchronous RELEASE's is not
# waited for by the program. Run as root, with tracefs mounted (/sys/kernel/tracing).
#
#   BENCH_DIR   scratch folder, removed at the end (default /var/tmp/aysfs-requests)
#   TREE        the tree to publish (default /usr/lib/python3.11)
set -eu -o pipefail
export LC_ALL=C
. "$(dirname "$0")/lib.sh"
D=${BENCH_DIR:-/var/tmp/aysfs-requests}
TREE=${TREE:-/usr/lib/python3.11}
T=/sys/kernel/tracing

die() { printf 'requests.sh: %s\n' "$*" >&2; exit 1; }

[ $# = 3 ] || die "usage: bench/requests.sh ROUNDS tar|python BUILD"
ROUNDS=$1 FIGURE=$2 B=$3
case $ROUNDS in '' | *[!0-9]*) die "ROUNDS must be a number" ;; esac
case $FIGURE in tar | python) ;; *) die "FIGURE must be tar or python" ;; esac
[ "$(id -u)" = 0 ] || die "run as root (it mounts filesystems and traces the kernel)"
[ -d "$T/events/fuse" ] || die "no FUSE tracepoints in $T (mount tracefs there)"
[ -x "$B/aysfs-supervisor" ] || die "$B has no aysfs-supervisor"
[ ! -e "$D" ] || die "$D exists: remove it or choose another BENCH_DIR"

MOUNT_PID=
cleanup() {
	echo 0 >"$T/tracing_on"
	echo 0 >"$T/events/fuse/enable"
	[ -z "$MOUNT_PID" ] || kill "$MOUNT_PID" 2>/dev/null || true
	sleep 1
	mountpoint -q "$D/m1" 2>/dev/null && umount -l "$D/m1"
	rm -rf "$D"
}
trap cleanup EXIT

publish_tree "$D" "$TREE" "$B/aysfs-pack"
mount_build "$B" "$D" 1 || die "$B did not mount"
name=$(basename "$TREE")

run() {
	if [ "$FIGURE" = tar ]; then
		tar -C "$1" -cf - . | wc -c >/dev/null
	else
		py_start "$1"
	fi
}
for _ in 1 2 3; do run "$D/m1/$name"; run "$D/src/$name"; done      # warm

echo 0 >"$T/tracing_on"
echo >"$T/trace"
echo 65536 >"$T/buffer_size_kb"
echo 1 >"$T/events/fuse/enable"
echo 1 >"$T/tracing_on"
for _ in $(seq "$ROUNDS"); do run "$D/m1/$name"; done
echo 0 >"$T/tracing_on"
echo 0 >"$T/events/fuse/enable"
cp "$T/trace" "$D/trace"

for _ in $(seq "$ROUNDS"); do
	for t in m1/$name src/$name; do
		s=$EPOCHREALTIME
		run "$D/$t"
		echo "$s $EPOCHREALTIME" | awk '{ printf "%.4f\n", $2 - $1 }' >>"$D/times.${t%%/*}"
	done
done

echo "== warm $FIGURE, $ROUNDS runs traced, $(find "$D/src/$name" -type f | wc -l) files of $TREE"
python3 - "$ROUNDS" "$D/trace" <<'PY'
import collections, re, sys
rounds, sent, took = int(sys.argv[1]), {}, collections.defaultdict(list)
line = re.compile(r'\[(\d+)\].*? (\d+\.\d+): fuse_request_(send|end): connection \d+ req (\d+)'
                  r'(?: opcode \d+ \((\w+)\))?')
for text in open(sys.argv[2]):
    m = line.search(text)
    if not m:
        continue
    cpu, when, kind, req, op = m.groups()
    if kind == 'send':
        sent[req] = (float(when), op, cpu)
    elif req in sent:
        t0, op, cpu0 = sent.pop(req)
        took[op].append(((float(when) - t0) * 1e6, cpu == cpu0))
for op, v in sorted(took.items(), key=lambda kv: -len(kv[1])):
    us = sorted(t for t, _ in v)
    print(f"   {op:16s} {len(v) / rounds:7.1f} per run, median {us[len(us) // 2]:6.1f} us, "
          f"90% {us[int(len(us) * 0.9)]:6.1f} us, {sum(us) / rounds / 1000:6.2f} ms per run, "
          f"{100 * sum(1 for _, same in v if same) // len(v)}% replied on the requester's CPU")
PY
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.4f", v[int((NR + 1) / 2)] }'; }
a=$(med "$D/times.m1") n=$(med "$D/times.src")
printf '   median run, untraced: native %s s, aysfs %s s, %.2fx\n' "$n" "$a" "$(echo "$a $n" | awk '{ print $1 / $2 }')"
