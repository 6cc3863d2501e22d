#!/usr/bin/env bash
# What the fuser tells the indexer is never lost to a full channel (a socketpair holds about 278
# small messages unread). The indexer is stopped, as a slow one would be, while:
# - the fuser gives back the pins of 600 idle fds (MSG_BLOB_CLOSED): a pin lost is a blob the
#   cache never evicts again, so the cache can no longer keep its limit;
# - a warm walk reopens those files (MSG_BLOB_HELD), with nothing to wait for;
# - 400 programs open 400 files not cached yet at once (MSG_OPEN): each must wait, not fail.
# Then the indexer is killed: the one that follows is told of every fd still held.
. "$(dirname "$0")/lib.sh"
t_setup

S=$T/src
: >"$T/flist.in"
many_files "$S" 100 100 d0 d1 d2 d3 d4 d5
many_files "$S" 400 100 cold
write_flist "$T/flists/svc.flist" <"$T/flist.in"
store_config
CTL=$AYSFS_BUILD/aysfs-ctl
pinned() { "$CTL" "$T/mnt" cache | awk '$1 == "open" { print $2 }'; }
# wait_unpinned N: up to N seconds for the indexer to count no pin at all; prints the last count.
wait_unpinned() {
	local i p
	for i in $(seq "$1"); do
		p=$(pinned)
		[ "$p" = 0 ] && break
		sleep 1
	done
	echo "$p"
}

mount_start "$T/mnt" -config "$T/config.toml" || bail "no mount"
walk() { cat "$T"/mnt/d*/f* | cmp -s - <(cat "$S"/d*/f*); }
walk
ok $? "a first walk reads every file right"
is "$(wait_unpinned 15)" 0 "the idle fds give their pins back (IDLE_UNPIN_MS)"
idx=$(worker_pid indexer)

walk
ok $? "a warm walk reads every file right"
kill -STOP "$idx"
sleep 12                # past IDLE_UNPIN_MS: the fuser gives the walk's 600 pins back now
kill -CONT "$idx"
is "$(wait_unpinned 15)" 0 "every pin given back while the indexer was stopped reaches it"

kill -STOP "$idx"
walk
ok $? "a warm walk with the indexer stopped reads every file right (the fds are held)"
kill -CONT "$idx"
is "$(wait_unpinned 20)" 0 "every pin of that walk is given back once the indexer reads again"

kill -STOP "$idx"
mkdir -p "$T/out"
cats=()
for f in $(seq -w 0 399); do
	cat "$T/mnt/cold/f$f" >"$T/out/f$f" 2>"$T/out/f$f.err" &
	cats+=($!)
done
sleep 2
kill -CONT "$idx"
wait "${cats[@]}"
ok_cmd "400 opens at once while the indexer was stopped all waited, none failed" diff -r "$S/cold" "$T/out" -x '*.err'
is "$(cat "$T"/out/*.err)" "" "and no program saw an error"
is "$(worker_pid indexer)" "$idx" "the indexer was not restarted meanwhile"

# A restarted indexer knows nothing of the fds the fuser holds: the fuser tells it, so that it
# pins them as the dead one did (else it could evict them, and their MSG_BLOB_CLOSED would take
# away pins of its own).
is "$(wait_unpinned 20)" 0 "the cold files' pins are given back too"
walk
held=$(pinned)
ok_cmd "a warm walk pins its files again ($held)" test "${held:-0}" -gt 0
kill -KILL "$idx"
for _ in $(seq 100); do
	new=$(worker_pid indexer)
	[ -n "$new" ] && [ "$new" != "$idx" ] && "$CTL" "$T/mnt" cache >/dev/null 2>&1 && break
	sleep 0.1
done
for _ in $(seq 30); do [ "$(pinned)" = "$held" ] && break; sleep 0.1; done
is "$(pinned)" "$held" "the restarted indexer counts the pins of every fd held"
is "$(wait_unpinned 20)" 0 "and each comes back to it once idle long enough"

mount_stop
is "$STOP_STATUS" 0 "the supervisor stops cleanly"
done_testing
