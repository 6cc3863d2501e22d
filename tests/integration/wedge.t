#!/usr/bin/env bash
# Root never waits on a worker: with the indexer stopped (it reads nothing), reloads and 1,000
# `aysfs-ctl status` calls fill its channel; the supervisor kills the worker that does not
# drain instead of blocking on it, and SIGTERM still unmounts within 2 s (with the indexer stopped).
# Nor on its own stderr, which carries every worker's lines: with nothing reading it, a worker
# that floods its stderr does not keep SIGTERM from unmounting; the lines dropped are counted.
. "$(dirname "$0")/lib.sh"
t_setup
CTL=$AYSFS_BUILD/aysfs-ctl

mkdir -p "$T/src" "$T/store"
random_file "$T/src/a" 5000
h=$(put_blob "$T/store" "$T/src/a")
printf '/a|%s|5000\n' "$h" | write_flist "$T/flists/s.flist"
store_config

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
idx=$(worker_pid indexer)
kill -STOP "$idx"
# One reload at a time (each queues a MSG_CONF for the indexer), until root gives up on it.
for i in $(seq 600); do
	kill -HUP "$SUP_PID"
	for _ in $(seq 50); do
		[ "$(grep -c 'reloading on Hangup' "$T/log")" -ge "$i" ] && break
		sleep 0.01
	done
	grep -q 'does not read its channel' "$T/log" && break
done
kill -STOP "$(worker_pid indexer)" 2>/dev/null     # the one restarted after the kill, if any
for wave in $(seq 10); do
	pids=()
	for _ in $(seq 100); do timeout 1 "$CTL" "$T/mnt" status >/dev/null 2>&1 & pids+=($!); done
	wait "${pids[@]}"
done
like "$(timeout 12 "$CTL" "$T/mnt" status 2>&1)" "supervisor: pid $SUP_PID" "the supervisor still answers aysfs-ctl"
like "$(cat "$T/log")" "the indexer does not read its channel; killed" "the worker that does not drain is killed, not waited for"
# SIGTERM while the indexer is stopped still.
kill -STOP "$(worker_pid indexer)" 2>/dev/null
t0=$(date +%s%N)
kill -TERM "$SUP_PID"
for _ in $(seq 100); do findmnt -n "$T/mnt" >/dev/null || break; sleep 0.02; done
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$idx" 2>/dev/null
pkill -CONT -f "aysfs-indexer" 2>/dev/null
ok $((ms < 2000 ? 0 : 1)) "SIGTERM unmounts within 2 s ($ms ms)"
wait "$SUP_PID"; st=$?
SUP_PID=
is "$st" 0 "the supervisor exits 0 (a stopped worker is killed after 2 s of grace)"

# ---- root's stderr full (its reader stopped), a worker flooding its own (the hook, SIGPROF) ----
HOOKS=$AYSFS_BUILD/hooks
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/log2" &
reader=$!
mkdir -p "$T/mnt2"
_mounts+=("$T/mnt2")
JOURNAL_STREAM=$(stat -c %d:%i "$T/log2") "$HOOKS/aysfs-supervisor" -config "$T/config.toml" \
	"$T/mnt2" 2>"$T/fifo" &
SUP_PID=$!
for _ in $(seq 200); do grep -q "serving $T/mnt2" "$T/log2" && break; sleep 0.1; done
ok_cmd "a supervisor with its stderr on a pipe serves" grep -q "serving $T/mnt2" "$T/log2"
kill -STOP "$reader"
for _ in 1 2 3; do kill -PROF "$(worker_pid fetcher)"; sleep 0.3; done
t0=$(date +%s%N)
kill -TERM "$SUP_PID"
for _ in $(seq 100); do findmnt -n "$T/mnt2" >/dev/null || break; sleep 0.02; done
ms=$((($(date +%s%N) - t0) / 1000000))
ok $((ms < 2000 ? 0 : 1)) "with its stderr full and a worker flooding its own, SIGTERM unmounts within 2 s ($ms ms)"
kill -CONT "$reader"
for _ in $(seq 100); do kill -0 "$SUP_PID" 2>/dev/null || break; sleep 0.05; done
wait "$SUP_PID"; st=$?
SUP_PID=
is "$st" 0 "and it exits 0"
wait "$reader"
like "$(cat "$T/log2")" "WARN supervisor: [0-9]+ lines dropped: stderr was full" "the lines dropped are counted"
like "$(cat "$T/log2")" "INFO fetcher: a worker floods its stderr" "the flood was relayed until then"
done_testing
