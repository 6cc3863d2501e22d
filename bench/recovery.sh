#!/usr/bin/env bash
# recovery.sh — how long the mount takes to serve again after kill -9 of each worker. Run as root.
#
# For each worker (fetcher, indexer, fuser) and each of RUNS samples: mount afresh (so that every
# kill is a first death, restarted after the first back-off of 100 ms), read one file so that the
# tree is in use, kill -9 the worker, and time from the kill until a read of a file never read
# before returns the right bytes. That file's blob is on an HTTP store (nginx on 127.0.0.1) and not
# in the local cache, so the read needs all three workers: the figure is the time until the mount
# serves new content again, not only until a process exists. Prints the median, minimum and maximum
# in milliseconds per worker.
#
#   RUNS          samples per worker (default 10)
#   BENCH_DIR     scratch folder, removed at the end (default /var/tmp/aysfs-recovery)
#   AYSFS_BUILD   folder of the aysfs binaries (default build/release)
set -eu -o pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
B=${BENCH_DIR:-/var/tmp/aysfs-recovery}
BUILD=${AYSFS_BUILD:-build/release}
SUP=$PWD/$BUILD/aysfs-supervisor
[ "$(id -u)" = 0 ] || { echo "recovery.sh: run as root" >&2; exit 1; }
[ -x "$SUP" ] || { echo "recovery.sh: no $SUP: make first" >&2; exit 1; }
command -v nginx >/dev/null || { echo "recovery.sh: nginx is needed" >&2; exit 1; }

SUP_PID=
cleanup() {
	[ -n "$SUP_PID" ] && kill -TERM "$SUP_PID" 2>/dev/null && wait "$SUP_PID" 2>/dev/null
	mountpoint -q "$B/mnt" 2>/dev/null && umount -l "$B/mnt"
	[ -s "$B/nginx.pid" ] && kill "$(cat "$B/nginx.pid")" 2>/dev/null
	rm -rf "$B"
}
trap cleanup EXIT
rm -rf "$B"
mkdir -p "$B/www/store/dedupe" "$B/flists" "$B/mnt" "$B/nginx-tmp" "$B/src"
chmod 755 "$B"

# One file per sample (never read before its own sample) and one kept warm.
n=$((3 * RUNS + 1))
for i in $(seq 0 $((n - 1))); do
	head -c 200000 /dev/urandom >"$B/src/f$i"
	h=$(md5sum <"$B/src/f$i" | cut -c1-32)
	mkdir -p "$B/www/store/dedupe/${h:0:1}/${h:1:1}"
	cp "$B/src/f$i" "$B/www/store/dedupe/${h:0:1}/${h:1:1}/$h"
	echo "/f$i|$h|200000"
done >"$B/flists/s.flist"
chmod -R a+rX "$B/www" "$B/flists"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$B/nginx.conf" <<EOF
worker_processes 1;
daemon on;
pid $B/nginx.pid;
error_log $B/nginx.err;
events { worker_connections 128; }
http {
	access_log off;
	client_body_temp_path $B/nginx-tmp;
	proxy_temp_path $B/nginx-tmp;
	fastcgi_temp_path $B/nginx-tmp;
	uwsgi_temp_path $B/nginx-tmp;
	scgi_temp_path $B/nginx-tmp;
	server { listen 127.0.0.1:$PORT; root $B/www; }
}
EOF
nginx -c "$B/nginx.conf" -p "$B/"
cat >"$B/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$B/flists"
cache_dir = "$B/cache"
[[store]]
url = "http://127.0.0.1:$PORT/store"
EOF

ms() { echo $(( $(date +%s%N) / 1000000 )); }
worker_pid() { pgrep -P "$SUP_PID" -f "aysfs-$1" | head -1; }

mount_up() {
	: >"$B/log"
	"$SUP" -config "$B/config.toml" "$B/mnt" 2>>"$B/log" &
	SUP_PID=$!
	for _ in $(seq 200); do
		grep -q "serving $B/mnt" "$B/log" && return 0
		sleep 0.05
	done
	echo "recovery.sh: the mount did not come up:" >&2
	cat "$B/log" >&2
	exit 1
}

mount_down() {
	kill -TERM "$SUP_PID"
	wait "$SUP_PID" || true
	SUP_PID=
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)) }'; }

next=1
declare -A samples
for role in fetcher indexer fuser; do
	samples[$role]=
	for _ in $(seq "$RUNS"); do
		mount_up
		cat "$B/mnt/f0" >/dev/null                     # the tree in use, f0 cached
		f=f$next
		next=$((next + 1))
		want=$(md5sum <"$B/src/$f")
		pid=$(worker_pid "$role")
		t0=$(ms)
		kill -KILL "$pid"
		until [ "$(md5sum <"$B/mnt/$f" 2>/dev/null)" = "$want" ]; do
			[ $(( $(ms) - t0 )) -lt 10000 ] || { echo "recovery.sh: no recovery after the $role's death in 10 s" >&2; exit 1; }
			sleep 0.005
		done
		t1=$(ms)
		samples[$role]="${samples[$role]} $((t1 - t0))"
		mount_down
	done
done

printf '%-8s %10s %7s %7s   %s\n' worker median_ms min_ms max_ms "samples (ms)"
for role in fetcher indexer fuser; do
	s=${samples[$role]}
	printf '%-8s %10s %7s %7s  %s\n' "$role" "$(tr ' ' '\n' <<<"$s" | grep . | median)" \
		"$(tr ' ' '\n' <<<"$s" | grep . | sort -n | head -1)" \
		"$(tr ' ' '\n' <<<"$s" | grep . | sort -n | tail -1)" "$s"
done
