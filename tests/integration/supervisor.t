#!/usr/bin/env bash
# Root's process survives what it does not control:
# - a reload that fails with a long message (a configuration file deep in long folder names), asked
#   by aysfs-ctl: the caller gets the whole reason, the supervisor goes on serving (its control
#   path once wrote past a 256-byte buffer);
# - a stderr whose reader has gone (a pipe to a logger that exited): the supervisor and its workers
#   log into it without dying of SIGPIPE, go on serving, reload, restart a killed worker, and
#   SIGTERM still unmounts cleanly.
. "$(dirname "$0")/lib.sh"
t_setup

CTL=$AYSFS_BUILD/aysfs-ctl
[ -x "$CTL" ] || bail "no $CTL: build first"
# alive: the supervisor runs (not a zombie waiting to be reaped).
alive() { [ -r "/proc/$SUP_PID/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$SUP_PID/status"; }
mkdir -p "$T/flists" "$T/store"
echo "hello" >"$T/hello"
h=$(put_blob "$T/store" "$T/hello")
write_flist "$T/flists/svc.flist" <<<"/hello|$h|6"
chmod -R a+rX "$T/store"

# ---- a reload that fails with a long message ----------------------------------------------------
long=$T
for i in 1 2 3 4; do long=$long/$(printf 'folder-with-a-long-name-%s-%0200d' "$i" 0); done
mkdir -p "$long"
chmod -R a+rX "$T"
CONF=$long/config.toml
store_config
cp "$T/config.toml" "$CONF"
mount_start "$T/mnt" -config "$CONF" || bail "mount failed"
M=$T/mnt
ok_cmd "a mount whose configuration file has a ${#CONF}-byte path" cmp -s "$M/hello" "$T/hello"
printf '[main\n' >>"$CONF"
out=$("$CTL" "$M" reload 2>&1); st=$?
is "$st" 1 "aysfs-ctl reload of a broken configuration exits 1"
like "$out" "folder-with-a-long-name-4-0+/config.toml:.*; the tree being served is kept$" \
	"and says why, whole, naming the file"
ok_cmd "the supervisor is alive" alive
ok_cmd "and serves" cmp -s "$M/hello" "$T/hello"
like "$("$CTL" "$M" status 2>&1)" "last reload failed" "aysfs-ctl status says the reload failed"
kill -HUP "$SUP_PID"
sleep 0.5
ok_cmd "a SIGHUP reload of it fails too, and the supervisor lives" alive
cp "$T/config.toml" "$CONF"
out=$("$CTL" "$M" reload 2>&1)
ok $? "the configuration mended, the reload succeeds"
mount_stop
is "$STOP_STATUS" 0 "the supervisor stops cleanly"

# ---- stderr into a pipe whose reader exits -----------------------------------------------------
# The reader takes lines until the tree is served, notes it, and exits: every later line of the
# supervisor and of its workers goes to a pipe with no reader.
store_config
mkfifo "$T/pipe"
(while IFS= read -r line; do
	printf '%s\n' "$line" >>"$T/log2"
	case $line in *"serving $T/mnt2"*) break ;; esac
done <"$T/pipe") &
reader=$!
mkdir -p "$T/mnt2"
_mounts+=("$T/mnt2")
"$SUPERVISOR" -config "$T/config.toml" "$T/mnt2" 2>"$T/pipe" &
SUP_PID=$!
wait "$reader"
ok $? "the log's reader saw the tree served, and exited"
M=$T/mnt2
sleep 0.2
for i in 1 2 3 4 5 6; do
	kill -HUP "$SUP_PID" 2>/dev/null
	sleep 0.3
done
ok_cmd "after 6 reloads logged into a broken pipe, the supervisor is alive" alive
ok_cmd "it is still mounted" is_mounted "$M"
ok_cmd "and serves" cmp -s "$M/hello" "$T/hello"
pids="$(worker_pid fuser) $(worker_pid indexer) $(worker_pid fetcher)"
out=$("$CTL" "$M" reload 2>&1)
ok $? "aysfs-ctl reload succeeds"
is "$(worker_pid fuser) $(worker_pid indexer) $(worker_pid fetcher)" "$pids" "no worker died of its logging"
ok $([[ $pids =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]]; echo $?) "all three run ($pids)"
old=$(worker_pid indexer)
kill -KILL "$old"
for _ in $(seq 100); do
	new=$(worker_pid indexer)
	[ -n "$new" ] && [ "$new" != "$old" ] && break
	sleep 0.05
done
sleep 0.5
ok_cmd "a killed indexer is restarted, and the supervisor lives through it" alive
ok_cmd "the mount serves after it" cmp -s "$M/hello" "$T/hello"
out=$("$CTL" "$M" status 2>&1)
ok $? "aysfs-ctl status answers"
mount_stop
is "$STOP_STATUS" 0 "SIGTERM stops the supervisor cleanly"
ok_cmd "no mount is left behind" test "$(is_mounted "$M"; echo $?)" = 1
done_testing
