#!/usr/bin/env bash
# The local cache: a quota with LRU eviction (the folder stays under cache_size while every read
# is right), a blob held open is not evicted and keeps reading, expiry after cache_expiration hours
# of no use (recency read back from the cache's journal), a kill -9 of the indexer in the middle of
# downloads leaves no partial blob and the restarted indexer counts what is on disk, -verify-cache
# removes a damaged blob which the next open fetches again, and prefetch fills the cache with a
# service's blobs while reads keep answering.
. "$(dirname "$0")/lib.sh"
t_setup


C=$T/cache/dedupe
CTL=$AYSFS_BUILD/aysfs-ctl
# Bytes of the blobs in the cache (apparent sizes, as du -b counts them), and their number.
cache_bytes() {
	find "$C" -path "$C/md" -prune -o -type f -regextype egrep -regex '.*/[0-9a-f]{32}' -print0 |
		du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1
}
cache_blobs() {
	find "$C" -path "$C/md" -prune -o -type f -regextype egrep -regex '.*/[0-9a-f]{32}' -print | wc -l
}
# Every blob in the cache hashes to its name: prints the names that do not.
cache_bad() {
	find "$C" -type f -regextype egrep -regex '.*/[0-9a-f]{32}' | while read -r f; do
		[ "$(md5sum <"$f" | cut -c1-32)" = "${f##*/}" ] || echo "${f##*/}"
	done
}
# wait_log REGEX [SECONDS]: until the log matches (default 20 s).
wait_log() {
	for _ in $(seq $((${2:-20} * 10))); do
		grep -Eq -- "$1" "$T/log" && return 0
		sleep 0.1
	done
	return 1
}

# ---- a store of 48 files of 256 KiB (12 MiB), a flist per part -----------------------------------
mkdir -p "$T/src" "$T/store"
: >"$T/flist"
for i in $(seq -w 1 48); do
	random_file "$T/src/f$i" 262144
	h=$(put_blob "$T/store" "$T/src/f$i")
	printf '/f%s|%s|262144\n' "$i" "$h" >>"$T/flist"
done
write_flist "$T/flists/s.flist" <"$T/flist"
hash_of() { md5sum <"$T/src/$1" | cut -c1-32; }
chmod -R a+rX "$T/store"

config() {      # config EXTRA-MAIN-LINES
	cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
$1
[[store]]
url = "$T/store"
EOF
}

