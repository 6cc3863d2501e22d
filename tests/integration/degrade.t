#!/usr/bin/env bash
# No silent degradation. A cache_dir (or state_dir) that root made beforehand is given to the
# workers when it holds only the cache's own layout, and refused (exit 1, naming what is in the
# way) when it holds anything else, is a symlink, is another user's, cannot be written or is on a
# read-only filesystem: the mount never runs without a cache it can write. An empty tree (a
# misspelt section, no service) is a warning at start and a line of `aysfs-ctl status`; [debug]
# (not served yet) is a warning; a mount over a non-empty folder is a warning naming it; df shows
# no use (a full read-only mount would alert every disk monitor).
. "$(dirname "$0")/lib.sh"
t_setup
CTL=$AYSFS_BUILD/aysfs-ctl
IDX_UID=$(id -u aysfs 2>/dev/null || id -u nobody)

mkdir -p "$T/src" "$T/store" "$T/mnt"
random_file "$T/src/a" 5000
random_file "$T/src/b" 7000
ha=$(put_blob "$T/store" "$T/src/a")
hb=$(put_blob "$T/store" "$T/src/b")
printf '/a|%s|5000\n/b|%s|7000\n' "$ha" "$hb" | write_flist "$T/flists/s.flist"
chmod -R a+rX "$T/store"
cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
state_dir = "$T/state"
[[store]]
url = "$T/store"
EOF

# ---- a cache_dir and a state_dir made by root, empty ---------------------------------------------
mkdir -m 0755 "$T/cache" "$T/state"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
is "$(stat -c %u "$T/cache")" "$IDX_UID" "a cache_dir root made beforehand is given to the workers"
is "$(stat -c %u:%a "$T/state")" "$IDX_UID:700" "and so is a state_dir (mode 0700)"
like "$(cat "$T/log")" "NOTICE supervisor: cache_dir $T/cache was root's, with only the cache's own files: given to uid $IDX_UID" \
	"the log says so"
ok_cmd "a file reads right" cmp "$T/src/a" "$T/mnt/a"
ok_cmd "and its blob is cached" test -f "$(blob_path "$T/cache" "$ha")"
is "$(grep -c 'is not writable' "$T/log")" 0 "no 'not writable' warning"
mount_stop

# ---- root's copy of a cache (cp -a of a backup, say): only our layout, given away as a whole -------
rm -rf "$T/cache"
mkdir -p "$T/cache/dedupe/md" "$T/cache/lost+found"
cp -r "$T/store/dedupe/${hb:0:1}" "$T/cache/dedupe/"
: >"$T/cache/dedupe/.recency"
cp "$T/flists/s.flist" "$T/cache/dedupe/md/s.flist"
chown -R root:root "$T/cache"; chmod -R go-w "$T/cache"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
is "$(find "$T/cache/dedupe" ! -user "$IDX_UID" | wc -l)" 0 \
	"a root-owned cache holding our layout (blobs, .recency, md/) is given away, every entry"
is "$(stat -c %u "$T/cache/lost+found")" 0 "lost+found is left alone"
ok_cmd "its blob is served (hashed first: it was not verified by this node)" cmp "$T/src/b" "$T/mnt/b"
like "$("$CTL" "$T/mnt" cache)" "rehashed 1" "... as the cache report counts"
mount_stop

# ---- root's copy of a state_dir: what the indexer keeps there (trust records, stored index images,
# revision floors) is aysfs' own, given away too ---------------------------------------------------
cp -a "$T/state" "$T/state.copy"
rm -rf "$T/state"; mv "$T/state.copy" "$T/state"
: >"$T/state/revision-test"
chown -R root:root "$T/state"
is "$(find "$T/state" -name 'index-*' | wc -l)" 1 "the state_dir holds a stored index image"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
is "$(find "$T/state" ! -user "$IDX_UID" | wc -l)" 0 \
	"a root-owned state_dir holding verified-*, index-* and revision-* files is given away"
mount_stop

# ---- refused: something else in it, a symlink, another user's ------------------------------------
refused() {     # refused NAME REGEX: the supervisor exits 1, its message matching REGEX
	local out st
	out=$(timeout 30 "$SUPERVISOR" -config "$T/config.toml" "$T/mnt" 2>&1); st=$?
	is "$st" 1 "$1: exit 1"
	like "$out" "$2" "... naming the folder and why"
	is_mounted "$T/mnt"; ok $((! $?)) "... and nothing is mounted"
}
rm -rf "$T/cache"; mkdir -p "$T/cache/dedupe/0/0"; echo hello >"$T/cache/notes.txt"
refused "a root-owned cache_dir with a file that is not the cache's" \
	"CRIT supervisor: cache_dir $T/cache is root's and holds $T/cache/notes.txt, which is not the cache's: refused"
is "$(stat -c %u "$T/cache/dedupe")" 0 "... and nothing in it was given away"
rm "$T/cache/notes.txt"
ln /etc/passwd "$T/cache/dedupe/0/0/00000000000000000000000000000000" 2>/dev/null ||
	{ cp /etc/passwd "$T/p"; ln "$T/p" "$T/cache/dedupe/0/0/00000000000000000000000000000000"; }
refused "a root-owned cache holding a file with another link (chown would give that away too)" \
	"cache_dir $T/cache is root's and holds $T/cache/dedupe/0/0/0+, which has other links: refused"
