#!/usr/bin/env bash
# A warm walk of more files than the fuser keeps idle fds for: the indexer tells the fuser which of
# the walk's next files the local cache holds (MSG_AHEAD), the fuser asks for their fds ahead
# (MSG_PREFETCH), and the program's opens of them find the fd there instead of waiting on the
# indexer, each told to read-ahead as it happens (MSG_OPENED). The fd limit is lowered, and root
# may not raise it again (no CAP_SYS_RESOURCE), so that the idle fds (half of the fuser's table)
# cannot hold the tree.
. "$(dirname "$0")/lib.sh"
t_setup

S=$T/src
: >"$T/flist.in"
many_files "$S" 100 200 d0 d1 d2 d3 d4 d5
write_flist "$T/flists/svc.flist" <"$T/flist.in"
store_config
PORT=$(free_port)
waited() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '$1 == "aysfs_opens_waited_total" { print $2 }'; }

cat >"$T/sup" <<SH
#!/bin/sh
ulimit -n 512
exec setpriv --bounding-set -sys_resource -- "$SUPERVISOR" "\$@"
SH
chmod +x "$T/sup"
SUPERVISOR=$T/sup       # 192 idle fds, for 600 files
mount_start "$T/mnt" -config "$T/config.toml" -pprof-addr "127.0.0.1:$PORT" || bail "no mount"
tar -C "$T/mnt" -cf "$T/cold.tar" .
ok_cmd "a first tar reads every file right" diff -r "$S" "$T/mnt"
h0=$(waited)
tar -C "$T/mnt" -cf "$T/warm.tar" .
h1=$(waited)
ok_cmd "a warm tar reads every file right" cmp -s "$T/cold.tar" "$T/warm.tar"
ok_cmd "the fuser counts the opens that waited (/metrics)" test -n "$h0" -a -n "$h1"
ok $([ $((h1 - h0)) -le 150 ]; echo $?) "most warm opens find their fd already in the fuser ($((h1 - h0)) of 600 waited for the indexer)"
mount_stop
is "$STOP_STATUS" 0 "the supervisor stops cleanly"
done_testing