# ---- quota: 2 MiB, reads of 12 MiB, four at a time -------------------------------------------------
LIMIT=$((2 * 1024 * 1024))
config 'cache_size = "2M"'
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "cache: 0 blobs, 0 bytes; limit $LIMIT bytes" "the indexer reports the quota it enforces"
max=0 bad=0
for i in $(seq -w 1 4 48); do
	pids=()
	for j in 0 1 2 3; do
		n=$(printf '%02d' $((10#$i + j)))
		( cmp -s "$T/mnt/f$n" "$T/src/f$n" || echo "f$n" >>"$T/wrong" ) &
		pids+=($!)
	done
	wait "${pids[@]}"
	b=$(cache_bytes)
	[ "$b" -gt "$max" ] && max=$b
done
ok_cmd "every read returned the right bytes" test ! -e "$T/wrong"
ok $([ "$max" -le "$LIMIT" ]; echo $?) "the cache never held more than cache_size ($max of $LIMIT bytes after a round of reads)"
ok $([ "$max" -ge $((LIMIT / 2)) ]; echo $?) "and it was used ($max bytes)"
like "$(cat "$T/log")" "cache: [0-9]+ blobs \([0-9]+ bytes\) evicted, least recently used first, in [0-9.]+ ms" "evictions are logged"
# The last files read are the ones kept.
ok_cmd "the most recently read blob is cached" test -f "$(blob_path "$T/cache" "$(hash_of f48)")"
ok_cmd "the least recently read one is not" test ! -e "$(blob_path "$T/cache" "$(hash_of f01)")"
# Passing the limit once more, one read at a time: the background thread takes the cache down to
# the low-water mark (75%).
n0=$(grep -c 'evicted, least recently used first' "$T/log")
for i in 01 02 03 04 05 06 07 08 09; do
	cat "$T/mnt/f$i" >/dev/null
	[ "$(grep -c 'evicted, least recently used first' "$T/log")" -gt "$n0" ] && break
done
# Blobs whose fds the fuser keeps idle stay pinned up to IDLE_UNPIN_MS (10 s) unless the indexer
# asks for them back: wait past that, the time is not what is tested.
for _ in $(seq 150); do [ "$(cache_bytes)" -le $((LIMIT * 3 / 4)) ] && break; sleep 0.1; done
ok $([ "$(cache_bytes)" -le $((LIMIT * 3 / 4)) ]; echo $?) "a read that passes the limit takes the cache down to 75% of it ($(cache_bytes) bytes)"

# ---- a blob held open is not evicted, and keeps reading --------------------------------------------
exec 3<"$T/mnt/f10"
dd bs=1000 count=1 <&3 >"$T/held" 2>/dev/null
held_blob=$(blob_path "$T/cache" "$(hash_of f10)")
for i in $(seq -w 11 40); do cat "$T/mnt/f$i" >/dev/null; done
ok_cmd "a blob held open survives reads of almost four times the quota" test -f "$held_blob"
cat <&3 >>"$T/held"
ok_cmd "and the open file reads to its end, right" cmp -s "$T/held" "$T/src/f10"
exec 3<&-
sleep 0.3       # the release reaches the fuser, then the indexer
for i in $(seq -w 41 48) $(seq -f %02g 1 9); do cat "$T/mnt/f$i" >/dev/null; done
ok_cmd "once closed, it is evicted like any other" test ! -e "$held_blob"
ok $([ "$(cache_bytes)" -le "$LIMIT" ]; echo $?) "the cache is still under its limit"
mount_stop

# ---- expiry: cache_expiration hours since the last use -----------------------------------------------
# The journal .recency records each use; make f08 and f09 look unused for two hours, and check
# that a restart with cache_expiration = 1 removes exactly those.
ok_cmd "the recency journal exists" test -s "$C/.recency"
python3 - "$C/.recency" "$(hash_of f08)" "$(hash_of f09)" <<'PY'
import struct, sys, time
path, old = sys.argv[1], {bytes.fromhex(h)[:8] for h in sys.argv[2:]}
def check(b):
    h = 2166136261
    for c in b:
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h ^ 0x5a5a5a5a
data = open(path, 'rb').read()
out = bytearray(data[:16])
for off in range(16, len(data) - 15, 16):
    key, t, c = struct.unpack('<8sII', data[off:off + 16])
    if key in old:
        t = int(time.time()) - 7300
    rec = key + struct.pack('<I', t)
    out += rec + struct.pack('<I', check(rec))
open(path, 'wb').write(out)
PY
kept_before=$(cache_blobs)
config 'cache.expiration = 1'   # the older layout's key
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
wait_log "cache: 2 blobs unused for more than 1 hours removed" 10
like "$(cat "$T/log")" "cache: 2 blobs unused for more than 1 hours removed" "expiry removes the two blobs unused for two hours"
ok_cmd "f08's blob is gone" test ! -e "$(blob_path "$T/cache" "$(hash_of f08)")"
ok_cmd "f09's blob is gone" test ! -e "$(blob_path "$T/cache" "$(hash_of f09)")"
is "$(cache_blobs)" "$((kept_before - 2))" "the blobs used recently are kept"
ok_cmd "an expired file still reads right (fetched again)" cmp -s "$T/mnt/f08" "$T/src/f08"
ok_cmd "and is cached again" test -f "$(blob_path "$T/cache" "$(hash_of f08)")"
mount_stop

# ---- -verify-cache: a blob damaged behind aysfs' back ----------------------------------------------
hb=$(hash_of f07)
cached=$(blob_path "$T/cache" "$hb")
ok_cmd "f07 is cached" test -f "$cached"
chmod u+w "$cached"; printf 'X' | dd of="$cached" bs=1 seek=1000 conv=notrunc 2>/dev/null
# A quota the cache fits in: eviction at start-up would race the verify for the damaged blob.
config 'cache_size = "64M"'
mount_start "$T/mnt" -config "$T/config.toml" -verify-cache || bail "mount failed"
like "$(cat "$T/log")" "cache: ${hb:0:1}/${hb:1:1}/$hb does not match its name; removed" "-verify-cache finds the damaged blob"
like "$(cat "$T/log")" "cache verified: [0-9]+ blobs, 1 removed" "and counts it"
ok_cmd "the next open reads the right bytes" cmp -s "$T/mnt/f07" "$T/src/f07"
is "$(md5sum <"$cached" | cut -c1-32)" "$hb" "from a good copy fetched again"
mount_stop

# ---- a blob of the wrong size is removed at start-up, without hashing ------------------------------
hb=$(hash_of f06)
cached=$(blob_path "$T/cache" "$hb")
chmod u+w "$cached"; head -c 1000 "$T/src/f06" >"$cached"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
wait_log "$hb is 1000 bytes, the flist lists 262144; removed" 5
like "$(cat "$T/log")" "cache: ${hb:0:1}/${hb:1:1}/$hb is 1000 bytes, the flist lists 262144; removed" \
	"a blob whose size differs from the tree's is removed once the tree is loaded"
ok_cmd "it is gone" test ! -e "$cached"
ok_cmd "and fetched again on the next open" cmp -s "$T/mnt/f06" "$T/src/f06"

# ---- blobs that appear behind aysfs' back while it runs ------------------------------------------
# The books say the cache lacks f04 and f05 (evicted through aysfs-ctl), so an open fetches them
# without looking in the folder; meanwhile a torn copy of f04 and a good copy of f05 appeared there.
for n in f04 f05; do
	"$CTL" "$T/mnt" evict "$T/mnt/$n" >/dev/null 2>&1
	ok_cmd "$n is evicted" test ! -e "$(blob_path "$T/cache" "$(hash_of $n)")"
done
c4=$(blob_path "$T/cache" "$(hash_of f04)")
c5=$(blob_path "$T/cache" "$(hash_of f05)")
head -c 1000 "$T/src/f04" >"$c4"
cp "$T/src/f05" "$c5"
ok_cmd "a torn copy that appeared behind aysfs' back is not served" cmp -s "$T/mnt/f04" "$T/src/f04"
is "$(md5sum <"$c4" | cut -c1-32)" "$(hash_of f04)" "it is replaced by the verified one"
ok_cmd "a good copy that appeared is served" cmp -s "$T/mnt/f05" "$T/src/f05"
is "$(md5sum <"$c5" | cut -c1-32)" "$(hash_of f05)" "and kept"
mount_stop

# ---- a slow HTTP store: kill -9 of the indexer in the middle of downloads ---------------------------
W=$T/www
mkdir -p "$W/slow/dedupe" "$T/nginx-tmp"
cp -r "$T/store/dedupe/." "$W/slow/dedupe/"
for n in big1 big2 big3; do
	random_file "$T/src/$n" 1500000
	put_blob "$W/slow" "$T/src/$n" >/dev/null
done
chmod -R a+rX "$W"
P_SLOW=$(free_port)
nginx_start "server { listen 127.0.0.1:$P_SLOW; root $W/slow; limit_rate 400k; }"

rm -rf "$T/cache"
write_flist "$T/flists2/big.flist" <<FL
/big1|$(hash_of big1)|1500000
/big2|$(hash_of big2)|1500000
/big3|$(hash_of big3)|1500000
/small|$(hash_of f01)|262144
FL
cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists2"
cache_dir = "$T/cache"
cache_size = "64M"
[[store]]
url = "http://127.0.0.1:$P_SLOW/"
EOF
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
ok_cmd "a small file reads before the crash" cmp -s "$T/mnt/small" "$T/src/f01"
pids=()
for n in big1 big2 big3; do
	( cmp -s "$T/mnt/$n" "$T/src/$n" && echo ok >"$T/read-$n" ) &
	pids+=($!)
done
sleep 1.2       # about a third of each download
old=$(worker_pid indexer)
kill -KILL "$old"
wait_log "the indexer was killed by signal 9" 5
wait_log "cache: 1 blobs, 262144 bytes;" 10
like "$(grep 'cache: [0-9]* blobs, ' "$T/log" | tail -1)" "cache: 1 blobs, 262144 bytes;" \
	"the restarted indexer counts only the complete blob on disk"
is "$(cache_blobs) $(cache_bytes)" "1 262144" "which is what the folder holds: no partial file under a blob name"
wait "${pids[@]}"
for n in big1 big2 big3; do
	is "$(cat "$T/read-$n" 2>/dev/null)" ok "$n, interrupted by the crash, reads right once the indexer is back"
done
is "$(cache_bad)" "" "every blob in the cache matches its name"
is "$(cache_blobs)" 4 "and all four are cached"
mount_stop

# ---- prefetch: every blob of a service, in the background, while reads answer ----------------------
rm -rf "$T/cache"
mkdir -p "$T/flists3"
: >"$T/pf.flist"
for i in $(seq -w 1 10); do
	random_file "$T/src/p$i" 400000
	printf '/p/p%s|%s|400000\n' "$i" "$(put_blob "$W/slow" "$T/src/p$i")" >>"$T/pf.flist"
done
random_file "$T/src/other" 400000
random_file "$T/src/other2" 400000
# other2 comes before other: read-ahead after a read of other does not bring it in.
printf '/other|%s|400000\n/another|%s|400000\n' "$(put_blob "$W/slow" "$T/src/other")" \
	"$(put_blob "$W/slow" "$T/src/other2")" >"$T/other.flist"
random_file "$T/src/old1" 50000
random_file "$T/src/old2" 50000
printf '/old/1|%s|50000\n/old/2|%s|50000\n' "$(put_blob "$W/slow" "$T/src/old1")" \
	"$(put_blob "$W/slow" "$T/src/old2")" >"$T/old.flist"
chmod -R a+rX "$W"
write_flist "$T/flists3/pf.flist" <"$T/pf.flist"
write_flist "$T/flists3/other.flist" <"$T/other.flist"
write_flist "$T/flists3/old.flist" <"$T/old.flist"
cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists3"
cache_dir = "$T/cache"
[[ays]]
id = "pf"
prefetch = true
[[ays]]
id = "other"
[[ays]]
id = "old"
prefetch.cache.local = 1        # the older layout's key
[[store]]
url = "http://127.0.0.1:$P_SLOW/"
EOF
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "prefetch: 12 files to bring into the cache" "prefetch starts once the tree is served, for both services that ask for it"
sleep 0.5
t0=$(date +%s%N)
cmp -s "$T/mnt/other" "$T/src/other"; st=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
ok $st "a read of another service answers during the prefetch"
ok $([ "$ms" -lt 3000 ]; echo $?) "in about one download's time (${ms} ms), not after the prefetch"
wait_log "prefetch: 12 files in the cache, 0 failed" 30
like "$(cat "$T/log")" "prefetch: 12 files in the cache, 0 failed" "the prefetch ends with every file"
n=0
for i in $(seq -w 1 10); do
	[ -f "$(blob_path "$T/cache" "$(hash_of p$i)")" ] && n=$((n + 1))
done
for f in old1 old2; do [ -f "$(blob_path "$T/cache" "$(hash_of $f)")" ] && n=$((n + 1)); done
is "$n" 12 "every blob of both services is in the cache"
ok_cmd "a service without prefetch has what was read in the cache, not what comes before it" \
	test -f "$(blob_path "$T/cache" "$(hash_of other)")" -a ! -e "$(blob_path "$T/cache" "$(hash_of other2)")"
is "$(cache_bad)" "" "and each matches its name"
ok_cmd "a prefetched file reads right" cmp -s "$T/mnt/p/p07" "$T/src/p07"

# ---- aysfs-ctl: cache, evict PATH, verify ---------------------------------------------------------
out=$("$CTL" "$T/mnt" cache 2>&1); st=$?
is "$st" 0 "aysfs-ctl cache exits 0"
like "$out" "blobs [0-9]+
bytes [0-9]+" "and says what the cache holds"
pb=$(blob_path "$T/cache" "$(hash_of p03)")
out=$("$CTL" "$T/mnt" evict "$T/mnt/p/p03" 2>&1); st=$?
is "$st" 0 "aysfs-ctl evict PATH exits 0"
ok_cmd "and the file's blob is gone from the cache" test ! -e "$pb"
ok_cmd "the file still reads right (fetched again)" cmp -s "$T/mnt/p/p03" "$T/src/p03"
out=$("$CTL" "$T/mnt" evict "$T/mnt/no-such-file" 2>&1); st=$?
is "$st" 1 "evict of a path the tree lacks exits 1"
# p05 read first: the fuser keeps its fd (idle) after the close; the verify that removes the
# damaged blob must make it let go, or the next read would get the damaged bytes through it.
pb=$(blob_path "$T/cache" "$(hash_of p05)")
cat "$T/mnt/p/p05" >/dev/null
chmod u+w "$pb"; printf 'X' | dd of="$pb" bs=1 seek=10 conv=notrunc 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches       # the page cache must not hide the damage either
out=$("$CTL" "$T/mnt" verify 2>&1); st=$?
is "$st" 0 "aysfs-ctl verify exits 0"
like "$out" "removed 1" "and removes the blob damaged behind aysfs' back"
ok_cmd "which is then fetched again, right" cmp -s "$T/mnt/p/p05" "$T/src/p05"
mount_stop
done_testing
