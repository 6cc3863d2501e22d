#!/usr/bin/env bash
# mount-1m.sh — time to mount a generated flist of N entries (default 1,000,000) until the tree is
# served, and the peak memory (VmHWM) of the indexer and the fuser then. Run as root after
# `make V=release bins`. Prints one line of figures; changes nothing outside BENCH_DIR.
set -eu
cd "$(dirname "$0")/.."
N=${N:-1000000}
B=${AYSFS_BUILD:-build/release}
D=${BENCH_DIR:-/var/tmp/aysfs-bench-mount}
rm -rf "$D"; mkdir -p "$D/flists" "$D/mnt"; chmod 755 "$D"
trap 'kill -TERM $sup 2>/dev/null; sleep 1; mountpoint -q "$D/mnt" && umount -l "$D/mnt"; rm -rf "$D"' EXIT

# A tree shaped like real software: 100 files per directory, 3 to 5 levels, names of 8-20 bytes.
python3 - "$N" >"$D/flists/big.flist" <<'PY'
import hashlib, sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    d = i // 100
    path = "/opt/app/lib%d/pkg%d/mod%d/file_%06d_%s.py" % (d // 1000, (d // 30) % 40, d % 30, i, "x" * (i % 9))
    h = hashlib.md5(path.encode()).hexdigest()
    out.write("%s|%s|%d\n" % (path, h, 100 + i % 5000))
PY
chmod 644 "$D/flists/big.flist"
printf '[main]\nprefix = "/opt"\nflist_dir = "%s/flists"\ncache_dir = "%s/cache"\n' "$D" "$D" >"$D/config.toml"
lines=$(wc -l <"$D/flists/big.flist"); bytes=$(stat -c %s "$D/flists/big.flist")
cat "$D/flists/big.flist" >/dev/null   # the flist in the page cache: measure aysfs, not the disk

start=$(date +%s.%N)
"$B/aysfs-supervisor" -config "$D/config.toml" "$D/mnt" 2>"$D/log" &
sup=$!
# Sampled every 10 ms while it builds: the indexer's peak of anonymous memory (VmHWM counts the
# index memfd's pages too).
peak_anon=0
until grep -q "serving $D/mnt" "$D/log"; do
	kill -0 $sup 2>/dev/null || { cat "$D/log"; exit 1; }
	p=$(pgrep -P $sup -f aysfs-indexer || true)
	a=$( [ -n "$p" ] && awk '$1 == "RssAnon:" {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
	[ "${a:-0}" -gt "$peak_anon" ] && peak_anon=$a
	sleep 0.01
done
end=$(date +%s.%N)
idx=$(pgrep -P $sup -f aysfs-indexer); fus=$(pgrep -P $sup -f aysfs-fuser)
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
ls "$D/mnt/app" >/dev/null
entries=$(grep -o 'serving [0-9]* entries' "$D/log" | grep -o '[0-9]*')
ih=$(hwm $idx); fh=$(hwm $fus); ir=$(rss $idx); fr=$(rss $fus)
printf 'flist: %d lines, %d bytes; tree: %d entries\n' "$lines" "$bytes" "$entries"
printf 'mount until served: %.2f s\n' "$(echo "$end - $start" | bc)"
printf 'peak memory (VmHWM): indexer %d KiB, fuser %d KiB; together %.0f bytes per entry\n' \
	"$ih" "$fh" "$(echo "($ih + $fh) * 1024 / $entries" | bc -l)"
printf 'resident now (VmRSS): indexer %d KiB, fuser %d KiB\n' "$ir" "$fr"
# Of that, anonymous memory (each process's own) and shared memory (the sealed index memfd, mapped
# by both: its pages are counted in each VmRSS but exist once).
st() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
ia=$(st $idx RssAnon); fa=$(st $fus RssAnon); is=$(st $idx RssShmem); fs=$(st $fus RssShmem)
printf 'now: anonymous (RssAnon) indexer %d KiB, fuser %d KiB, %.0f bytes per entry; shared (RssShmem, the index) indexer %d KiB, fuser %d KiB\n' \
	"$ia" "$fa" "$(echo "($ia + $fa) * 1024 / $entries" | bc -l)" "$is" "$fs"
printf 'the indexer'"'"'s anonymous memory at its sampled peak while building: %d KiB, %.0f bytes per entry\n' \
	"$peak_anon" "$(echo "$peak_anon * 1024 / $entries" | bc -l)"
