#!/usr/bin/env bash
# Reading files: verified blobs from folder layers, never a wrong byte, write-back, purge.
. "$(dirname "$0")/lib.sh"
t_setup


mkdir -p "$T/src" "$T/cache1" "$T/ro" "$T/store1" "$T/store2"
random_file "$T/src/a" 100000
random_file "$T/src/b" 3000000
random_file "$T/src/corrupt-first" 5000
random_file "$T/src/corrupt-all" 5000
random_file "$T/src/missing" 5000
random_file "$T/src/compressed" 200000
random_file "$T/src/big" 100000000
printf '#!/bin/sh\necho hello from the mount\n' >"$T/src/prog"

ha=$(put_blob "$T/store2" "$T/src/a")
hb=$(put_blob "$T/store1" "$T/src/b")
hc1=$(put_blob "$T/store1" "$T/src/corrupt-first")
put_blob "$T/store2" "$T/src/corrupt-first" >/dev/null
# corrupt STORE HASH: same size, other bytes.
corrupt() { head -c 5000 /dev/zero >"$(blob_path "$1" "$2")"; }
corrupt "$T/store1" "$hc1"
hc2=$(put_blob "$T/store1" "$T/src/corrupt-all")
put_blob "$T/store2" "$T/src/corrupt-all" >/dev/null
corrupt "$T/store1" "$hc2"
corrupt "$T/store2" "$hc2"
hm=$(md5sum <"$T/src/missing" | cut -c1-32)
hz=$(put_blob "$T/store2" "$T/src/compressed" bro)
hg=$(put_blob "$T/store2" "$T/src/big")
hp=$(put_blob "$T/store2" "$T/src/prog")
# A read-only folder cache (root's, so the workers cannot write it) sits before the stores.
mkdir -p "$T/ro/dedupe"; chmod 755 "$T/ro" "$T/ro/dedupe"
# Purge: the cache's namespace is emptied, a sentinel beside it survives.
mkdir -p "$T/cache1/dedupe/0/0" "$T/cache1/other"
echo old >"$T/cache1/dedupe/0/0/00000000000000000000000000000000"
echo keep >"$T/cache1/sentinel"; echo keep >"$T/cache1/other/file"
ln -s "$T/src" "$T/cache1/dedupe/link-out"
chown -R aysfs "$T/cache1" 2>/dev/null || chown -R nobody "$T/cache1"

write_flist "$T/flists/svc.flist" <<FL
/a|$ha|100000
/b|$hb|3000000
/corrupt-first|$hc1|5000
/corrupt-all|$hc2|5000
/missing|$hm|5000
/compressed|$hz|200000
/big|$hg|100000000
/bin/prog|$hp|$(stat -c %s "$T/src/prog")|mode=0755
/empty||0
FL
cat >"$T/config.toml" <<EOF2
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/unused-cache"
[[cache]]
url = "$T/cache1"
purge = true
[[cache]]
url = "file://$T/ro"
[[store]]
url = "$T/store1"
[[store]]
url = "$T/store2"
EOF2

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
M=$T/mnt
ok_cmd "purge emptied the cache's namespace" test ! -e "$T/cache1/dedupe/0/0/00000000000000000000000000000000"
ok_cmd "purge left the sentinel beside the namespace" test -f "$T/cache1/sentinel" -a -f "$T/cache1/other/file"
ok_cmd "purge did not follow a symlink out" test -f "$T/src/a"

for f in a b compressed big; do
	is "$(sha256sum <"$M/$f")" "$(sha256sum <"$T/src/$f")" "$f reads byte-identical"
done
ok_cmd "the blob is in the local cache (the first writable [[cache]])" test -f "$(blob_path "$T/cache1" "$ha")"
is "$(getfattr --only-values -n user.aysfs.layer "$M/b" 2>/dev/null)" "$T/store1" "xattr user.aysfs.layer names where it came from"
is "$(cat "$M/empty" | wc -c)" 0 "an empty file needs no blob"

