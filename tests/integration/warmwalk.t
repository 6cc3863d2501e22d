#!/usr/bin/env bash
# A warm walk of more files than the fuser keeps idle fds for: the indexer tells the fuser which of
# the walk's next files the local cache holds (MSG_AHEAD), the fuser asks for their fds ahead
# (MSG_PREFETCH), and the program's opens of them find the fd there instead of waiting on the
# indexer, each told to read-ahead as it happens (MSG_OPENED). The fd limit is lowered so that the
# idle fds (half of the table) cannot hold the tree; where root may raise the hard limit again, the
# fuser holds the whole tree and every open is warm anyway.
. "$(dirname "$0")/lib.sh"
t_setup

CTL=$AYSFS_BUILD/aysfs-ctl
S=$T/src
mkdir -p "$T/store"
: >"$T/flist.in"
for d in 0 1 2 3 4 5; do
	mkdir -p "$S/d$d"
	for f in $(seq -w 0 99); do
		random_file "$S/d$d/f$f" 200
		echo "/d$d/f$f|$(put_blob "$T/store" "$S/d$d/f$f")|200" >>"$T/flist.in"
	done
done
write_flist "$T/flists/svc.flist" <"$T/flist.in"
store_config
ctl_cache() { "$CTL" "$T/mnt" cache 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }

ulimit -n 512           # 192 idle fds, for 600 files
mount_start "$T/mnt" -config "$T/config.toml" || bail "no mount"
tar -C "$T/mnt" -cf "$T/cold.tar" .
ok_cmd "a first tar reads every file right" diff -r "$S" "$T/mnt"
"$CTL" "$T/mnt" cache >"$T/c0" 2>&1
h0=$(ctl_cache hits)
tar -C "$T/mnt" -cf "$T/warm.tar" .
h1=$(ctl_cache hits)
"$CTL" "$T/mnt" cache >"$T/c1" 2>&1
diag "$(diff "$T/c0" "$T/c1"; grep -c . "$T/flist.in"; grep -i "fd\|idle" "$T/log" | head -3)"
ok_cmd "a warm tar reads every file right" cmp -s "$T/cold.tar" "$T/warm.tar"
diag "opens that asked the indexer during the warm tar of 600 files: $((h1 - h0))"
ok $([ $((h1 - h0)) -le 150 ]; echo $?) "most warm opens find their fd already in the fuser ($((h1 - h0)) of 600 asked the indexer)"
mount_stop
is "$STOP_STATUS" 0 "the supervisor stops cleanly"
done_testing
