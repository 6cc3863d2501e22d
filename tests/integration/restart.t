#!/usr/bin/env bash
# A dead fetcher is restarted within a second and the mount keeps serving; a worker that keeps
# dying stops the mount cleanly with exit 3. A dead indexer is restarted with a new fetcher; a dead
# fuser's successor takes the mount over (a file open across its death keeps reading); a fuser that
# keeps dying stops the mount cleanly: never a dead mountpoint left behind.
. "$(dirname "$0")/lib.sh"
t_setup

mkdir -p "$T/src" "$T/store"
random_file "$T/src/f" 50000
h=$(put_blob "$T/store" "$T/src/f")
printf '/f|%s|50000\n/g|%s|50000\n' "$h" "$h" | write_flist "$T/flists/s.flist"
store_config

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
old=$(worker_pid fetcher)
kill -KILL "$old"
new=
for _ in $(seq 30); do
	new=$(worker_pid fetcher)
	[ -n "$new" ] && [ "$new" != "$old" ] && break
	sleep 0.05
done
ok $([ -n "$new" ] && [ "$new" != "$old" ]; echo $?) "a killed fetcher is replaced within 1.5 s"
like "$(cat "$T/log")" "the fetcher was killed by signal 9 .*restarting it in 100 ms" "the death is logged with its cause"
like "$(cat "$T/log")" "the fetcher is restarted \(pid $new\)" "and the restart"
is "$(sha256sum <"$T/mnt/f")" "$(sha256sum <"$T/src/f")" "the mount keeps serving"
ok_cmd "the new fetcher runs as its own user" test "$(stat -c %U /proc/$new)" != root

# Five deaths within a minute: a crash loop. The supervisor stops, unmounts, exits 3.
for i in 1 2 3 4; do
	p=$(worker_pid fetcher)
	for _ in $(seq 40); do [ -n "$p" ] && break; sleep 0.05; p=$(worker_pid fetcher); done
	kill -KILL "$p" 2>/dev/null
	sleep 0.1
done
for _ in $(seq 100); do kill -0 "$SUP_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SUP_PID"; st=$?; SUP_PID=
is "$st" 3 "a crash loop (5 deaths within 60 s) exits 3"
like "$(cat "$T/log")" "its 5th death within 60 s: stopping" "and says why"
is_mounted "$T/mnt"; ok $((! $?)) "no mount is left behind"

# A dead indexer is restarted with a new fetcher; the fuser keeps its tree and asks the new
# indexer for what it needs; a read that starts while it is down waits and then succeeds.
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
ino=$(stat -c %i "$T/mnt/g")
oldi=$(worker_pid indexer)
kill -STOP "$oldi"
(sha256sum <"$T/mnt/g" >"$T/sum.g") &
reader=$!
sleep 0.3
kill -KILL "$oldi"
newi=
for _ in $(seq 30); do
	newi=$(worker_pid indexer)
	[ -n "$newi" ] && [ "$newi" != "$oldi" ] && break
	sleep 0.05
done
ok $([ -n "$newi" ] && [ "$newi" != "$oldi" ]; echo $?) "a killed indexer is replaced"
wait "$reader"
is "$(cat "$T/sum.g")" "$(sha256sum <"$T/src/f")" "an open waiting on the dead indexer is answered by the new one"
is "$(stat -c %i "$T/mnt/g")" "$ino" "the tree and its inode numbers are unchanged"
ok_cmd "a new fetcher came with it" test -n "$(worker_pid fetcher)"
like "$(cat "$T/log")" "the indexer is restarted \(pid $newi\), with a new fetcher" "the restart is logged"
# The new indexer took the fuser's tree as its base: a reload still keeps inode numbers (/h comes
# first, so numbering from scratch would move /g).
printf '/h|%s|50000\n/f|%s|50000\n/g|%s|50000\n' "$h" "$h" "$h" | write_flist "$T/flists/s.flist"
kill -HUP "$SUP_PID"
for _ in $(seq 100); do grep -q "fuser: serving 4 entries" "$T/log" && break; sleep 0.05; done
ok_cmd "a reload after the restart serves the new tree" test -e "$T/mnt/h"
is "$(stat -c %i "$T/mnt/g")" "$ino" "and unchanged paths keep their inode numbers"
mount_stop
is "$STOP_STATUS" 0 "and the mount still stops cleanly"

# A dead fuser: its successor takes the same mount over, so a file open across the death keeps
# reading and a working folder inside the mount stays valid.
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
exec 7<"$T/mnt/f"
head -c 1000 <&7 >/dev/null
cd "$T/mnt"
oldf=$(worker_pid fuser)
kill -KILL "$oldf"
ok_cmd "after the fuser's death a relative path in the mount still works" test -f g
cd /
is "$(cat <&7 | wc -c)" 49000 "a file open across the fuser's death reads to its end"
exec 7<&-
newf=$(worker_pid fuser)
ok $([ -n "$newf" ] && [ "$newf" != "$oldf" ]; echo $?) "a new fuser serves"
like "$(cat "$T/log")" "the fuser is restarted \(pid $newf\), taking the mount over" "and took the mount over"
# Five deaths within a minute: the mount stops with 3 and is removed.
for i in 1 2 3 4; do
	p=$(worker_pid fuser)
	for _ in $(seq 40); do [ -n "$p" ] && [ "$p" != "$oldf" ] && break; sleep 0.05; p=$(worker_pid fuser); done
	oldf=$p
	kill -KILL "$p" 2>/dev/null
	sleep 0.1
done
for _ in $(seq 100); do kill -0 "$SUP_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SUP_PID"; st=$?; SUP_PID=
is "$st" 3 "a fuser that keeps dying stops the mount with exit 3"
is_mounted "$T/mnt"; ok $((! $?)) "and unmounts"
done_testing