is "$(stat -c %u /etc/passwd)" 0 "/etc/passwd is still root's"
rm -rf "$T/cache" "$T/p"
mkdir -p "$T/cache/dedupe/0/0"; ln -s /etc "$T/cache/dedupe/0/0/etc"
refused "a root-owned cache holding a symlink" "holds $T/cache/dedupe/0/0/etc, which is not the cache's"
rm -rf "$T/cache"; mkdir -p "$T/realcache"; chown "$IDX_UID" "$T/realcache"; ln -s realcache "$T/cache"
refused "a cache_dir that is a symlink" "cache_dir $T/cache is a symlink: refused"
rm -f "$T/cache"; mkdir "$T/cache"; chown 4242 "$T/cache"
refused "a cache_dir of another user" "cache_dir $T/cache belongs to uid 4242, not to the indexer's uid $IDX_UID: refused"
chown "$IDX_UID" "$T/cache"; mkdir "$T/cache/dedupe"; touch "$T/cache/dedupe/junk"
refused "the workers' cache_dir with a root-owned namespace folder holding something else" \
	"cache_dir $T/cache/dedupe is root's and holds $T/cache/dedupe/junk, which is not the cache's"
rm -rf "$T/cache"; mkdir -m 0555 "$T/cache"; chown "$IDX_UID" "$T/cache"
refused "the workers' cache_dir of mode 0555" "cache_dir $T/cache: its mode 0555 does not let its owner write there: refused"
mkdir -p "$T/rofs"; mount -t tmpfs -o ro,mode=0755 tmpfs "$T/rofs"
sed "s|^cache_dir = .*|cache_dir = \"$T/rofs\"|" "$T/config.toml" >"$T/ro.toml"
out=$(timeout 30 "$SUPERVISOR" -config "$T/ro.toml" "$T/mnt" 2>&1); st=$?
umount "$T/rofs"
is "$st" 1 "a cache_dir on a read-only filesystem: exit 1"
like "$out" "cache_dir $T/rofs is on a read-only filesystem: refused" "... saying so"
chmod 0755 "$T/cache"
rm -rf "$T/state"; mkdir "$T/state"; echo x >"$T/state/notes"
refused "a root-owned state_dir holding something else" "state_dir $T/state is root's and holds $T/state/notes"
rm -rf "$T/state"

# ---- an empty tree: a misspelt section, or no service at all ---------------------------------------
mkdir -p "$T/noflists"
cat >"$T/empty.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/noflists"
cache_dir = "$T/cache"
state_dir = "$T/state"
[[stores]]
url = "$T/store"
EOF
mount_start "$T/mnt" -config "$T/empty.toml" || bail "mount failed"
like "$(cat "$T/log")" "WARN config: $T/empty.toml:6: unknown key stores" "a misspelt section is a warning naming FILE:LINE"
like "$(cat "$T/log")" "WARN indexer: the tree is empty: no service: no \[\[ays\]\] is configured and flist_dir $T/noflists holds no \*.flist" \
	"an empty tree is a warning at start, saying why"
like "$("$CTL" "$T/mnt" status)" "warning: the tree is empty: no service" "and a line of aysfs-ctl status"
echo "/a|$ha|5000" | write_flist "$T/noflists/s.flist"
"$CTL" "$T/mnt" reload >/dev/null
is "$("$CTL" "$T/mnt" status | grep -c 'tree is empty')" 0 "the line goes once the tree has entries"
mount_stop
printf '/elsewhere/a|%s|5000\n' "$ha" | write_flist "$T/noflists/s.flist"
sed -i 's|^prefix = .*|prefix = "/opt"|' "$T/empty.toml"
mount_start "$T/mnt" -config "$T/empty.toml" || bail "mount failed"
like "$(cat "$T/log")" "WARN indexer: the tree is empty: its 1 services list nothing under prefix /opt" \
	"a service with nothing under prefix: the same warning, saying so"
mount_stop
rm -rf "$T/noflists"

# ---- [debug] with no Redis to reach (debug.t has the rest) ------------------------------------------
cp "$T/config.toml" "$T/debug.toml"
printf '[debug]\nfilter = [".*"]\nredis = "127.0.0.1:%s"\n' "$(free_port)" >>"$T/debug.toml"
mount_start "$T/mnt" -config "$T/debug.toml" || bail "mount failed"
like "$(cat "$T/log")" "ERROR debug: redis 127.0.0.1:[0-9]+ cannot be reached: the mount serves its read-only content" \
	"[debug] with Redis unreachable: the mount is served, and the log says why writes fail"
mount_stop

# ---- a non-empty mountpoint; df -----------------------------------------------------------------------
mkdir -p "$T/full"; touch "$T/full/hidden-file"
mount_start "$T/full" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "WARN supervisor: mountpoint $T/full is not empty: its 1 entries \(hidden-file, ...\) are hidden" \
	"mounting over a non-empty folder is a warning naming it"
is "$(df --output=pcent "$T/full" | tail -1 | tr -d ' ')" "0%" "df shows no use of the mount"
is "$(df --output=ipcent "$T/full" | tail -1 | tr -d ' ')" "0%" "nor of its inodes"
ok $(($(df -B1 --output=size "$T/full" | tail -1) > 0 ? 0 : 1)) "its size is the tree's"
mount_stop
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
is "$(grep -c 'is not empty' "$T/log")" 0 "an empty mountpoint: no warning"
mount_stop
done_testing
