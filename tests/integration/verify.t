#!/usr/bin/env bash
# -verify-cache: a cached blob corrupted behind aysfs' back is found at start-up, removed, and
# fetched again (verified) on the next open. Temporary files left by a crash are removed.
. "$(dirname "$0")/lib.sh"
t_setup

mkdir -p "$T/src" "$T/store"
for f in a b c; do random_file "$T/src/$f" 30000; done
: >"$T/flist"
for f in a b c; do
	h=$(put_blob "$T/store" "$T/src/$f")
	printf '/%s|%s|30000\n' "$f" "$h" >>"$T/flist"
done
write_flist "$T/flists/s.flist" <"$T/flist"
store_config

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
cat "$T/mnt/a" "$T/mnt/b" "$T/mnt/c" >/dev/null
mount_stop
hb=$(md5sum <"$T/src/b" | cut -c1-32)
cached=$(blob_path "$T/cache" "$hb")
ok_cmd "the blob is cached" test -f "$cached"
# Damage it behind aysfs' back (same size, other bytes), and leave a crash's temporary file.
chmod u+w "$cached"; head -c 30000 /dev/zero >"$cached"
touch "$T/cache/dedupe/${hb:0:1}/${hb:1:1}/.tmp-crash1"

mount_start "$T/mnt" -config "$T/config.toml" -verify-cache || bail "mount failed"
like "$(cat "$T/log")" "cache: ${hb:0:1}/${hb:1:1}/$hb does not match its name; removed" "the damaged blob is found and removed"
like "$(cat "$T/log")" "cache verified: 3 blobs, 1 removed" "the summary counts what was checked"
ok_cmd "a crash's temporary file is gone" test ! -e "$T/cache/dedupe/${hb:0:1}/${hb:1:1}/.tmp-crash1"
is "$(sha256sum <"$T/mnt/b")" "$(sha256sum <"$T/src/b")" "the next open fetches it again, right"
is "$(md5sum <"$cached" | cut -c1-32)" "$hb" "and the cache holds the good copy"
mount_stop
done_testing
