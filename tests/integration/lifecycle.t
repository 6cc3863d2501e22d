#!/usr/bin/env bash
# Start and stop: exit statuses of SPEC section 1, errors naming file:line:column, and no mount
# left behind by SIGTERM or SIGINT, busy or not.
. "$(dirname "$0")/lib.sh"
t_setup

mkdir -p "$T/mnt"
printf '[main]\nid = "n1"\nprefix = 5\n' >"$T/badtype.toml"
printf '[main]\nid = "n1\n' >"$T/syntax.toml"
out=$("$SUPERVISOR" -config "$T/syntax.toml" "$T/mnt" 2>&1); st=$?
is "$st" 1 "a config syntax error exits 1"
like "$out" "$T/syntax.toml:2:[0-9]+: " "and names file:line:column"
out=$("$SUPERVISOR" --config "$T/badtype.toml" "$T/mnt" 2>&1); st=$?
is "$st" 1 "a wrong type exits 1 (--config spelling)"
like "$out" "$T/badtype.toml:3:10: " "and names file:line:column"
out=$("$SUPERVISOR" -config "$TOP/examples/config.toml" "$T/no-such-dir" 2>&1); st=$?
is "$st" 2 "examples/config.toml loads (only the missing mountpoint stops it)"
out=$("$SUPERVISOR" -config "$T/none.toml" "$T/mnt" 2>&1); st=$?
is "$st" 1 "a missing config file exits 1"
out=$("$SUPERVISOR" -bogus "$T/mnt" 2>&1); st=$?
is "$st" 1 "an unknown option exits 1"
like "$out" "^aysfs-supervisor: ERROR: unknown option -bogus" "and says which, as program: LEVEL: message"
out=$("$SUPERVISOR" -l 9 "$T/mnt" 2>&1); st=$?
is "$st" 1 "a bad log level exits 1"
like "$("$SUPERVISOR" -v)" '^aysfs [0-9]' "-v prints the version"
like "$("$SUPERVISOR" --help)" 'usage: aysfs-supervisor' "--help prints usage"
like "$("$AYSFS_BUILD/aysfs" -v)" '^aysfs [0-9]' "aysfs is the supervisor's second name"

printf '/x|8a3e5e03a10ecc3601a1f14fbc371019|1\n' | write_flist "$T/flists/s.flist"
printf '[main]\nprefix = "/"\nflist_dir = "%s"\ncache_dir = "%s"\n' "$T/flists" "$T/cache" >"$T/config.toml"
out=$("$SUPERVISOR" -config "$T/config.toml" "$T/no-such-dir" 2>&1); st=$?
is "$st" 2 "a missing mountpoint exits 2"
like "$out" "no-such-dir" "and names it"

# systemd readiness: a datagram socket stands in for systemd's.
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(20)
print(s.recv(4096).decode().replace("\n", " "), flush=True)
' "$T/notify" >"$T/notified" &
notifier=$!
for _ in $(seq 50); do [ -S "$T/notify" ] && break; sleep 0.1; done
export NOTIFY_SOCKET=$T/notify
mount_start "$T/mnt" -c "$T/config.toml" -pidfile "$T/pid" || bail "mount failed"
unset NOTIFY_SOCKET
wait "$notifier"
like "$(cat "$T/notified")" "^READY=1 STATUS=serving $T/mnt MAINPID=$SUP_PID" "readiness is reported to NOTIFY_SOCKET once the tree is served"
is "$(cat "$T/pid" 2>/dev/null)" "$SUP_PID" "-pidfile holds the supervisor's pid"
for role in fuser indexer fetcher; do
	pid=$(worker_pid $role)
	ok $([ -n "$pid" ] && [ "$(stat -c %u /proc/$pid)" != 0 ]; echo $?) "the $role runs, not as root"
done
is "$(tr '\0' '\n' </proc/$(worker_pid indexer)/environ | wc -l)" 0 "a worker's environment is empty"
pids="$(worker_pid fuser) $(worker_pid indexer) $(worker_pid fetcher)"
mount_stop
is "$STOP_STATUS" 0 "SIGTERM: exit 0"
is_mounted "$T/mnt"; ok $((! $?)) "SIGTERM: unmounted"
ok_cmd "the pid file is removed" test ! -e "$T/pid"
left=0
for p in $pids; do kill -0 "$p" 2>/dev/null && left=$((left + 1)); done
is "$left" 0 "no worker is left"

# Busy: a process has its cwd in the mount and a file open; the stop is lazy and still clean.
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
( cd "$T/mnt" && exec sleep 30 ) &
busy=$!
sleep 0.3
kill -INT "$SUP_PID"
wait "$SUP_PID"; st=$?
SUP_PID=
is "$st" 0 "SIGINT while busy: exit 0"
is_mounted "$T/mnt"; ok $((! $?)) "the busy mount is detached"
like "$(cat "$T/log")" "busy; detaching" "the log says it was detached lazily"
kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null

# A stale mount left by a crash is cleared before mounting.
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
kill -KILL "$SUP_PID" $(pgrep -P "$SUP_PID"); wait "$SUP_PID" 2>/dev/null; SUP_PID=
sleep 0.2
ls "$T/mnt" >/dev/null 2>&1; ok $((! $?)) "after kill -9 the mount is dead"
mount_start "$T/mnt" -config "$T/config.toml" || bail "remount failed"
ok_cmd "a new supervisor clears the stale mount and serves" test -f "$T/mnt/x"
like "$(cat "$T/log")" "clearing a stale mount" "and says so"
mount_stop

# Root writes nothing through a symlink someone put in its way: a -pidfile that is a symlink is not
# followed (the file it points to keeps its bytes).
echo "keep" >"$T/victim"
ln -s "$T/victim" "$T/pid-link"
mount_start "$T/mnt" -config "$T/config.toml" -pidfile "$T/pid-link" || bail "mount failed"
is "$(cat "$T/victim")" "keep" "a -pidfile that is a symlink is not written through"
like "$(cat "$T/log")" "cannot write pid file $T/pid-link" "and the log says so"
mount_stop
rm -f "$T/pid-link"
done_testing
