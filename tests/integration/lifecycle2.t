#!/usr/bin/env bash
# Faults and control, with readers running: kill -9 of the fetcher, the indexer and the fuser while
# readers check the SHA-256 of files (cached and not) in a tight loop: no reader sees an error or a
# wrong byte, and the mount serves again within a second each time (the fuser's successor takes the
# mount over). aysfs-ctl: status counts the restarts, reload works, a non-root caller is refused.
# Reloads without a signal: an edited config file, a new flist in flist_dir; a broken config keeps
# the tree. A stale mount and a stale control socket are cleared; SIGTERM while busy exits 0.
. "$(dirname "$0")/lib.sh"
t_setup
CTL=$AYSFS_BUILD/aysfs-ctl

l2_cleanup() {
	[ -n "${T:-}" ] && touch "$T/stop"
	_cleanup
}
trap l2_cleanup EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---- a store over HTTP (the fetcher matters), 24 files, and one file per kill never read before --
W=$T/www
mkdir -p "$T/src" "$W/store" "$T/flists" "$T/nginx-tmp"
declare -A SUM
FILES=
for i in $(seq 1 24); do
	random_file "$T/src/f$i" $(( (i % 6 + 1) * 70000 ))
	FILES="$FILES f$i"
done
# Over 4 MiB: read-ahead never guesses them, so each is fetched only when the test reads it.
for r in fetcher indexer fuser; do random_file "$T/src/fresh_$r" 5000000; FILES_FRESH="${FILES_FRESH:-} fresh_$r"; done
random_file "$T/src/big" 30000000
for f in $FILES $FILES_FRESH big; do
	h=$(put_blob "$W/store" "$T/src/$f")
	echo "/$f|$h|$(stat -c %s "$T/src/$f")" >>"$T/svc.flist"
	SUM[$f]=$(sha256sum <"$T/src/$f" | cut -c1-64)
done
write_flist "$T/flists/svc.flist" <"$T/svc.flist"
chmod -R a+rX "$W"
PORT=$(free_port)
nginx_start "server { listen 127.0.0.1:$PORT; root $W; }"

write_conf() {
	cat >"$T/config.toml" <<EOF2
[main]
prefix = "/"
flist_dir = "$1"
cache_dir = "$T/cache"
[[store]]
url = "http://127.0.0.1:$PORT/store"
EOF2
}
write_conf "$T/flists"
M=$T/mnt
mount_start "$M" -config "$T/config.toml" || bail "mount failed"

# ---- aysfs-ctl ---------------------------------------------------------------------------------------
out=$("$CTL" "$M" status 2>&1); st=$?
is "$st" 0 "aysfs-ctl status exits 0"
like "$out" "fuser +pid $(worker_pid fuser), restarts 0" "status shows each worker with its pid and restarts"
like "$out" "tree: generation 1, 29 entries, 1 services" "and the tree"
like "$out" "http://127.0.0.1:$PORT/store +up, hits 0, bytes 0" "and each network layer's state, hits and bytes"
like "$out" "cache $T/cache/dedupe:
    blobs 0
    bytes 0" "and the local cache"
sha256sum <"$M/f1" >/dev/null
# Read-ahead after f1 (f10, f11) is counted apart from the open's download.
like "$("$CTL" "$M" status)" "http://127.0.0.1:$PORT/store +up, hits 1, bytes 140000, read ahead [0-2] " \
	"a read counts as a hit with its bytes, read-ahead apart"
out=$("$CTL" "$M/" reload 2>&1); st=$?
is "$st" 0 "aysfs-ctl reload exits 0 (the mountpoint may end with /)"
like "$out" "^reloaded: generation 2, 29 entries from 1 services" "and says what it served"
out=$("$CTL" "$M" cache 2>&1); st=$?
is "$st" 0 "cache exits 0"
like "$out" "blobs [0-9]+
bytes [0-9]+
limit [0-9]+
hits [0-9]+" "and says what the cache holds"
out=$("$CTL" "$M" evict 2>&1); st=$?
is "$st" 1 "evict without a path is a usage error"
out=$("$CTL" "$T" status 2>&1); st=$?
is "$st" 2 "a folder no aysfs serves: exit 2"
like "$out" "no aysfs-supervisor serves $T" "and says so"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" "$M" status 2>&1); st=$?
is "$st" 2 "a non-root caller is refused (exit 2)"
like "$out" "permission denied" "by the socket's folder"
# The second lock: with the folder and socket opened to everyone, the supervisor still refuses.
sock=$(grep -o "control socket [^ ]*" "$T/log" | cut -d' ' -f3)
chmod 0755 /run/aysfs; chmod 0666 "$sock"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" "$M" status 2>&1); st=$?
chmod 0700 /run/aysfs; chmod 0600 "$sock"
is "$st" 2 "a non-root caller that reaches the socket is refused too"
like "$out" "refused: only root" "by SO_PEERCRED"
like "$(cat "$T/log")" "refused a caller with uid $(id -u nobody)" "and the refusal is logged"
out=$("$SUPERVISOR" -config "$T/config.toml" "$M" 2>&1); st=$?
is "$st" 2 "a second supervisor on the same mountpoint is refused"
like "$out" "already served by another aysfs-supervisor" "and says why"

