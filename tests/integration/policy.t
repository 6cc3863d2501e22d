#!/usr/bin/env bash
# The lock-down (docs/SECURITY.md), checked on real processes:
# - each role's seccomp allow-list refuses what it must: try-syscall loads the workers' own filter in
#   a child and makes one call (and, without a filter, shows that every call works);
# - on a running mount: every worker runs as a user, with no capability, no_new_privs and a
#   seccomp filter; the supervisor keeps exactly its five capabilities; the fetcher holds no path;
# - the test copies of the programs (build/VARIANT/hooks, -DAYSFS_TEST_HOOKS) misbehave on a signal:
#   a fetcher or indexer that makes a refused call dies of SIGSYS, the log names the call, it is
#   restarted and the mount serves new reads; one that sends garbage to the supervisor is killed
#   and restarted the same way; so is a fuser that makes a refused call (a takeover of the mount);
# - the indexer cannot read a flist outside the folders of its configuration (Landlock); a reload
#   that names new folders gets a new indexer with new rules;
# - what `make install` installs carries no test hook.
. "$(dirname "$0")/lib.sh"
t_setup

HOOKS=$AYSFS_BUILD/hooks
TRY=$AYSFS_BUILD/tests/try-syscall
[ -x "$HOOKS/aysfs-supervisor" ] && [ -x "$TRY" ] || bail "no test programs in $AYSFS_BUILD: make tests"

# ---- the allow-lists, call by call ---------------------------------------------------------------
CALLS="socket-inet socket-inet6 socket-unix socket-netlink open-read open-write execve ptrace mmap-exec
mprotect-exec fork thread kill setuid unshare bpf memfd prctl sigsys x32 fcntl-getfl fcntl-setown
fcntl-setsig ioprio-self ioprio-other setpriority-self setpriority-other setsockopt-nodelay
setsockopt-other mount-bind"
# What every role must refuse, then what tells the roles apart. fcntl's F_SETOWN and F_SETSIG would
# let a worker signal another process of its user (the fuser and the indexer share one); no role may
# change another process' priority, nor set a socket option other than libcurl's and c-ares'.
refused_by_all="socket-unix socket-netlink execve ptrace mmap-exec mprotect-exec fork kill setuid
unshare bpf sigsys x32 fcntl-setown fcntl-setsig ioprio-other setpriority-other setsockopt-other
mount-bind"
relaxed=no
"$TRY" -relaxed && relaxed=yes
[ $relaxed = yes ] && diag "sanitizer build: its lists add read-only opens and prctl (docs/SECURITY.md)"

expect() {      # expect ROLE CALL: what try-syscall must print for it
	local role=$1 call=$2 c
	# aysfs-debug: a Redis server's Unix socket (SPEC §7) is the one AF_UNIX socket of any role.
	[ "$role:$call" = debug:socket-unix ] && { echo ok; return; }
	# Root, once mounted: it signals its workers and reads the configuration again.
	case $role:$call in supervisor:kill | supervisor:open-read) echo ok; return ;; esac
	for c in $refused_by_all; do [ "$c" = "$call" ] && { echo killed; return; }; done
	case $role:$call in
	fetcher:socket-inet | fetcher:socket-inet6 | fetcher:setsockopt-nodelay) echo ok ;;
	debug:socket-inet | debug:socket-inet6 | debug:setsockopt-nodelay | debug:memfd) echo ok ;;
	*:fcntl-getfl) echo ok ;;
	indexer:ioprio-self | indexer:setpriority-self) echo ok ;;     # the prefetch threads
	indexer:open-read | indexer:open-write | indexer:memfd) echo ok ;;
	indexer:thread) echo ok ;;      # aysfs-ctl requests run on threads of their own
	*:open-read | *:prctl) [ $relaxed = yes ] && echo ok || echo killed ;;
	*) echo killed ;;
	esac
}

# shellcheck disable=SC2086
got=$("$TRY" none $CALLS 2>/dev/null | tr '\n' ' ')
# bpf with no attributes is EINVAL; x32 is ENOSYS on a kernel built without that ABI.
x32=$("$TRY" none x32 2>/dev/null)
[ "$x32" = "none x32 errno:ENOSYS" ] && x32=errno:ENOSYS || x32=ok
want=$(for c in $CALLS; do
	case $c in
	bpf) echo "none $c errno:EINVAL" ;; x32) echo "none $c $x32" ;;
	mount-bind) echo "none $c errno:ENOENT" ;; *) echo "none $c ok" ;;
	esac
