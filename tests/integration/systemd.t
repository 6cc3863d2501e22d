#!/usr/bin/env bash
# The systemd units: installed by `make install` into a DESTDIR, they pass systemd-analyze verify;
# the template's exact ExecStart runs under what the unit asks for (as far as setpriv, unshare, a
# devices cgroup and tests/sd-sandbox reproduce it, with no systemd as PID 1 to start it), serves
# the tree, reloads by its exact ExecReload and stops on SIGTERM with exit 0; the supervisor
# reports READY=1, RELOADING=1 … READY=1 and WATCHDOG=1 (every half WATCHDOG_USEC, only when
# WATCHDOG_PID is its own) on NOTIFY_SOCKET.
. "$(dirname "$0")/lib.sh"

if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze is missing (tools/deps.sh installs the systemd package)"
	exit 0
fi
t_setup

# ---- make install, then systemd-analyze verify -------------------------------------------------
V=${AYSFS_BUILD#"$TOP"/build/}
[ "$TOP/build/$V" = "$AYSFS_BUILD" ] || bail "AYSFS_BUILD must be a folder of $TOP/build"
R=$T/root
make -C "$TOP" -s V="$V" install DESTDIR="$R" >"$T/install.log" 2>&1 || bail "make install: $(cat "$T/install.log")"
U=$R/usr/local/lib/systemd/system
ok_cmd "make install writes both units" test -f "$U/aysfs.service" -a -f "$U/aysfs@.service"
ok_cmd "and the example configuration" cmp "$TOP/examples/config.toml" "$R/etc/aysfs/config.toml"

# The units name /usr/local paths: the installed tree is seen there in a mount namespace of the
# test's own, so that the commands resolve and the system's units (sysinit.target…) are found.
in_root() {
	unshare -m --propagation slave -- sh -c 'mount --bind "$0/usr/local" /usr/local && cd / && exec "$@"' \
		"$R" "$@"
}
for unit in aysfs.service aysfs@opt.service 'aysfs@srv-my\x2dapp.service'; do
	out=$(in_root systemd-analyze verify "/usr/local/lib/systemd/system/$unit" 2>&1); st=$?
	is "$st:$out" "0:" "systemd-analyze verify $unit: no error, no warning"
done

# Both units harden the same way.
hardening() { sed -n '/^# ---- Hardening/,/^\[Install\]/p;/^# Hardening/,/^\[Install\]/p' "$1" | grep -v '^#'; }
is "$(hardening "$U/aysfs@.service")" "$(hardening "$U/aysfs.service")" "aysfs@.service has the hardening of aysfs.service"

# ---- the template's ExecStart, as systemd would run it -------------------------------------------
key() { sed -n "s/^$1=//p" "$U/aysfs@.service" | tail -1; }
MNT=$T/mnt
inst=$(systemd-escape -p "$MNT")
exec_start=$(key ExecStart)
exec_start=${exec_start//%i/$inst}
exec_start=${exec_start//%f/$(systemd-escape -p -u "$inst")}
like "$exec_start" "^/usr/local/sbin/aysfs-supervisor -config /etc/aysfs/.+\.toml $MNT\$" "ExecStart names the instance's file and mountpoint"
read -r -a argv <<<"$exec_start"

# A tree to serve: one file from a folder store.
mkdir -p "$MNT" "$T/src" "$T/store"
echo "served through the unit" >"$T/src/hello"
h=$(put_blob "$T/store" "$T/src/hello")
printf '/hello|%s|%s\n' "$h" "$(stat -c %s "$T/src/hello")" | write_flist "$T/flists/s.flist"
store_config
install -m 0644 "$T/config.toml" "$R/etc/aysfs/$inst.toml"

# CapabilityBoundingSet=, NoNewPrivileges= and LimitNOFILE= through setpriv and ulimit.
caps=$(key CapabilityBoundingSet | tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_/+/p' | paste -sd,)
setpriv=(setpriv --bounding-set "-all,$caps" --inh-caps -all --ambient-caps -all)
nnp=0
[ "$(key NoNewPrivileges)" = yes ] && setpriv+=(--no-new-privs) nnp=1
# (This test's own hard limit may be lower, with no CAP_SYS_RESOURCE to raise it: then that one.)
nofile=$(key LimitNOFILE)
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$nofile" ]; then
	diag "LimitNOFILE=$nofile is above this test's hard limit: $(ulimit -Hn) instead"
	nofile=$(ulimit -Hn)
fi
# DevicePolicy=closed + DeviceAllow=/dev/fuse rw: a devices cgroup (v1) allowing what systemd's
# closed policy allows (null, zero, full, random, urandom, tty, ptmx, pts) and /dev/fuse.
cg=
if [ -d /sys/fs/cgroup/devices ] && [ "$(key DevicePolicy)" = closed ]; then
	cg=/sys/fs/cgroup/devices/aysfs-test-$$
	fuse_dev=$((16#$(stat -c %t /dev/fuse))):$((16#$(stat -c %T /dev/fuse)))
	mkdir "$cg" && echo a >"$cg/devices.deny" || bail "cannot make a devices cgroup"
	for d in 'c 1:3 rwm' 'c 1:5 rwm' 'c 1:7 rwm' 'c 1:8 rwm' 'c 1:9 rwm' 'c 5:0 rwm' 'c 5:2 rwm' \
		'c 136:* rw' "c $fuse_dev rw"; do
		echo "$d" >"$cg/devices.allow"
	done
	trap '_cleanup; rmdir "$cg" 2>/dev/null' EXIT
else
	diag "no devices cgroup (v1) here: DevicePolicy= is not reproduced"
fi
# The seccomp-based directives: tests/sd-sandbox loads a filter with their meaning.
sandbox=$AYSFS_BUILD/tests/sd-sandbox
sdargs=()
for k in RestrictAddressFamilies SystemCallFilter; do
	v=$(key $k); [ -n "$v" ] && sdargs+=("$k=$v")
done
for k in MemoryDenyWriteExecute LockPersonality RestrictRealtime RestrictSUIDSGID RestrictNamespaces \
	ProtectClock ProtectHostname; do
	[ "$(key $k)" = yes ] && sdargs+=("$k=yes")
done
[ "$(key SystemCallArchitectures)" = native ] && sdargs+=(SystemCallArchitectures=native)
[ -x "$sandbox" ] || bail "no $sandbox: make tests first"

# systemd's NOTIFY_SOCKET, every datagram with the time it came.
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "w") as out:
    while True:
        m = s.recv(4096).decode().replace("\n", " ")
        print("%.3f %s" % (time.monotonic(), m), file=out, flush=True)
' "$T/notify" "$T/notified" &
notifier=$!
for _ in $(seq 50); do [ -S "$T/notify" ] && break; sleep 0.1; done

# The environment systemd gives a root service (no User=), WatchdogSec=1s instead of 30 s for
# the pace, a UTS namespace for ProtectHostname=, and a mount namespace of the test's own for
# the installed paths (slave, as systemd makes them: nothing mounted inside shows outside).
: >"$T/log"
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
	NOTIFY_SOCKET="$T/notify" WATCHDOG_USEC=1000000 INVOCATION_ID=0123456789abcdef0123456789abcdef \
	RUNTIME_DIRECTORY=/run/aysfs \
	unshare -m -u --propagation slave -- sh -c '
	r=$1 cg=$2 nofile=$3; shift 3
	mount --bind "$r/usr/local" /usr/local && mount -t overlay overlay -o "lowerdir=$r/etc:/etc" /etc || exit 99
	[ -z "$cg" ] || echo $$ >"$cg/cgroup.procs" || exit 98
	ulimit -Hn "$nofile" && ulimit -Sn "$nofile" || exit 97
	mkdir -p -m 0700 /run/aysfs
	export WATCHDOG_PID=$$
	cd / && exec "$@"' sh "$R" "$cg" "$nofile" "${setpriv[@]}" -- "$sandbox" "${sdargs[@]}" -- "${argv[@]}" \
	</dev/null 2>>"$T/log" &
SUP_PID=$!
for _ in $(seq 200); do
	grep -q "READY=1" "$T/notified" 2>/dev/null && break
	kill -0 "$SUP_PID" 2>/dev/null || break
	sleep 0.1
done
ok_cmd "the supervisor reports READY=1 on NOTIFY_SOCKET" grep -q "READY=1 STATUS=serving $MNT MAINPID=$SUP_PID" "$T/notified" ||
	{ diag "supervisor log:"; sed 's/^/#   /' "$T/log"; }
is "$(nsenter -m -t "$SUP_PID" cat "$MNT/hello" 2>&1)" "served through the unit" "the tree is served: a file read through the mount"
if [ -n "$cg" ]; then
	like "$(cat /proc/$SUP_PID/cgroup)" ":devices:/aysfs-test-$$\$" "it runs in the devices cgroup of DevicePolicy=closed"
	out=$(sh -c 'echo $$ >"$1/cgroup.procs" && exec head -c1 /dev/kmsg' sh "$cg" 2>&1)
	like "$out" "Operation not permitted" "which refuses a device the unit does not allow (/dev/kmsg)"
fi
is_mounted "$MNT"; ok $((! $?)) "the mount is not seen outside the service's mount namespace (why the unit makes none)"
st=/proc/$SUP_PID/status
is "$(sed -n 's/^CapBnd:\t//p' "$st"):$(sed -n 's/^NoNewPrivs:\t//p' "$st")" "00000000002001e0:$nnp" \
	"the supervisor keeps its five capabilities (and no_new_privs as the unit asks)"
is "$(sed -n 's/^Seccomp:\t//p' "$st")" 2 "and runs under the unit's system call filter"
ok $([ "$(readlink /proc/$SUP_PID/ns/uts)" != "$(readlink /proc/self/ns/uts)" ]; echo $?) "in a UTS namespace of its own (ProtectHostname=)"

# Reload: a new file in the flist, then the unit's ExecReload.
sleep 1.2
printf '/hello|%s|%s\n/new||0\n' "$h" "$(stat -c %s "$T/src/hello")" | write_flist "$T/flists/s.flist"
reload=$(key ExecReload)
is "$reload" '/bin/kill -HUP $MAINPID' "ExecReload sends SIGHUP"
reload_at=$(python3 -c 'import time; print("%.3f" % time.monotonic())')
${reload//\$MAINPID/$SUP_PID}
for _ in $(seq 100); do
	awk -v t="$reload_at" '$1 >= t' "$T/notified" | grep -q '^[0-9.]* READY=1' && break
	sleep 0.1
done
after=$(awk -v t="$reload_at" '$1 >= t { $1 = ""; print }' "$T/notified" | grep -v WATCHDOG)
like "$(echo "$after" | head -1)" "^ RELOADING=1 MONOTONIC_USEC=[0-9]+ *\$" "a reload starts with RELOADING=1 and MONOTONIC_USEC="
like "$(echo "$after" | sed -n 2p)" "^ READY=1 STATUS=serving the new tree" "and ends with READY=1 once the new tree is served"
ok_cmd "the new tree is served" nsenter -m -t "$SUP_PID" test -e "$MNT/new"

# The watchdog's pace: WATCHDOG_USEC=1 s, so every 0.5 s, never a second without one.
sleep 2
gaps=$(grep ' WATCHDOG=1' "$T/notified" | awk 'NR > 1 { printf "%.3f\n", $1 - prev } { prev = $1 }')
n=$(echo "$gaps" | wc -l)
ok $([ "$n" -ge 6 ]; echo $?) "WATCHDOG=1 keeps coming ($((n + 1)) in the run)"
ok $(echo "$gaps" | awk '$1 < 0.4 || $1 > 0.9 { bad = 1 } END { exit bad }'; echo $?) \
	"every 0.4-0.9 s (half of WATCHDOG_USEC): $(echo "$gaps" | sort -n | sed -n '1p;$p' | paste -sd' ')"

kill -TERM "$SUP_PID"
wait "$SUP_PID"; st=$?
SUP_PID=
is "$st" 0 "SIGTERM stops it with exit 0"
like "$(tail -1 "$T/notified")" "STOPPING=1" "after STOPPING=1"
[ -n "$(sed -n '/CRIT\|ERROR/p' "$T/log")" ] && { diag "log:"; sed 's/^/#   /' "$T/log"; }

# ---- WATCHDOG_PID names another process: no WATCHDOG=1 ----------------------------------------
: >"$T/notified"
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=200000 WATCHDOG_PID=1 mount_start "$T/mnt2" -config "$T/config.toml" ||
	bail "mount failed"
sleep 1
mount_stop
like "$(cat "$T/notified")" "READY=1" "(that supervisor notifies too)"
is "$(grep -c WATCHDOG "$T/notified")" 0 "no WATCHDOG=1 when WATCHDOG_PID is another process's"
kill "$notifier"

# ---- make uninstall removes what install wrote ------------------------------------------------
echo '# changed' >>"$R/etc/aysfs/config.toml"
make -C "$TOP" -s V="$V" uninstall DESTDIR="$R" >"$T/uninstall.log" 2>&1
is "$(cd "$R" && find . -type f -o -type l | sort | paste -sd' ')" "$(printf '%s\n' ./etc/aysfs/config.toml "./etc/aysfs/$inst.toml" | sort | paste -sd' ')" \
	"make uninstall leaves only configuration files (a changed one is kept)"
like "$(cat "$T/uninstall.log")" "config.toml differs from the example: kept" "and says so"

done_testing
