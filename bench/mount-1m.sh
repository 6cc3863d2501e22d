#!/usr/bin/env bash
# mount-1m.sh — time to mount a generated flist of N entries (default 1,000,000) until the tree is
# served, first with no stored index (the flists are parsed) and then again with the flists
# unchanged (the index stored in state_dir is used, when the build stores one), and the memory of
# the indexer and the fuser then. RUNS pairs (default 5); medians with min-max at the end. Run as
# root after `make V=release bins`; AYSFS_BUILD names another build (an older one, for "before":
# it has no stored index, so its remount parses again). Changes nothing outside BENCH_DIR.
set -eu
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-5}
B=${AYSFS_BUILD:-build/release}
D=${BENCH_DIR:-/var/tmp/aysfs-bench-mount}
sup=
rm -rf "$D"; mkdir -p "$D/flists" "$D/mnt" "$D/state"; chmod 755 "$D"
trap '[ -n "$sup" ] && kill -TERM $sup 2>/dev/null; sleep 1; mountpoint -q "$D/mnt" && umount -l "$D/mnt"; rm -rf "$D"' EXIT

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
printf '[main]\nprefix = "/opt"\nflist_dir = "%s/flists"\ncache_dir = "%s/cache"\nstate_dir = "%s/state"\n' \
	"$D" "$D" "$D" >"$D/config.toml"
lines=$(wc -l <"$D/flists/big.flist"); bytes=$(stat -c %s "$D/flists/big.flist")
cat "$D/flists/big.flist" >/dev/null   # the flist in the page cache: measure aysfs, not the disk
printf 'flist: %d lines, %d bytes; build %s; load average %s\n' "$lines" "$bytes" "$B" "$(cut -d' ' -f1-3 /proc/loadavg)"

# One mount: prints "SECONDS ANON_BYTES_PER_ENTRY PEAK_ANON_BYTES_PER_ENTRY SHMEM_KIB USED" and
# stops it again. ANON: RssAnon of indexer + fuser once served; PEAK: the indexer's RssAnon
# sampled every 10 ms while it builds; SHMEM: the sealed index memfd (RssShmem of the fuser, its
# pages exist once); USED: 1 when the log says the stored index was used.
mount_once() {
	local start end idx fus entries ia fa fs peak_anon=0 p a
	start=$(date +%s.%N)
	"$B/aysfs-supervisor" -config "$D/config.toml" "$D/mnt" 2>"$D/log" &
	sup=$!
	until grep -q "serving $D/mnt" "$D/log"; do
		kill -0 $sup 2>/dev/null || { cat "$D/log" >&2; exit 1; }
		p=$(pgrep -P $sup -f aysfs-indexer || true)
		a=$( [ -n "$p" ] && awk '$1 == "RssAnon:" {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		[ "${a:-0}" -gt "$peak_anon" ] && peak_anon=$a
		sleep 0.01
	done
	end=$(date +%s.%N)
	idx=$(pgrep -P $sup -f aysfs-indexer); fus=$(pgrep -P $sup -f aysfs-fuser)
	ls "$D/mnt/app" >/dev/null
	entries=$(grep -o 'serving [0-9]* entries' "$D/log" | grep -o '[0-9]*')
	st() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
	ia=$(st $idx RssAnon); fa=$(st $fus RssAnon); fs=$(st $fus RssShmem)
	# Wait for the index to be stored (a build that stores it), so the next mount finds it.
	if [ "$stores" = 1 ]; then
		for _ in $(seq 300); do grep -q "stored in\|stored image is used" "$D/log" && break; sleep 0.05; done
	fi
	printf '%.3f %.0f %.0f %d %d\n' "$(echo "$end - $start" | bc)" \
		"$(echo "($ia + $fa) * 1024 / $entries" | bc -l)" "$(echo "$peak_anon * 1024 / $entries" | bc -l)" \
		"$fs" "$(grep -c 'stored image is used' "$D/log" || true)"
	kill -TERM $sup; wait $sup || true; sup=
	echo "$entries" >"$D/entries"
}

# median min max of the numbers on stdin
stats() { sort -g | awk '{v[NR] = $1} END {printf "%s (%s-%s)", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR]}'; }

stores=0; grep -q "stored image is used" "$B/aysfs-indexer" && stores=1
: >"$D/first"; : >"$D/again"
for r in $(seq "$RUNS"); do
	rm -f "$D/state"/index-*
	mount_once >>"$D/first"
	mount_once >>"$D/again"
	printf 'run %d: first mount %s | remount %s\n' "$r" "$(tail -1 "$D/first")" "$(tail -1 "$D/again")"
done
printf 'tree: %d entries; columns above: seconds, anonymous bytes/entry once served, indexer peak anonymous bytes/entry while loading, index memfd KiB, stored index used\n' "$(cat "$D/entries")"
ls "$D/state" | grep -q '^index-' &&
	printf 'stored index: %s bytes (%s)\n' "$(stat -c %s "$D/state"/index-* | head -1)" "$(cd "$D/state" && ls index-* | head -1)"
for k in first again; do
	name=$([ $k = first ] && echo "first mount" || echo "remount, flists unchanged")
	printf '%-26s until served %s s; anonymous (indexer + fuser, once served) %s B/entry; indexer peak anonymous while loading %s B/entry; index memfd %s KiB\n' \
		"$name:" "$(cut -d' ' -f1 "$D/$k" | stats)" "$(cut -d' ' -f2 "$D/$k" | stats)" \
		"$(cut -d' ' -f3 "$D/$k" | stats)" "$(cut -d' ' -f4 "$D/$k" | stats)"
done