done | tr '\n' ' ')
is "$got" "$want" "without a filter every call runs (the control)"
for role in fuser indexer fetcher config debug fuser-debug supervisor; do
	# shellcheck disable=SC2086
	got=$("$TRY" $role $CALLS 2>"$T/try.$role" | tr '\n' ' ')
	want=$(for c in $CALLS; do echo "$role $c $(expect $role $c)"; done | tr '\n' ' ')
	is "$got" "$want" "the $role's allow-list: exactly the expected calls are killed"
done
like "$(cat "$T/try.fetcher")" "CRIT fetcher: system call socket \(41\) is not in the seccomp allow-list" \
	"the dying worker names the refused call on stderr"

# ---- a mount made by the test copies, with an HTTP store -----------------------------------------
PORT=$(free_port)
W=$T/www
mkdir -p "$T/src" "$W" "$T/nginx-tmp" "$T/elsewhere"
: >"$T/flist.txt"
# Over 4 MiB: read-ahead never guesses them, so a file read first after a restart goes through
# the new worker.
for f in a b c d e f g; do
	random_file "$T/src/$f" $((4194305 + RANDOM))
	h=$(put_blob "$W" "$T/src/$f")
	echo "/$f|$h|$(stat -c %s "$T/src/$f")" >>"$T/flist.txt"
done
write_flist "$T/flists/svc.flist" <"$T/flist.txt"
write_flist "$T/elsewhere/other.flist" <<<"/other/x||0"
chmod -R a+rX "$W"
nginx_start "server { listen 127.0.0.1:$PORT; root $W; }"
policy_config() {
	printf '[main]\nprefix = "/"\nflist_dir = "%s"\ncache_dir = "%s"\n[[store]]\nurl = "http://127.0.0.1:%s"\n' \
		"$T/flists" "$T/cache" "$PORT" >"$T/config.toml"
	[ -n "${1:-}" ] && printf '[[ays]]\nid = "svc"\n[[ays]]\nid = "other"\nflist = "%s"\n' "$1" >>"$T/config.toml"
	true
}
policy_config

SUPERVISOR=$HOOKS/aysfs-supervisor
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
M=$T/mnt

# reads FILE…: each file reads as its source (an uncached one goes through the fetcher).
reads() {
	local f bad=0
	for f in "$@"; do cmp -s "$M/$f" "$T/src/$f" || bad=1; done
	return $bad
}
ok_cmd "a file is read through the fetcher" reads a

