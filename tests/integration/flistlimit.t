#!/usr/bin/env bash
# Bounds on one flist ([main] flist_max_size, flist_max_entries): a flist past either is refused
# with a message naming it and the limit, and the other services still mount. The bounds hold for
# flists from flist_dir, from a `flist =` file and from a network layer; a 1 GiB sparse file is
# refused without being read (the indexer's memory does not grow).
. "$(dirname "$0")/lib.sh"
t_setup

mkdir -p "$T/src" "$T/store" "$T/www/dedupe/md"
random_file "$T/src/f" 1000
h=$(put_blob "$T/store" "$T/src/f")
printf '/ok/f|%s|1000\n' "$h" | write_flist "$T/flists/good.flist"
# 3,000 entries, about 90 KB.
for i in $(seq 3000); do printf '/many/d%04d||0|type=d\n' "$i"; done | write_flist "$T/flists/many.flist"
cfg() {
	printf '[main]\nprefix = "/"\nflist_dir = "%s"\ncache_dir = "%s"\n%s\n[[store]]\nurl = "%s"\n' \
		"$T/flists" "$T/cache" "$1" "$T/store" >"$T/config.toml"
}

# ---- flist_max_size ----------------------------------------------------------------------------------
cfg 'flist_max_size = "64K"'
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(grep ERROR "$T/log")" "many.flist: [0-9]+ bytes, larger than flist_max_size \(65536 bytes\).*service many is not mounted" \
	"a flist larger than flist_max_size is refused, naming the flist and the limit"
ok_cmd "the other service is mounted" cmp -s "$T/mnt/ok/f" "$T/src/f"
ok_cmd "the refused one is not" test ! -e "$T/mnt/many"
mount_stop

# ---- flist_max_entries ---------------------------------------------------------------------------------
cfg 'flist_max_entries = 1000'
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(grep ERROR "$T/log")" "many.flist: more than flist_max_entries \(1000 entries\).*service many is not mounted" \
	"a flist with more entries than flist_max_entries is refused, naming the flist and the limit"
ok_cmd "the other service is mounted" cmp -s "$T/mnt/ok/f" "$T/src/f"
ok_cmd "the refused one is not" test ! -e "$T/mnt/many"
mount_stop

# ---- the defaults: a 1 GiB sparse flist --------------------------------------------------------------
truncate -s 1G "$T/flists/huge.flist"
chmod 644 "$T/flists/huge.flist"
cfg ''
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(grep ERROR "$T/log")" "huge.flist: 1073741824 bytes, larger than flist_max_size \(536870912 bytes\)" \
	"a 1 GiB flist is refused by the default flist_max_size (512 MiB)"
ok_cmd "the others are mounted" test -e "$T/mnt/many/d3000"
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$(worker_pid indexer)/status")
ok $((hwm >= 65536)) "... and the indexer's peak memory stays small (${hwm} KiB)"
mount_stop
rm -f "$T/flists/huge.flist"

# ---- a flist named by path, and one from a network layer ------------------------------------------------
P=$(free_port)
for i in $(seq 4000); do printf '/net/d%04d||0|type=d\n' "$i"; done >"$T/www/dedupe/md/remote.flist"
chmod -R a+rX "$T/www"
nginx_start "server { listen 127.0.0.1:$P; root $T/www; }"
cp "$T/flists/many.flist" "$T/byname.flist"
chmod 644 "$T/byname.flist"
cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/none"
cache_dir = "$T/cache2"
flist_max_size = "64K"
[[ays]]
id = "good"
flist = "$T/flists/good.flist"
[[ays]]
id = "byname"
flist = "$T/byname.flist"
[[ays]]
id = "remote"
[[store]]
url = "$T/store"
[[store]]
url = "http://127.0.0.1:$P"
EOF
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(grep ERROR "$T/log")" "byname.flist: [0-9]+ bytes, larger than flist_max_size" \
	"a flist named by path is bounded too"
like "$(grep ERROR "$T/log")" "service remote: .*remote.flist: too long \(over 65536 bytes\)" \
	"a flist from a network layer is bounded too (the fetcher cuts it off)"
ok_cmd "the other service is mounted" cmp -s "$T/mnt/ok/f" "$T/src/f"
mount_stop

done_testing
