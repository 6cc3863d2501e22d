#!/usr/bin/env bash
# Every operation a worker can do once its seccomp filter is loaded, on a tree of realistic size
# (thousands of entries, 1,000 of them in one folder, published with aysfs-pack into an HTTP store),
# done by each restarted worker: an indexer killed with -9 (while the cache is nearly empty), a
# fetcher killed with -9, a fuser killed with -9 (a takeover), and an indexer restarted by a reload
# that adds an [[ays]] from a new folder; then by the first workers of a second mount. The
# operations: a cold open (through the fetcher), read-ahead along a folder, prefetch, aysfs-ctl
# status, cache, evict and verify, a reload by aysfs-ctl and two by SIGHUP. No worker may die of
# its filter (a call glibc makes lazily, the first time it sorts a large array, killed restarted
# indexers at their next reload), the mount stays up, and it stops cleanly. The second mount, of
# the now full cache, has -verify-cache: its indexer parses the journal, re-hashes every blob and
# builds its first tree under its filter, which it loads before any of that.
. "$(dirname "$0")/lib.sh"
t_setup

command -v nginx >/dev/null || bail "nginx is needed (nginx-light)"
CTL=$AYSFS_BUILD/aysfs-ctl
PACK=$AYSFS_BUILD/aysfs-pack
[ -x "$CTL" ] && [ -x "$PACK" ] || bail "no aysfs-ctl or aysfs-pack in $AYSFS_BUILD: build first"

# ---- the tree: /big (1,000 files), /deep (40 folders of 60 files), /small (prefetched) -----------
S=$T/src
W=$T/www
mkdir -p "$S/big" "$S/small" "$W" "$T/elsewhere"
for i in $(seq -w 1 1000); do echo "big file $i $RANDOM" >"$S/big/f$i"; done
for d in $(seq -w 1 40); do
	mkdir -p "$S/deep/d$d"
	for i in $(seq -w 1 60); do echo "deep $d $i $RANDOM" >"$S/deep/d$d/g$i"; done
done
for i in $(seq 1 8); do random_file "$S/small/s$i" 20000; done
"$PACK" -q -hash md5 -prefix /big "$S/big" "$W" big >"$T/pack.out" 2>&1 &&
	"$PACK" -q -hash md5 -prefix /deep "$S/deep" "$W" deep >>"$T/pack.out" 2>&1 &&
	"$PACK" -q -hash md5 -prefix /small "$S/small" "$W" small >>"$T/pack.out" 2>&1 ||
	bail "aysfs-pack failed: $(cat "$T/pack.out")"