# ---- /proc: identities, capabilities, no_new_privs, seccomp ------------------------------------
field() { awk -v k="$2:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }
for role in fuser indexer fetcher; do
	pid=$(worker_pid $role)
	[ -n "$pid" ] || { ok 1 "the $role runs"; continue; }
	uids=$(field "$pid" Uid)
	ok $([[ $uids =~ ^[1-9][0-9]*[[:space:]]+[1-9][0-9]*[[:space:]]+[1-9][0-9]*[[:space:]]+[1-9][0-9]*$ ]]; echo $?) \
		"the $role: no uid is 0 ($uids)"
	is "$(field "$pid" CapEff)/$(field "$pid" CapPrm)/$(field "$pid" CapBnd)/$(field "$pid" CapAmb)" \
		"0000000000000000/0000000000000000/0000000000000000/0000000000000000" \
		"the $role: no capability, none in its bounding set"
	is "$(field "$pid" NoNewPrivs)" 1 "the $role: no_new_privs"
	is "$(field "$pid" Seccomp)" 2 "the $role: a seccomp filter"
done
# CAP_KILL 5, CAP_SETGID 6, CAP_SETUID 7, CAP_SETPCAP 8, CAP_SYS_ADMIN 21
is "$(field "$SUP_PID" CapEff)/$(field "$SUP_PID" CapPrm)/$(field "$SUP_PID" CapBnd)" \
	"00000000002001e0/00000000002001e0/00000000002001e0" \
	"the supervisor keeps CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID, CAP_SETPCAP and CAP_KILL only"
is "$(field "$SUP_PID" Seccomp)" 2 "the supervisor runs under a seccomp filter of its own"
# The launcher: root's child that is root's own program, not a worker (supervisor/spawn.c).
launcher=$(for p in $(pgrep -P "$SUP_PID"); do
	[ "$(readlink /proc/$p/exe)" = "$(readlink -f "$HOOKS/aysfs-supervisor")" ] && echo "$p"; done | head -1)
ok $([ -n "$launcher" ]; echo $?) "the launcher runs beside the supervisor"
is "$(field "$launcher" CapEff)/$(field "$launcher" CapBnd)" "00000000000001c0/00000000000001c0" \
	"the launcher keeps CAP_SETUID, CAP_SETGID and CAP_SETPCAP only (no CAP_SYS_ADMIN, no CAP_KILL)"
pid=$(worker_pid fetcher)
# fds 0-2 are /dev/null and the supervisor's stderr; from 3 on, only sockets, pipes and anonymous files.
paths=$(for fd in /proc/"$pid"/fd/*; do [ "${fd##*/}" -gt 2 ] && readlink "$fd"; done | grep '^/')
is "$paths" "" "the fetcher holds no path (no file of the store or the cache)"

# ---- Landlock: the indexer reaches only the folders of its configuration -------------------------
if grep -q "Landlock is not available" "$T/log"; then
	for _ in 1 2 3 4 5; do echo "ok $((_tap_n += 1)) # skip this kernel has no Landlock (the indexer said so)"; done
else
	# [[ays]] "sneaky" is looked up as flist_dir/sneaky.flist, a symlink to a flist elsewhere:
	# the indexer's folders are the same, and it cannot read there.
	ln -s "$T/elsewhere/other.flist" "$T/flists/sneaky.flist"
	policy_config
	printf '[[ays]]\nid = "svc"\n[[ays]]\nid = "sneaky"\n' >>"$T/config.toml"
	kill -HUP "$SUP_PID"
	for _ in $(seq 100); do grep -q "sneaky" "$T/log" && break; sleep 0.1; done
	sleep 0.5
	like "$(grep sneaky "$T/log")" "Permission denied" "the indexer cannot read a flist outside its folders"
	ok_cmd "and nothing of it is mounted" test ! -e "$M/other" -a -e "$M/a"
	rm -f "$T/flists/sneaky.flist"
	# The same flist named by the configuration: the supervisor starts a new indexer with it.
	policy_config "$T/elsewhere/other.flist"
	kill -HUP "$SUP_PID"
	for _ in $(seq 100); do [ -e "$M/other" ] && break; sleep 0.1; done
	like "$(cat "$T/log")" "the indexer's folders change: it is restarted with them" \
		"a reload that names a new folder restarts the indexer with new rules"
	ok_cmd "and the flist there is mounted, the rest still read" test -e "$M/other" -a -e "$M/a"
	policy_config
	kill -HUP "$SUP_PID"
	for _ in $(seq 100); do [ ! -e "$M/other" ] && break; sleep 0.1; done
	ok_cmd "back to the first configuration" test ! -e "$M/other" -a -e "$M/a"
fi

# ---- refused calls and garbage: killed, named, restarted; the mount serves ---------------------
# new_pid ROLE OLD: waits up to 5 s for a worker of that role other than OLD; prints it.
new_pid() {
	local p
	for _ in $(seq 100); do
		p=$(worker_pid "$1")
		[ -n "$p" ] && [ "$p" != "$2" ] && [ "$(field "$p" Seccomp)" = 2 ] && { echo "$p"; return; }
		sleep 0.05
	done
}

old=$(worker_pid fetcher)
kill -USR2 "$old"
new=$(new_pid fetcher "$old")
ok_cmd "a fetcher that opens a file is restarted" test -n "$new"
like "$(cat "$T/log")" "CRIT fetcher: system call openat \(257\) is not in the seccomp allow-list" \
	"the fetcher's last line names the call"
like "$(cat "$T/log")" "ERROR supervisor: the fetcher was killed by its seccomp filter \(SIGSYS\) for system call openat \(257\); restarting" \
	"the supervisor names the call"
ok_cmd "the mount reads through the new fetcher" reads b

old=$(worker_pid indexer)
kill -USR2 "$old"
new=$(new_pid indexer "$old")
ok_cmd "an indexer that makes a socket is restarted" test -n "$new"
like "$(cat "$T/log")" "the indexer was killed by its seccomp filter \(SIGSYS\) for system call socket \(41\)" \
	"the supervisor names the indexer's call"
ok_cmd "the mount reads through the new indexer" reads c a

# misbehave ROLE SIGNAL WHO LOG FILE…: the worker's hook does what SIGNAL asks; WHO (the worker
# that did it) is killed and restarted, the supervisor's log says LOG, the mount reads FILE….
misbehave() {
	local role=$1 sig=$2 who=$3 log=$4 old new
	shift 4
	old=$(worker_pid "$role")
	kill "-$sig" "$old"
	new=$(new_pid "$role" "$old")
	ok_cmd "$who is killed and restarted" test -n "$new"
	like "$(cat "$T/log")" "$log" "the supervisor says why"
	ok_cmd "the mount reads after it" reads "$@"
}
misbehave fetcher URG "a fetcher that sends garbage to the supervisor" \
	"fetcher sent a malformed message" d

# A message out of step (a second ready, well-formed otherwise) is treated as garbage is: the
# fuser that sends it is killed, and its successor takes the mount over.
misbehave fuser WINCH "a fuser that says ready a second time" "fuser sent ready a second time: killed" e

# Root's table says who may send each message: a ready from the indexer (only the fuser and the
# debug worker send one), and a reply to a question root never relayed, kill their senders.
misbehave indexer WINCH "an indexer that says ready" \
	"indexer sent ready, which only others may send: killed" a e
misbehave fetcher TTOU "a fetcher that answers no question" \
	"fetcher sent a reply nobody asked for: killed" b

# A worker's stderr is a pipe root reads: whatever it writes, each line reaches the log under the
# name root knows it by; a worker chooses only the level (a first byte 0-5). The hook (SIGTTIN)
# writes lines in root's, the indexer's and the status worker's names, one with an escape and a
# carriage return, one with no newline at all.
old=$(worker_pid fetcher)
kill -TTIN "$old"
for _ in $(seq 50); do grep -q "forged too" "$T/log" && break; sleep 0.1; done
kill -USR2 "$old"       # its death ends the pipe: the line cut short is relayed then
new=$(new_pid fetcher "$old")
like "$(grep 'forged by a worker' "$T/log")" "WARN fetcher: NOTICE supervisor: forged by a worker" \
	"a line in root's name reaches the log as the fetcher's"
like "$(grep 'forged too' "$T/log")" "WARN fetcher: \?WARN indexer: forged too\?\$" \
	"its control characters are shown as '?', under the fetcher's name"
like "$(grep 'cut short' "$T/log")" "WARN fetcher: ERROR status: cut short" \
	"a line without a newline is relayed when the worker ends"
is "$(grep -E -c '^([0-9TZ:.-]+ )?(NOTICE supervisor: forged|WARN indexer: forged|ERROR status: cut)' "$T/log")" 0 \
	"no line of the log starts in another's name"

misbehave indexer URG "an indexer that sends garbage" "indexer sent a malformed message" e b
ok_cmd "the mount is still there" is_mounted "$M"

# A fuser killed by its filter is restarted too, and takes the same mount over.
old=$(worker_pid fuser)
kill -USR2 "$old"
new=$(new_pid fuser "$old")
ok_cmd "a fuser that opens a file is restarted" test -n "$new"
like "$(cat "$T/log")" "the fuser was killed by its seccomp filter \(SIGSYS\) for system call openat \(257\); restarting" \
	"a fuser that opens a file: the supervisor names the call"
ok_cmd "the new fuser serves the same mount" reads a c
mount_stop
is "$STOP_STATUS" 0 "the supervisor stops cleanly"
ok_cmd "no mount is left behind" test "$(is_mounted "$M"; echo $?)" = 1

# Root under its own filter: the test copy of the supervisor opens a file for writing on SIGUSR2,
# which its list refuses; it dies of SIGSYS and says which call (the dead mount is cleared by the
# next start, as after any crash).
mount_start "$M" -config "$T/config.toml" || bail "mount failed"
kill -USR2 "$SUP_PID"
wait "$SUP_PID"; st=$?
SUP_PID=
is "$st" $((128 + 31)) "a supervisor that opens a file for writing dies of SIGSYS"
like "$(cat "$T/log")" "CRIT supervisor: system call openat \(257\) is not in the seccomp allow-list" \
	"and names the call"
mount_start "$M" -config "$T/config.toml" || bail "mount failed"
ok_cmd "the next start clears the dead mount and serves" reads a
mount_stop

# ---- what make install installs has no hook -------------------------------------------------------
variant=$(basename "$AYSFS_BUILD")
make -s -C "$TOP" V="$variant" install DESTDIR="$T/inst" >"$T/make.out" 2>&1
ok $? "make install into a DESTDIR"
installed=$(find "$T/inst" -type f -perm -u+x -name 'aysfs-*' | sort)
like "$(echo $installed)" "libexec/aysfs/aysfs-fetcher .*libexec/aysfs/aysfs-fuser .*libexec/aysfs/aysfs-indexer .*sbin/aysfs-supervisor" "the programs are installed"
for f in $installed; do
	ok $(! strings "$f" | grep -q AYSFS_TEST_HOOKS && ! nm "$f" | grep -q testhook; echo $?) \
		"installed ${f#"$T/inst"}: no test hook"
done
ok $(strings "$HOOKS/aysfs-fetcher" | grep -q AYSFS_TEST_HOOKS && nm "$HOOKS/aysfs-fetcher" | grep -q testhook_install; echo $?) \
	"the test copy does have them (the check above can fail)"
done_testing
