#!/usr/bin/env bash
# cache-restart.sh — the local cache at scale: N cached blobs (default 100,000, 100 bytes to 8 KiB,
# each named by its MD5 and listed in one flist), then
#   1. indexer start-up with them: the cache scan (counting every blob, reading and compacting the
#      recency journal) as the indexer logs it, and the whole mount until the tree is served;
#   2. the same after the indexer is killed with SIGKILL (what a crash leaves);
#   3. eviction: a start with cache_size at half of what is cached, which makes the background
#      thread evict down to 75% of that, timed by the indexer (cost per evicted blob);
#   4. the cost of one recency record (a 16-byte O_APPEND write) on the cache's filesystem.
# Run as root after `make V=release bins`. Changes nothing outside BENCH_DIR (on disk, not tmpfs,
# by default). Page cache warm: every figure but the first scan is measured with the folder read
# once already, as on a node that has been running.
set -eu
cd "$(dirname "$0")/.."
N=${N:-100000}
B=${AYSFS_BUILD:-build/release}
D=${BENCH_DIR:-/var/tmp/aysfs-bench-cache}
rm -rf "$D"; mkdir -p "$D/flists" "$D/store/dedupe" "$D/cache/dedupe" "$D/mnt"; chmod 755 "$D"
sup=
trap '[ -n "$sup" ] && kill -TERM $sup 2>/dev/null; sleep 1; mountpoint -q "$D/mnt" && umount -l "$D/mnt"; rm -rf "$D"' EXIT

python3 - "$N" "$D" <<'PY'
import hashlib, os, sys
n, d = int(sys.argv[1]), sys.argv[2]
with open(d + "/flists/big.flist", "w") as fl:
    for i in range(n):
        body = (b"%08d" % i) * (13 + (i * 7919) % 1012)    # 104 .. 8192 bytes
        h = hashlib.md5(body).hexdigest()
        sub = "%s/cache/dedupe/%s/%s" % (d, h[0], h[1])
        os.makedirs(sub, exist_ok=True)
        with open(sub + "/" + h, "wb") as f:
            f.write(body)
        fl.write("/d%03d/f%06d|%s|%d\n" % (i // 1000, i, h, len(body)))
PY
chmod -R a+rX "$D/flists"
chown -R aysfs "$D/cache"
bytes=$(find "$D/cache/dedupe" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')

config() {
	printf '[main]\nprefix = "/"\nflist_dir = "%s/flists"\ncache_dir = "%s/cache"\n%s\n[[store]]\nurl = "%s/store"\n' \
		"$D" "$D" "$1" "$D" >"$D/config.toml"
}
# mount: start, wait until served; the seconds it took in $t
mount() {
	local start end
	start=$(date +%s.%N)
	"$B/aysfs-supervisor" -config "$D/config.toml" "$D/mnt" 2>"$D/log" >/dev/null &
	sup=$!
	until grep -q "serving $D/mnt" "$D/log"; do
		kill -0 $sup 2>/dev/null || { cat "$D/log"; exit 1; }
		sleep 0.01
	done
	end=$(date +%s.%N)
	t=$(echo "$end - $start" | bc)
}
unmount() { kill -TERM $sup; wait $sup || true; sup=; }
scan_line() { grep -o 'cache: [0-9]* blobs, [0-9]* bytes.*' "$D/log" | tail -1; }
scan_ms() { scan_line | grep -o '([0-9.]* ms)' | tr -dc '0-9.'; }

config 'cache_size = "100G"'
echo "cache: $N blobs, $bytes bytes (apparent sizes); flist of $N entries"
mount; first=$(scan_ms); unmount
echo "1. first start (journal absent, folder just written): cache scan ${first} ms; mount until served ${t} s"
mount; warm=$(scan_ms); unmount
echo "   start with a compacted journal: cache scan ${warm} ms; mount until served ${t} s"
jsize=$(stat -c %s "$D/cache/dedupe/.recency")
echo "   journal: $jsize bytes"

mount
kill -KILL "$(pgrep -P $sup -f aysfs-indexer)"
for _ in $(seq 100); do [ "$(grep -c 'cache: [0-9]* blobs, ' "$D/log")" -ge 2 ] && break; sleep 0.05; done
echo "2. indexer killed with SIGKILL; the restarted one: cache scan $(scan_ms) ms ($(scan_line | cut -d';' -f1))"
unmount

half=$((bytes / 2))
config "cache_size = $half"
mount
for _ in $(seq 600); do grep -q 'evicted, least recently used first' "$D/log" && break; sleep 0.05; done
line=$(grep -o 'cache: [0-9]* blobs ([0-9]* bytes) evicted.*' "$D/log" | head -1)
n=$(echo "$line" | grep -o '^cache: [0-9]*' | tr -dc 0-9)
ms=$(echo "$line" | grep -o 'in [0-9.]* ms' | tr -dc '0-9.')
unmount
printf '3. eviction with cache_size = %d: %s\n   %.1f us per evicted blob\n' "$half" "$line" \
	"$(echo "$ms * 1000 / $n" | bc -l)"

rec=$( { TIMEFORMAT=%R; time dd if=/dev/zero of="$D/cache/dedupe/.bench-journal" bs=16 count=100000 \
	oflag=append conv=notrunc status=none; } 2>&1 )
printf '4. one recency record (16-byte O_APPEND write): %.2f us\n' "$(echo "$rec * 1000000 / 100000" | bc -l)"
