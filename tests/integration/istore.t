#!/usr/bin/env bash
# The built index kept on disk (state_dir/index-KEY): a mount or reload whose flists and
# configuration did not change takes the stored image instead of parsing, with the same content
# and inode numbers; a changed flist, another prefix, a flipped byte or a truncated file are not
# used (logged) and the tree is built from the flists; a reload uses only the image being served
# (so unchanged paths keep their numbers); at most two images are kept; the published order comes
# with the stored image; a signed flist is checked at every load (a revision below the floor is
# refused though its stored image is there). (A stored image numbered
# against another base than the one served is refused by its checksum: test_istore.)
. "$(dirname "$0")/lib.sh"
t_setup

mkdir -p "$T/src" "$T/store" "$T/state"
blob() { echo "$(put_blob "$T/store" "$T/src/$1")|$(stat -c %s "$T/src/$1")"; }
random_file "$T/src/a" 5000; random_file "$T/src/b" 7000; random_file "$T/src/c" 3000
a=$(blob a); b=$(blob b); c=$(blob c)
flist1() { printf '/opt/app/a|%s\n/opt/app/dir/b|%s\n/opt/app/dir/sub/l||0|type=l|link=../b\n/elsewhere/x|%s\n' "$a" "$b" "$c"; }
flist1 | write_flist "$T/flists/s.flist"
cfg() {
	printf '[main]\nprefix = "%s"\nflist_dir = "%s"\ncache_dir = "%s"\nstate_dir = "%s"\n[[store]]\nurl = "%s"\n' \
		"$1" "$T/flists" "$T/cache" "$T/state" "$T/store" >"$T/config.toml"
}
# Inode numbers, kinds and contents of every path.
listing() { (cd "$1" && find . -printf '%i %y %p %l\n' | sort -k3; find . -type f -exec sha256sum {} + | sort -k2); }
stored_count() { ls "$T/state" | grep -c '^index-[0-9a-f]*$'; }
wait_log() { for _ in $(seq 100); do grep -q "$1" "$T/log" && return 0; sleep 0.05; done; return 1; }
used="unchanged flists, the stored image is used"

cfg /opt
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
ok_cmd "the first mount stores the image it built" wait_log "index: generation 1 stored in $T/state"
ok $(! grep -q "$used" "$T/log"; echo $?) "the first mount parses the flists"
first=$(listing "$T/mnt")
mount_stop
is "$(stored_count)" 1 "one stored image"
is "$(stat -c %a "$(ls -d "$T/state"/index-*)")" 600 "readable by the indexer's account only"

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "INFO indexer: index: $used \([0-9]+ entries, 1 services\)" "a second mount with unchanged flists uses the stored image"
like "$(cat "$T/log")" "WARN indexer: $T/flists/s.flist: 1 entries outside the prefix were skipped" \
	"and logs what the parse logged (an entry outside the prefix)"
is "$(listing "$T/mnt")" "$first" "same paths, inode numbers and contents"
ok $(! grep -q "stored in" "$T/log"; echo $?) "the image is not written again"

# ---- a reload with unchanged flists; a reload that changes a flist, and back ------------------------
ino_a=$(stat -c %i "$T/mnt/app/a"); ino_b=$(stat -c %i "$T/mnt/app/dir/b")
kill -HUP "$SUP_PID"
ok_cmd "a reload with unchanged flists" wait_log "serving .* (generation 2)"
is "$(grep -c "$used" "$T/log")" 2 "uses the stored image"
is "$(listing "$T/mnt")" "$first" "same inode numbers after it"
printf '/opt/app/a|%s\n/opt/app/dir/b|%s\n/opt/app/new|%s\n' "$c" "$b" "$a" | write_flist "$T/flists/s.flist"
kill -HUP "$SUP_PID"
ok_cmd "a reload with a changed flist" wait_log "serving .* (generation 3)"
is "$(grep -c "$used" "$T/log")" 2 "parses the flists"
is "$(sha256sum <"$T/mnt/app/a")" "$(sha256sum <"$T/src/c")" "and serves the new content"
is "$(stat -c %i "$T/mnt/app/dir/b")" "$ino_b" "an unchanged path keeps its inode number"
ok_cmd "the new tree is stored" wait_log "generation 3 stored in"
flist1 | write_flist "$T/flists/s.flist"
kill -HUP "$SUP_PID"
ok_cmd "a reload back to the first flist" wait_log "serving .* (generation 4)"
is "$(grep -c "$used" "$T/log")" 2 "does not take the first mount's image (numbered from scratch)"
is "$(stat -c %i "$T/mnt/app/dir/b")" "$ino_b" "an unchanged path keeps its number"
ok $([ "$(stat -c %i "$T/mnt/app/a")" != "$ino_a" ]; echo $?) "a path changed twice has a new one"
is "$(sha256sum <"$T/mnt/app/a")" "$(sha256sum <"$T/src/a")" "with the first content"
ok_cmd "that tree is stored" wait_log "generation 4 stored in"
mount_stop
is "$(stored_count)" 2 "two stored images at most"

# ---- a flipped byte, a truncated file -----------------------------------------------------------
rm -f "$T/state"/index-*
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
wait_log "generation 1 stored in" || bail "not stored"
mount_stop
f=$(ls -d "$T/state"/index-*)
size=$(stat -c %s "$f")
byte=$(od -An -tu1 -j $((size / 2)) -N1 "$f" | tr -d ' ')
printf "$(printf '\\%03o' $(( (byte + 1) % 256 )))" | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "WARN indexer: index: $f is not used \(bad checksum\); building from the flists" \
	"a flipped byte is detected and logged"