is "$(sha256sum <"$M/corrupt-first")" "$(sha256sum <"$T/src/corrupt-first")" "a corrupt copy in the first layer is skipped for the good one"
like "$(grep corrupt-first "$T/log")" "store1: blob .*$hc1: hash mismatch" "the corrupt copy is logged with its layer"
cat "$M/corrupt-all" >/dev/null 2>"$T/err"; st=$?
ok $((st == 0)) "every copy corrupt: the open fails"
like "$(cat "$T/err")" "Input/output error" "with EIO"
like "$(cat "$T/log")" "/corrupt-all: no valid copy of $hc2 in any layer \(local cache: not there; $T/cache1|/corrupt-all: no valid copy of $hc2 in any layer \(local cache: not there; file://$T/ro: not there; $T/store1: hash mismatch" "one log line names the path, the hash and each layer"
ok_cmd "no corrupt copy is cached" test ! -e "$(blob_path "$T/cache1" "$hc2")"
cat "$M/missing" >/dev/null 2>"$T/err"; st=$?
ok $((st == 0)) "missing everywhere: the open fails"
like "$(cat "$T/err")" "Input/output error" "with EIO"

is "$("$M/bin/prog")" "hello from the mount" "an executable from the mount runs"

# 16 readers of one uncached 100 MB blob at once: one fetch, identical bytes for all.
random_file "$T/src/big2" 100000000
h2=$(put_blob "$T/store2" "$T/src/big2")
want=$(sha256sum <"$T/src/big2")
mount_stop
printf '/big2|%s|100000000\n' "$h2" >>"$T/flists/svc.flist"
sed -i 's/^purge = true$/purge = false/' "$T/config.toml"
mount_start "$T/mnt" -config "$T/config.toml" || bail "remount failed"
readers=()
for i in $(seq 16); do (sha256sum <"$M/big2" >"$T/sum.$i") & readers+=($!); done
wait "${readers[@]}"
same=0
for i in $(seq 16); do [ "$(cat "$T/sum.$i")" = "$want" ] && same=$((same + 1)); done
is "$same" 16 "16 concurrent readers of an uncached 100 MB blob all read the right bytes"

# Write-back: the blob came from store2, so the writable cache before it has it (the local
# cache, at once), the read-only cache does not, and neither store was written.
ok_cmd "written back into the writable cache" test -f "$(blob_path "$T/cache1" "$h2")"
ok_cmd "not into the read-only cache" test ! -e "$(blob_path "$T/ro" "$h2")"
ok_cmd "a [[store]] is never written" test ! -e "$(blob_path "$T/store1" "$h2")"
is "$(find "$T/cache1" -name '.tmp-*' | wc -l)" 0 "no temporary file left in the cache"
mount_stop

# A second writable cache before the source gets the blob in the background.
mkdir -p "$T/lan"; chown aysfs "$T/lan" 2>/dev/null || chown nobody "$T/lan"
random_file "$T/src/fresh" 70000
ha=$(put_blob "$T/store2" "$T/src/fresh")
printf '/fresh|%s|70000\n' "$ha" >>"$T/flists/svc.flist"
sed -i "s|^url = \"file://$T/ro\"|url = \"$T/lan\"|" "$T/config.toml"
mount_start "$T/mnt" -config "$T/config.toml" || bail "remount failed"
cat "$M/fresh" >/dev/null
for _ in $(seq 50); do [ -f "$(blob_path "$T/lan" "$ha")" ] && break; sleep 0.1; done
ok_cmd "written back into every writable folder cache before the source" test -f "$(blob_path "$T/lan" "$ha")"
is "$(md5sum <"$(blob_path "$T/lan" "$ha")" | cut -c1-32)" "$ha" "the written-back copy is right"
mount_stop
is "$STOP_STATUS" 0 "clean stop"
done_testing
