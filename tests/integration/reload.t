#!/usr/bin/env bash
# Reload on SIGHUP and SIGUSR1: the new tree is visible at once whatever the kernel cache
# lifetimes; unchanged paths keep their inode numbers; open files keep reading what they opened;
# a reload that fails (bad flist, bad config) keeps the tree being served.
. "$(dirname "$0")/lib.sh"
t_setup

mkdir -p "$T/src" "$T/store"
blob() { echo "$(put_blob "$T/store" "$T/src/$1")|$(stat -c %s "$T/src/$1")"; }   # "hash|size"
random_file "$T/src/a1" 200000; random_file "$T/src/a2" 300000
random_file "$T/src/b" 1000; random_file "$T/src/c" 2000; random_file "$T/src/x" 3000
a1=$(blob a1); a2=$(blob a2); b=$(blob b); c=$(blob c); x=$(blob x)
printf '/a|%s\n/b|%s\n/dir/x|%s|mode=0555\n' "$a1" "$b" "$x" | write_flist "$T/flists/s.flist"
cat >"$T/config.toml" <<EOF2
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
entry_ttl = 3600
attr_ttl = 3600
negative_ttl = 3600
[[store]]
url = "$T/store"
EOF2

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
M=$T/mnt
ls -la "$M" "$M/dir" >/dev/null; stat "$M/c" >/dev/null 2>&1   # fill the kernel's caches, /c as absent
ino_dir=$(stat -c %i "$M/dir"); ino_x=$(stat -c %i "$M/dir/x"); ino_a=$(stat -c %i "$M/a")
exec 3<"$M/a"
head -c 1000 <&3 >/dev/null

printf '/a|%s\n/c|%s\n/dir/x|%s|mode=0500\n' "$a2" "$c" "$x" | write_flist "$T/flists/s.flist"
kill -HUP "$SUP_PID"
for _ in $(seq 100); do grep -q "serving .* (generation 2)" "$T/log" && break; sleep 0.05; done
sleep 0.2   # the invalidations are sent by the fuser's notifier thread
like "$(cat "$T/log")" "fuser: serving 5 entries \(generation 2\)" "SIGHUP builds and serves a new tree"
is "$(sha256sum <"$M/a")" "$(sha256sum <"$T/src/a2")" "changed content is visible at once, despite an hour of entry_ttl"
ok_cmd "a removed file is gone at once" test ! -e "$M/b"
is "$(sha256sum <"$M/c" 2>/dev/null)" "$(sha256sum <"$T/src/c")" "a new file is visible at once, though cached as absent"
is "$(stat -c %a "$M/dir/x")" 500 "a changed mode is visible at once"
is "$(stat -c %i "$M/dir")" "$ino_dir" "an unchanged directory keeps its inode number"
is "$(stat -c %i "$M/dir/x")" "$ino_x" "a file whose content did not change keeps its inode number"
ok $([ "$(stat -c %i "$M/a")" != "$ino_a" ]; echo $?) "a file whose content changed has a new number"
is "$(cat <&3 | wc -c)" 199000 "a file open before the reload keeps reading what it opened"
exec 3<&-
is "$(ls "$M" | tr '\n' ' ')" "a c dir " "the listing is the new one"

# The kernel keeps a file's pages across opens (FOPEN_KEEP_CACHE): a reload that changes a file's
# content shows the new bytes at once all the same, although every old byte is in the page cache
# and the size did not change (the new content is a new inode number, its old dentry invalidated).
random_file "$T/src/p1" 100000; random_file "$T/src/p2" 100000
p1=$(blob p1); p2=$(blob p2)
printf '/a|%s\n/c|%s\n/dir/x|%s|mode=0500\n/p|%s\n' "$a2" "$c" "$x" "$p1" | write_flist "$T/flists/s.flist"
kill -HUP "$SUP_PID"
for _ in $(seq 100); do grep -q "serving .* (generation 3)" "$T/log" && break; sleep 0.05; done
sleep 0.2
cat "$M/p" >/dev/null; cat "$M/p" >/dev/null
is "$(fincore -n -o PAGES "$M/p" | tr -d ' ')" 25 "the old content of /p is in the page cache (25 pages)"
printf '/a|%s\n/c|%s\n/dir/x|%s|mode=0500\n/p|%s\n' "$a2" "$c" "$x" "$p2" | write_flist "$T/flists/s.flist"
kill -HUP "$SUP_PID"
for _ in $(seq 100); do grep -q "serving .* (generation 4)" "$T/log" && break; sleep 0.05; done
sleep 0.2
is "$(sha256sum <"$M/p")" "$(sha256sum <"$T/src/p2")" "a reload that changes a file's content shows the new bytes at once, the old ones cached"
is "$(stat -c %s "$M/p")" 100000 "at the same size"

# A malformed flist: the reload fails, the tree being served stays.
printf '/a|%s\n/zz|nothex|5\n' "$a1" | write_flist "$T/flists/s.flist"
kill -USR1 "$SUP_PID"
for _ in $(seq 100); do grep -q "reload failed" "$T/log" && break; sleep 0.05; done
like "$(cat "$T/log")" "s.flist:2: hash must be 32 or 64 hex digits" "a malformed flist is named with file:line"
like "$(cat "$T/log")" "reload failed, still serving generation 4" "and fails the reload (SIGUSR1)"
is "$(sha256sum <"$M/a")" "$(sha256sum <"$T/src/a2")" "and the old tree is still served"
ok_cmd "entirely" test -e "$M/c"

# A configuration that does not load changes nothing.
cp "$T/config.toml" "$T/good.toml"
printf '[main\n' >>"$T/config.toml"
kill -HUP "$SUP_PID"
for _ in $(seq 100); do grep -q "reload: $T/config.toml:" "$T/log" && break; sleep 0.05; done
like "$(cat "$T/log")" "reload: $T/config.toml:[0-9]+:[0-9]+: .*the tree being served is kept" "a bad configuration is named with file:line:column and changes nothing"
ok_cmd "the tree is unchanged" test -e "$M/c"
mount_stop
is "$STOP_STATUS" 0 "clean stop"
done_testing