ok $(! grep -q "$used" "$T/log"; echo $?) "the image is built from the flists"
is "$(listing "$T/mnt")" "$first" "and serves the right content"
ok_cmd "the stored image is replaced" wait_log "generation 1 stored in"
mount_stop
truncate -s -100 "$f"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "WARN indexer: index: $f is not used \(file size [0-9]+, header says [0-9]+\)" \
	"a truncated image is detected and logged"
is "$(listing "$T/mnt")" "$first" "the mount serves the right content"
ok_cmd "and the stored image is replaced" wait_log "generation 1 stored in"
is "$(grep -c 'is not used' "$T/log")" 1 "logged once"
mount_stop
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "$used" "the replaced image is used at the next mount"
mount_stop

# ---- another configuration ------------------------------------------------------------------------
cfg /opt/app/dir
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
ok $(! grep -q "$used" "$T/log"; echo $?) "another prefix does not use the image of the first"
is "$(sha256sum <"$T/mnt/b")" "$(sha256sum <"$T/src/b")" "its tree is built from the flists"
ok_cmd "with only what is below that prefix" test ! -e "$T/mnt/a"
mount_stop

# ---- the published order (order=N) of a tree from its stored image -----------------------------
mkdir -p "$T/osrc"
for i in $(seq -w 1 20); do random_file "$T/osrc/f$i" $((2000 + 10#$i)); done
rm -f "$T/flists/s.flist"
for i in $(seq -w 1 20); do
	printf '/opt/o/f%s|%s|%s|order=%d\n' "$i" "$(put_blob "$T/store" "$T/osrc/f$i")" "$(stat -c %s "$T/osrc/f$i")" "$((10#$i))"
done | write_flist "$T/flists/o.flist"
cfg /opt
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
wait_log "generation 1 stored in" || bail "not stored"
mount_stop
sed -i "s#^cache_dir = .*#cache_dir = \"$T/cache-o\"#" "$T/config.toml"     # not in the key
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "$used" "a tree with a published order comes from its stored image"
cached() { n=0; for i in "$@"; do test -e "$(blob_path "$T/cache-o" "$(md5sum <"$T/osrc/f$i" | cut -c1-32)")" && n=$((n + 1)); done; echo $n; }
head -c 1 "$T/mnt/o/f01" >/dev/null
for _ in $(seq 100); do [ "$(cached $(seq -w 2 17))" = 16 ] && break; sleep 0.05; done
is "$(cached $(seq -w 2 17))" 16 "the first open of its first file brings the next 16 of the order into the cache"
is "$(cached $(seq -w 18 20))" 0 "and none further"
mount_stop

# ---- signed flists (SPEC §8): checked at every load, before a stored image can stand for them ----
PACK=$AYSFS_BUILD/aysfs-pack
mkdir -p "$T/keys" "$T/sflists" "$T/s1" "$T/s2"
(cd "$T" && "$PACK" keygen k1 >/dev/null) || bail "keygen"
cp "$T/k1.pub" "$T/keys/" && chmod 755 "$T/keys" && chmod 644 "$T/keys"/*
echo one >"$T/s1/a"; echo two >"$T/s2/a"
"$PACK" -q -sign "$T/k1.key" -revision 1 "$T/s1" "$T/sstore1" app >/dev/null || bail "pack"
"$PACK" -q -sign "$T/k1.key" -revision 2 "$T/s2" "$T/sstore2" app >/dev/null || bail "pack"
mkdir -p "$T/sstore/dedupe"; cp -r "$T/sstore1/dedupe/." "$T/sstore2/dedupe/." "$T/sstore/dedupe/"
chmod -R a+rX "$T/sstore" "$T/sstore1" "$T/sstore2"
put_signed() { cp "$T/sstore$1/dedupe/md/app.flist" "$T/sstore$1/dedupe/md/app.flist.sig" "$T/sflists/"; chmod 644 "$T/sflists"/*; }
printf '[main]\nprefix = "/"\nflist_dir = "%s"\ncache_dir = "%s"\nstate_dir = "%s"\ntrusted_keys = "%s"\n[[store]]\nurl = "%s"\n' \
	"$T/sflists" "$T/cache-s" "$T/state" "$T/keys" "$T/sstore" >"$T/config.toml"
put_signed 1
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
wait_log "generation 1 stored in" || bail "not stored"
mount_stop
f1=$(ls -t "$T/state"/index-* | head -1)
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "$used" "a signed flist accepted again uses the stored image"
is "$(cat "$T/mnt/a")" one "and serves it"
mount_stop
put_signed 2
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
is "$(cat "$T/mnt/a")" two "revision 2 is mounted (the floor is 2 now)"
mount_stop
put_signed 1
ok_cmd "the stored image of revision 1 is still there" test -e "$f1"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "service app: .*app.flist refused: revision 1 below floor 2" \
	"revision 1 put back is refused, though its stored image is there"
ok $(! grep -q "$used" "$T/log"; echo $?) "and its stored image is not used"
ok_cmd "nothing of it is served" test ! -e "$T/mnt/a"
mount_stop

done_testing
