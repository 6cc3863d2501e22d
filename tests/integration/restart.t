#!/usr/bin/env bash
# A dead fetcher is restarted within a second and the mount keeps serving; a fetcher that keeps
# dying is restarted with a back-off while the cache is served (the mount stays up); an indexer or a
# fuser that keeps dying stops the mount cleanly with exit 3. A dead indexer is restarted with a new
# fetcher; a dead fuser's successor takes the mount over (a file open across its death keeps
# reading): never a dead mountpoint left behind.
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

mount_stop

# A fetcher that keeps dying (whatever crashes it may come from the network) does not take the
# tree down: the supervisor restarts it with a back-off of 1 s, doubling, while the cache is
# served; network layers are out of reach meanwhile; once it runs again, cold opens work.
P_HTTP=$(free_port)
mkdir -p "$T/www"
for f in n1 n2 n3; do random_file "$T/src/$f" 20000; eval "h_$f=$(put_blob "$T/www" "$T/src/$f")"; done
chmod -R a+rX "$T/www"
nginx_start "server { listen 127.0.0.1:$P_HTTP; root $T/www; }"
printf '/n1|%s|20000\n/n2|%s|20000\n/n3|%s|20000\n' "$h_n1" "$h_n2" "$h_n3" |
	write_flist "$T/flists-net/n.flist"
printf '[main]\nprefix = "/"\nflist_dir = "%s"\ncache_dir = "%s"\n[[store]]\nurl = "%s"\n' \
	"$T/flists-net" "$T/cache-net" "http://127.0.0.1:$P_HTTP" >"$T/net.toml"
mount_start "$T/mnt" -config "$T/net.toml" || bail "mount failed"
ok_cmd "a file read over http" cmp -s "$T/mnt/n1" "$T/src/n1"
killed=0 last=
for i in 1 2 3 4 5 6; do
	p=
	for _ in $(seq 100); do
		p=$(worker_pid fetcher)
		[ -n "$p" ] && [ "$p" != "$last" ] && break
		sleep 0.05
	done
	[ -n "$p" ] && [ "$p" != "$last" ] && kill -KILL "$p" 2>/dev/null && killed=$((killed + 1))
	last=$p
done
is "$killed" 6 "the fetcher was killed six times within seconds"
sleep 0.2
ok_cmd "the supervisor keeps running" kill -0 "$SUP_PID"
ok_cmd "the mount stays up" is_mounted "$T/mnt"
ok_cmd "a cached file reads" cmp -s "$T/mnt/n1" "$T/src/n1"
like "$("$AYSFS_BUILD/aysfs-ctl" "$T/mnt" status 2>&1)" \
	"fetcher +backing off after repeated crashes, restart in [0-9]+ s" \
	"aysfs-ctl status says the fetcher is backing off"
like "$(cat "$T/log")" \
	"the fetcher was killed by signal 9.*, 6 deaths in its crash loop: the cache is served.*restarting it in 2 s" \
	"the log says so, with the back-off"
is "$(grep -c 'its 5th death within 60 s: stopping' "$T/log")" 0 "no crash-loop stop for the fetcher"
back=
for _ in $(seq 100); do
	back=$(worker_pid fetcher)
	[ -n "$back" ] && [ "$back" != "$last" ] && break
	sleep 0.1
done
ok $([ -n "$back" ] && [ "$back" != "$last" ]; echo $?) "the fetcher is started again after its back-off"
ok_cmd "then a cold open works again" timeout 20 cmp -s "$T/mnt/n2" "$T/src/n2"
mount_stop
is "$STOP_STATUS" 0 "and the mount stops cleanly"
nginx_stop

# An indexer that dies five times within a minute: a crash loop. The supervisor stops, unmounts,
# exits 3.
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
last=
for i in 1 2 3 4 5; do
	p=
	for _ in $(seq 60); do
		p=$(worker_pid indexer)
		[ -n "$p" ] && [ "$p" != "$last" ] && break
		sleep 0.05
	done
	kill -KILL "$p" 2>/dev/null
	last=$p
done
for _ in $(seq 100); do kill -0 "$SUP_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SUP_PID"; st=$?; SUP_PID=
is "$st" 3 "a crash loop of the indexer (5 deaths within 60 s) exits 3"
like "$(cat "$T/log")" "the indexer .*its 5th death within 60 s: stopping" "and says why"
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
