#!/usr/bin/env bash
# No unverified byte from the local cache (SPEC §6): a cached blob is served as it is only when this
# node verified that very file and it has not changed since; anything else under a blob's name is
# hashed first, a bad copy is replaced by the verified one from the next layer, and with no valid
# copy anywhere the open fails with EIO and not one byte. A restart over a cache this node filled
# hashes nothing again.
. "$(dirname "$0")/lib.sh"
t_setup
CTL=$AYSFS_BUILD/aysfs-ctl

# ctl_cache KEY: that line's value in `aysfs-ctl MNT cache`.
ctl_cache() { "$CTL" "$T/mnt" cache | awk -v k="$1" '$1 == k { print $2 }'; }
# corrupt FILE: the same size, other bytes (the first and a middle 4 KiB flipped).
corrupt() {
	local n
	n=$(stat -c %s "$1")
	chmod u+w "$1"
	head -c 4096 /dev/urandom | dd of="$1" bs=4096 seek=0 conv=notrunc status=none
	head -c 100 /dev/urandom | dd of="$1" bs=1 seek=$((n / 2)) conv=notrunc status=none
	chmod 444 "$1"
}
put_sha() {
	local h
	h=$(sha256sum <"$2" | cut -c1-64)
	mkdir -p "$1/dedupe/${h:0:1}/${h:1:1}"
	cp "$2" "$1/dedupe/${h:0:1}/${h:1:1}/$h"
	echo "$h"
}

mkdir -p "$T/src" "$T/store" "$T/lc" "$T/flists"
chmod 777 "$T/lc"
: >"$T/flist"
for f in a b c d e f; do random_file "$T/src/$f" 70000; done
for f in a c d e f; do
	eval "H_$f=$(put_blob "$T/store" "$T/src/$f")"
	eval "printf '/%s|%s|70000\n' $f \$H_$f" >>"$T/flist"
done
H_b=$(put_sha "$T/store" "$T/src/b")
printf '/b|%s|70000\n' "$H_b" >>"$T/flist"
write_flist "$T/flists/s.flist" <"$T/flist"
cat >"$T/config.toml" <<EOF2
[main]
prefix = "/"
flist_dir = "$T/flists"
state_dir = "$T/state"
[[cache]]
url = "$T/lc"
[[store]]
url = "$T/store"
EOF2

# Before the mount, the local cache holds copies this node never verified: a (md5) and b (sha256)
# the right size with other bytes, c corrupt in every layer, d good, e a symlink to a file with
# other bytes.
for f in a b c d; do
	eval "h=\$H_$f"
	mkdir -p "$(dirname "$(blob_path "$T/lc" "$h")")"
	cp "$(blob_path "$T/store" "$h")" "$(blob_path "$T/lc" "$h")"
done
corrupt "$(blob_path "$T/lc" "$H_a")"
corrupt "$(blob_path "$T/lc" "$H_b")"
corrupt "$(blob_path "$T/lc" "$H_c")"
corrupt "$(blob_path "$T/store" "$H_c")"
cp "$T/src/e" "$T/evil"; corrupt "$T/evil"
mkdir -p "$(dirname "$(blob_path "$T/lc" "$H_e")")"
ln -s "$T/evil" "$(blob_path "$T/lc" "$H_e")"
chown -R aysfs "$T/lc"

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
is "$(sha256sum <"$T/mnt/a")" "$(sha256sum <"$T/src/a")" "a same-size bad copy (md5 entry) in the local cache: the good bytes come from the next layer"
is "$(sha256sum <"$T/mnt/b")" "$(sha256sum <"$T/src/b")" "the same for a sha256 entry"
is "$(md5sum <"$(blob_path "$T/lc" "$H_a")" | cut -c1-32)" "$H_a" "the local cache holds the verified copy of a now"
is "$(sha256sum <"$(blob_path "$T/lc" "$H_b")" | cut -c1-64)" "$H_b" "and of b"
like "$(cat "$T/log")" "/a: local cache $T/lc: blob ${H_a:0:1}/${H_a:1:1}/$H_a: hash mismatch" "the log names the path, the hash and the layer of the bad copy"

got=$(dd if="$T/mnt/c" bs=4096 count=1 2>"$T/dd.err" | wc -c)
like "$(cat "$T/dd.err")" "Input/output error" "every copy bad: the read fails with EIO"
is "$got" 0 "and not one byte reaches the application"
like "$(cat "$T/log")" "/c: local cache $T/lc: blob ${H_c:0:1}/${H_c:1:1}/$H_c: hash mismatch" "the local cache's bad copy is named"
like "$(cat "$T/log")" "/c: no valid copy of $H_c in any layer \(local cache: .*$T/store: hash mismatch" "the log names the hash and every layer tried"
ok_cmd "the bad copy is not left in the local cache" test ! -e "$(blob_path "$T/lc" "$H_c")"

is "$(sha256sum <"$T/mnt/d")" "$(sha256sum <"$T/src/d")" "a good copy this node did not verify is served once hashed"
like "$(cat "$T/log")" "/d: cached blob ${H_d:0:1}/${H_d:1:1}/$H_d was not verified by this node" "and the log says it was hashed"

is "$(sha256sum <"$T/mnt/e")" "$(sha256sum <"$T/src/e")" "a symlink planted at a blob's name is not followed"
ok_cmd "it is replaced by the verified blob, a regular file" test -f "$(blob_path "$T/lc" "$H_e")" -a ! -L "$(blob_path "$T/lc" "$H_e")"
is "$(ctl_cache rehashed)" 4 "each blob found unverified was hashed before it was served (a, b, c, d; the symlink e was removed unread)"

# While mounted: a verified blob swapped for another file (new inode), and one written in place.
cat "$T/mnt/f" >/dev/null
cp "$T/src/a" "$T/swap"; corrupt "$T/swap"; chown aysfs "$T/swap"
mv -f "$T/swap" "$(blob_path "$T/lc" "$H_a")"
is "$(sha256sum <"$T/mnt/a")" "$(sha256sum <"$T/src/a")" "a verified blob swapped for another file is hashed again at the next open"
corrupt "$(blob_path "$T/lc" "$H_f")"
is "$(sha256sum <"$T/mnt/f")" "$(sha256sum <"$T/src/f")" "one written in place too"
is "$(md5sum <"$(blob_path "$T/lc" "$H_f")" | cut -c1-32)" "$H_f" "and the cache is repaired"
mount_stop

# A restart over the cache this node filled hashes nothing.
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
for f in a b d e f; do cat "$T/mnt/$f" >/dev/null; done
is "$(ctl_cache rehashed)" 0 "after a restart, blobs this node verified are served without hashing them again"
is "$(ctl_cache trusted)" 5 "all five are known as verified by this node (c has no valid copy)"
ok_cmd "no 'not verified' line in the log" bash -c "! grep -q 'not verified by this node' '$T/log'"
ok_cmd "the records are in the state folder, the workers' alone" test "$(stat -c '%a %U' "$T/state")" = "700 aysfs"
mount_stop

# The records of another node (a copied state file does not help: the inodes differ) and a copy
# restored from a backup (new inode, same bytes) count as unverified.
cp -a "$T/lc" "$T/lc2"; rm -rf "$T/lc"; mv "$T/lc2" "$T/lc"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
is "$(sha256sum <"$T/mnt/a")" "$(sha256sum <"$T/src/a")" "a restored cache is served right"
like "$(cat "$T/log")" "/a: cached blob ${H_a:0:1}/${H_a:1:1}/$H_a was not verified by this node" "each restored blob is hashed at its first open"
mount_stop
done_testing
