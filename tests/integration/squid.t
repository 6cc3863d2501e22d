#!/usr/bin/env bash
# A shared HTTP cache in front of a store (SPEC §9): a real squid, with the caching rules it has
# by default, between the nodes and nginx. Two mounts with empty caches read the same tree
# through it one after the other, and the store serves each blob once in all (blob requests are
# cacheable: no Cache-Control, no Pragma, nothing that varies); a republished flist is seen
# through squid within `refresh` (flist requests make squid revalidate).
. "$(dirname "$0")/lib.sh"
t_setup
[ -x /usr/sbin/squid ] || bail "squid is needed (squid)"

S=$T/src
mkdir -p "$S/d"
for i in $(seq 20); do random_file "$S/d/f$i" $((i * 1000)); done
random_file "$S/d/big" 3000000
printf 'one\n' >"$S/version"
"$AYSFS_BUILD/aysfs-pack" -q "$S" "$T/store" app || bail "aysfs-pack failed"
chmod -R a+rX "$T/store"
# A store published a day ago: squid's default heuristic (20% of the age of Last-Modified) keeps
# them fresh for hours; one written a second ago would be revalidated after 0.2 s.
find "$T/store/dedupe" -type f -exec touch -d '-1 day' {} +

NG=$(free_port)
nginx_start "server {
	listen 127.0.0.1:$NG;
	access_log $T/store.log;
	location / { root $T/store; }
}"

# squid with its default caching rules, in memory only, its files in $T, on a loopback port.
SQ=$(free_port)
mkdir -p "$T/squid"
cat >"$T/squid.conf" <<EOF2
http_port 127.0.0.1:$SQ
acl localnet src 127.0.0.1/32
http_access allow localnet
http_access deny all
cache_mem 256 MB
maximum_object_size_in_memory 16 MB
maximum_object_size 16 MB
pid_filename $T/squid/squid.pid
access_log stdio:$T/squid/access.log
cache_log $T/squid/cache.log
cache_store_log none
coredump_dir $T/squid
shutdown_lifetime 0 seconds
refresh_pattern . 0 20% 4320
EOF2
chown -R proxy:proxy "$T/squid"
/usr/sbin/squid -f "$T/squid.conf" -N 2>>"$T/squid/stderr" &
SQUID_PID=$!
trap 'kill "$SQUID_PID" 2>/dev/null; wait "$SQUID_PID" 2>/dev/null; _cleanup' EXIT
for _ in $(seq 100); do
	curl -s -o /dev/null -x "http://127.0.0.1:$SQ" "http://127.0.0.1:$NG/" && break
	sleep 0.1
done
kill -0 "$SQUID_PID" 2>/dev/null || bail "squid does not start: $(cat "$T/squid/stderr" "$T/squid/cache.log" 2>/dev/null | tail -5)"

conf() {
	cat >"$T/$1.toml" <<EOF2
[main]
prefix = "/"
flist_dir = "$T/none"
cache_dir = "$T/cache-$1"
proxy = ["http://127.0.0.1:$SQ"]
refresh = 2
[[ays]]
id = "app"
[[store]]
url = "http://127.0.0.1:$NG"
EOF2
}

blob_gets() { grep -c '"GET /dedupe/[0-9a-f]/[0-9a-f]/[0-9a-f]* ' "$T/store.log"; }
blobs=$(find "$S" -type f -exec sha256sum {} + | cut -c1-64 | sort -u | wc -l)

for node in n1 n2; do
	conf "$node"
	mount_start "$T/mnt" -config "$T/$node.toml" || bail "mount $node failed"
	diff -r "$S" "$T/mnt" >/dev/null
	ok $? "$node reads the whole tree through squid"
	mount_stop
done
is "$(blob_gets)" "$blobs" "the store served each of the $blobs blobs once to the two nodes"
twice=$(grep -o '"GET /dedupe/[0-9a-f]/[0-9a-f]/[0-9a-f]* ' "$T/store.log" | sort | uniq -d | wc -l)
is "$twice" 0 "no blob was fetched from the store twice"
hits=$(grep -c 'HIT/200 .*/dedupe/[0-9a-f]/' "$T/squid/access.log")
is "$hits" "$blobs" "squid answered the second node's blob requests from its cache"

# A republished flist, seen through squid within refresh by a mount that is running.
conf n3
mount_start "$T/mnt" -config "$T/n3.toml" || bail "mount n3 failed"
is "$(cat "$T/mnt/version")" one "n3 reads the tree"
sleep 1.1       # nginx's validators are the file's mtime and size
printf 'two\n' >"$S/version"
"$AYSFS_BUILD/aysfs-pack" -q "$S" "$T/store" app || bail "aysfs-pack failed"
chmod -R a+rX "$T/store"
seen=1
for _ in $(seq 100); do
	[ "$(cat "$T/mnt/version" 2>/dev/null)" = two ] && { seen=0; break; }
	sleep 0.1
done
ok $seen "a republished flist is seen through squid within refresh"
mount_stop

done_testing