entries=$(cat "$W"/dedupe/md/*.flist | wc -l)
ok $([ "$entries" -gt 3000 ]; echo $?) "a tree of thousands of entries ($entries)"
# A flist outside the first configuration's folders: naming it restarts the indexer.
echo "/extra/x||0" >"$T/elsewhere/extra.flist"
chmod -R a+rX "$W" "$T/elsewhere"

PORT=$(free_port)
nginx_start "server { listen 127.0.0.1:$PORT; root $W; }"
lock_config() {
	cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
[[ays]]
id = "big"
[[ays]]
id = "deep"
[[ays]]
id = "small"
prefetch = true
[[store]]
url = "http://127.0.0.1:$PORT"
EOF
	[ -n "${1:-}" ] && printf '[[ays]]\nid = "extra"\nflist = "%s"\n' "$1" >>"$T/config.toml"
	true
}
mkdir -p "$T/flists"
lock_config
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
M=$T/mnt

# locked_first WHAT REGEX: the indexer's lock-down is logged before the first line matching REGEX.
locked_first() {
	local at_lock at_what
	at_lock=$(grep -n "INFO indexer: seccomp allow-list loaded" "$T/log" | head -1 | cut -d: -f1)
	at_what=$(grep -nE "$2" "$T/log" | head -1 | cut -d: -f1)
	ok $([ -n "$at_lock" ] && [ -n "$at_what" ] && [ "$at_lock" -lt "$at_what" ]; echo $?) \
		"the indexer is locked down before $1 (log lines $at_lock, $at_what)"
}
field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }
# new_pid ROLE OLD: a locked-down worker of that role other than OLD (waits up to 10 s).
new_pid() {
	local p
	for _ in $(seq 200); do
		p=$(worker_pid "$1")
		[ -n "$p" ] && [ "$p" != "$2" ] && [ "$(field "$p" Seccomp)" = 2 ] && { echo "$p"; return; }
		sleep 0.05
	done
}
gens() { grep -c "tree generation" "$T/log"; }
wait_gens() {   # wait_gens N: until the log counts N trees (10 s)
	for _ in $(seq 100); do [ "$(gens)" -ge "$1" ] && return 0; sleep 0.1; done
	return 1
}

# exercise LABEL N: every operation, with files of round N (each round reads files not read before).
exercise() {
	local label=$1 n=$2 pids i f bad g from
	from=$(wc -l <"$T/log")
	pids="$(worker_pid fuser) $(worker_pid indexer) $(worker_pid fetcher)"
	# A cold open through the fetcher, then a walk along /big and into /deep (read-ahead).
	f=$(printf 'f%04d' $((n * 100 + 1)))
	ok_cmd "$label: a cold open" cmp -s "$M/big/$f" "$S/big/$f"
	bad=0
	for i in $(seq $((n * 100 + 2)) $((n * 100 + 60))); do
		f=$(printf 'f%04d' "$i")
		cmp -s "$M/big/$f" "$S/big/$f" || bad=1
	done
	d=$(printf 'd%02d' $((n * 5 + 1)))
	for f in $(ls "$M/deep/$d"); do cmp -s "$M/deep/$d/$f" "$S/deep/$d/$f" || bad=1; done
	ok $bad "$label: a walk along /big and a folder of /deep (read-ahead) reads right"
	is "$(ls "$M/big" | wc -l)" 1000 "$label: /big lists its 1,000 entries"
	ok_cmd "$label: aysfs-ctl status" "$CTL" "$M" status
	ok_cmd "$label: aysfs-ctl cache" "$CTL" "$M" cache
	f=$(printf 'f%04d' $((n * 100 + 2)))
	ok_cmd "$label: aysfs-ctl evict" "$CTL" "$M" evict "$M/big/$f"
	ok_cmd "$label: the evicted file reads again" cmp -s "$M/big/$f" "$S/big/$f"
	ok_cmd "$label: aysfs-ctl verify" "$CTL" "$M" verify
	g=$(gens)
	out=$("$CTL" "$M" reload 2>&1)
	ok $? "$label: aysfs-ctl reload"
	g=$((g + 1))
	kill -HUP "$SUP_PID"
	wait_gens $((g + 1))
	ok $? "$label: a reload on SIGHUP builds a new tree"
	kill -HUP "$SUP_PID"
	wait_gens $((g + 2))
	ok $? "$label: and another one"
	ok_cmd "$label: a prefetched file reads right" cmp -s "$M/small/s$((n % 8 + 1))" "$S/small/s$((n % 8 + 1))"
	is "$(worker_pid fuser) $(worker_pid indexer) $(worker_pid fetcher)" "$pids" \
		"$label: no worker died"
	is "$(tail -n +$((from + 1)) "$T/log" | grep -c 'seccomp allow-list: killed\|killed by its seccomp filter')" 0 \
		"$label: no call was refused"
}

for _ in $(seq 100); do grep -q "prefetch: .* files in the cache" "$T/log" && break; sleep 0.1; done
like "$(cat "$T/log")" "prefetch: 8 files in the cache, 0 failed" "the first indexer prefetches"
locked_first "it reads a flist from the network" "indexer: service big: .* from http://"

# First a restart with a cache that is still nearly empty: the new indexer has sorted nothing large
# before its lock-down (neither its cache nor a tree: it takes the tree from the fuser).
old=$(worker_pid indexer)
kill -KILL "$old"
ok_cmd "an indexer killed with -9 is restarted" test -n "$(new_pid indexer "$old")"
exercise "restarted indexer" 0

old=$(worker_pid fetcher)
kill -KILL "$old"
ok_cmd "a fetcher killed with -9 is restarted" test -n "$(new_pid fetcher "$old")"
exercise "restarted fetcher" 2

old=$(worker_pid fuser)
kill -KILL "$old"
ok_cmd "a fuser killed with -9 is restarted" test -n "$(new_pid fuser "$old")"
exercise "restarted fuser" 3

old=$(worker_pid indexer)
lock_config "$T/elsewhere/extra.flist"
kill -HUP "$SUP_PID"
ok_cmd "a reload that adds an [[ays]] from a new folder restarts the indexer" \
	test -n "$(new_pid indexer "$old")"
for _ in $(seq 100); do [ -e "$M/extra/x" ] && break; sleep 0.1; done
ok_cmd "which mounts it" test -e "$M/extra/x"
exercise "indexer restarted by a reload" 4

ok_cmd "the mount is still there" is_mounted "$M"
mount_stop
is "$STOP_STATUS" 0 "the supervisor stops cleanly"

# ---- -verify-cache: the journal and every cached blob, read under the filter ---------------------
blobs=$(find "$T/cache" -type f -path '*/dedupe/*' | wc -l)
ok $([ "$blobs" -gt 400 ]; echo $?) "the cache holds the blobs read ($blobs)"
mount_start "$T/mnt" -config "$T/config.toml" -verify-cache || bail "mount with -verify-cache failed"
like "$(cat "$T/log")" "cache verified: [0-9]{3,} blobs, 0 removed" "-verify-cache re-hashes every blob before the tree is served"
locked_first "it reads the cache's journal" "indexer: cache: [0-9]+ blobs"
locked_first "-verify-cache" "indexer: verifying the local cache"
locked_first "it parses the flists" "indexer: service big:"
exercise "first workers, after -verify-cache" 5
is "$(grep -c 'seccomp allow-list: killed\|killed by its seccomp filter' "$T/log")" 0 \
	"-verify-cache: no call was refused"
is "$(grep -c 'restarting it' "$T/log")" 0 "-verify-cache: no worker died"
mount_stop
is "$STOP_STATUS" 0 "and it stops cleanly"
done_testing