# ---- kill -9 with readers running ------------------------------------------------------------------
echo start >"$T/phase"
reader() {
	local n=0 f got
	while [ ! -e "$T/stop" ]; do
		for f in $FILES; do
			got=$( { sha256sum <"$M/$f"; } 2>&1 )
			if [ "${got:0:64}" != "${SUM[$f]}" ]; then
				echo "$(cat "$T/phase") $1 $f: ${got:0:120}" >>"$T/errors"
			fi
			n=$((n + 1))
		done
		echo "$n" >"$T/reads.$1"
	done
}
: >"$T/errors"
reader a & ra=$!
reader b & rb=$!
sleep 1
for role in fetcher indexer fuser; do
	echo "$role" >"$T/phase"
	find "$T/cache" -type f -delete         # what the readers read next is not cached
	sleep 0.4
	old=$(worker_pid "$role")
	t0=$(ms)
	kill -KILL "$old"
	new=
	for _ in $(seq 200); do
		new=$(worker_pid "$role")
		[ -n "$new" ] && [ "$new" != "$old" ] && break
		sleep 0.01
	done
	got=$(sha256sum <"$M/fresh_$role" | cut -c1-64)
	t1=$(ms)
	is "$got" "${SUM[fresh_$role]}" "after kill -9 of the $role, a file never read before reads right"
	ok $([ $((t1 - t0)) -lt 1000 ]; echo $?) "and the mount serves again within a second ($((t1 - t0)) ms)"
	sleep 1
done
echo end >"$T/phase"
touch "$T/stop"
wait "$ra" "$rb"
for role in fetcher indexer fuser; do
	is "$(grep -c "^$role " "$T/errors")" 0 "readers saw no error and no wrong byte across the $role's death"
done
[ -s "$T/errors" ] && head -5 "$T/errors" | sed 's/^/#   /' >&2
reads=$(( $(cat "$T/reads.a") + $(cat "$T/reads.b") ))
ok $([ "$reads" -gt 200 ]; echo $?) "the readers kept reading ($reads reads)"
like "$(cat "$T/log")" "the fuser is restarted \(pid [0-9]+\), taking the mount over" "the fuser's successor took the mount over"
out=$("$CTL" "$M" status)
for role in fuser indexer; do
	like "$out" "$role +pid $(worker_pid $role), restarts 1, last exit: was killed by signal 9" "status counts the $role's restart and says how it died"
done
like "$out" "fetcher +pid $(worker_pid fetcher), restarts 1, last exit: stopped with the indexer" "and the fetcher's (it last stopped with the indexer)"
is_mounted "$M"; ok $? "the mount is still there"

# A file open across the fuser's death, most of it never read before: the successor serves the
# dead fuser's handle from the file's inode.
(
	exec 7<"$M/big"
	head -c 1000000 <&7 >/dev/null
	sleep 1
	sha256sum <&7 | cut -c1-64 >"$T/big.rest"
) &
bigr=$!
sleep 0.4
kill -KILL "$(worker_pid fuser)"
wait "$bigr"
is "$(cat "$T/big.rest")" "$(tail -c +1000001 "$T/src/big" | sha256sum | cut -c1-64)" "a handle opened before the fuser's death reads the rest of a 30 MB file right"

# An open parked in the fuser (its indexer is stopped) when the fuser dies: the kernel sends it
# again to the successor (FUSE_NOTIFY_RESEND), which answers it once the indexer runs again.
find "$T/cache" -type f -delete
idx=$(worker_pid indexer)
kill -STOP "$idx"
( sha256sum <"$M/f5" | cut -c1-64 >"$T/parked" ) &
parked=$!
sleep 0.3
kill -KILL "$(worker_pid fuser)"
sleep 0.3
kill -CONT "$idx"
for _ in $(seq 100); do kill -0 "$parked" 2>/dev/null || break; sleep 0.1; done
kill -0 "$parked" 2>/dev/null && { kill "$parked"; echo "# the parked open never returned"; }
wait "$parked" 2>/dev/null
is "$(cat "$T/parked" 2>/dev/null)" "${SUM[f5]}" "an open parked in the dead fuser is sent again to its successor and answered"

# Both the indexer and the fuser at once: the tree being served is lost with them, so the new
# fuser gets a fresh mount (never renumbered inodes under the old one), and the mount serves.
t0=$(ms)
kill -KILL "$(worker_pid indexer)" "$(worker_pid fuser)"
for _ in $(seq 100); do grep -q "the fuser is restarted (pid [0-9]*), on a fresh mount" "$T/log" && break; sleep 0.02; done
got=$(sha256sum <"$M/f3" 2>/dev/null | cut -c1-64)
t1=$(ms)
is "$got" "${SUM[f3]}" "after the indexer and the fuser die together, the mount is made again and serves ($((t1 - t0)) ms)"
like "$(cat "$T/log")" "tree's inode numbers are lost, so the mount is made again" "and the log says why"

# ---- reloads without a signal --------------------------------------------------------------------
mkdir -p "$T/flists2"
cp "$T/flists/svc.flist" "$T/flists2/svc.flist"
h=$(put_blob "$W/store" "$T/src/f1"); chmod -R a+rX "$W"
echo "/moved|$h|140000" | write_flist "$T/flists2/extra.flist"
write_conf "$T/flists2"
for _ in $(seq 50); do [ -e "$M/moved" ] && break; sleep 0.1; done
ok_cmd "an edited config file is reloaded without a signal" test -e "$M/moved"
echo "/added|$h|140000" | write_flist "$T/flists2/new.flist"
for _ in $(seq 50); do [ -e "$M/added" ] && break; sleep 0.1; done
ok_cmd "a new flist in flist_dir is mounted without a signal" test -e "$M/added"
gen=$("$CTL" "$M" status | sed -n 's/^tree: generation \([0-9]*\),.*/\1/p')
printf '[main\n' >>"$T/config.toml"
for _ in $(seq 50); do grep -q "reload: $T/config.toml:" "$T/log" && break; sleep 0.1; done
like "$(cat "$T/log")" "reload: $T/config.toml:[0-9]+:[0-9]+: .*the tree being served is kept" "a broken config is named and keeps the tree"
ok_cmd "the tree is still served" test -e "$M/added"
out=$("$CTL" "$M" status)
like "$out" "tree: generation $gen," "the generation did not change"
like "$out" "last reload failed .*config.toml:[0-9]+:[0-9]+" "status shows the failed reload"
out=$("$CTL" "$M" reload 2>&1); st=$?
is "$st" 1 "aysfs-ctl reload of a broken config exits 1"
like "$out" "config.toml:[0-9]+:[0-9]+: " "and names file:line:column"
write_conf "$T/flists2"
for _ in $(seq 50); do "$CTL" "$M" status | grep -q "last reload failed" || break; sleep 0.1; done
out=$("$CTL" "$M" reload 2>&1); st=$?
is "$st" 0 "a repaired config reloads"

# With [[ays]] configured, a flist given by path is watched too, and new flists in flist_dir are
# not mounted (SPEC section 6).
mkdir -p "$T/elsewhere"
echo "/one|$h|140000" | write_flist "$T/elsewhere/x.flist"
write_conf "$T/flists2"
printf '[[ays]]\nid = "x"\nflist = "%s"\n' "$T/elsewhere/x.flist" >>"$T/config.toml"
for _ in $(seq 50); do [ -e "$M/one" ] && [ ! -e "$M/added" ] && break; sleep 0.1; done
ok_cmd "with [[ays]], the configured service alone is mounted" test -e "$M/one" -a ! -e "$M/added"
printf '/one|%s|140000\n/two|%s|140000\n' "$h" "$h" | write_flist "$T/elsewhere/x.flist"
for _ in $(seq 50); do [ -e "$M/two" ] && break; sleep 0.1; done
ok_cmd "a change of a flist given by path reloads without a signal" test -e "$M/two"
echo "/three|$h|140000" | write_flist "$T/flists2/three.flist"
"$CTL" "$M" reload >/dev/null
ok_cmd "with [[ays]], a new flist in flist_dir is not mounted" test ! -e "$M/three"

# ---- a stale mount and a stale socket after kill -9 of everything ---------------------------------
kill -KILL "$SUP_PID" $(pgrep -P "$SUP_PID"); wait "$SUP_PID" 2>/dev/null; SUP_PID=
sleep 0.2
ok_cmd "after kill -9 the control socket is left behind" test -S "$sock"
mount_start "$M" -config "$T/config.toml" || bail "remount failed"
like "$(cat "$T/log")" "clearing a stale mount" "a new supervisor clears the stale mount"
like "$(cat "$T/log")" "removed the stale control socket" "and the stale socket"
is "$("$CTL" "$M" status >/dev/null 2>&1; echo $?)" 0 "and answers aysfs-ctl"

# ---- SIGTERM while busy -------------------------------------------------------------------------------
pids="$(worker_pid fuser) $(worker_pid indexer) $(worker_pid fetcher)"
( cd "$M" && exec 5<"$M/one" && exec sleep 30 ) &
busy=$!
sleep 0.3
ok_cmd "a file of the mount is held open, and a shell's cwd is in it" kill -0 "$busy"
mount_stop
is "$STOP_STATUS" 0 "SIGTERM with a file open and a cwd in the mount: exit 0"
is_mounted "$M"; ok $((! $?)) "the mount is detached"
left=0
for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
is "$left" 0 "no worker is left"
ok_cmd "the control socket is removed" test ! -e "$sock"
kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null
done_testing
