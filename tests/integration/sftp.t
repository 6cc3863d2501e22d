#!/usr/bin/env bash
# SFTP layers, through a mount, against a real sshd on 127.0.0.1 with its own host key: files read
# byte-identical (the client key is root's and mode 0600: the fetcher gets it from the supervisor,
# again when it is restarted);
# ssh:// of the older layout is sftp://; hashed known_hosts entries work; a host whose key is not
# the known one, or is not known at all, is refused (EIO, and the log says why); a blob the sftp
# store lacks comes from the next layer; one SSH login serves many files; an sftp store reached
# through an HTTP proxy (a CONNECT tunnel), the first proxy of the list being dead.
. "$(dirname "$0")/lib.sh"
t_setup

SSHD=/usr/sbin/sshd
[ -x "$SSHD" ] || bail "sshd is needed (openssh-server)"
command -v ssh-keygen >/dev/null || bail "ssh-keygen is needed (openssh-client)"

sftp_cleanup() {
	[ -n "${PROXY_PID:-}" ] && kill $PROXY_PID 2>/dev/null
	if [ -n "${T:-}" ] && [ -s "$T/sshd.pid" ]; then
		kill "$(cat "$T/sshd.pid")" 2>/dev/null
		for _ in $(seq 30); do kill -0 "$(cat "$T/sshd.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
	fi
	_cleanup
}
trap sftp_cleanup EXIT

# open_errno FILE: the errno name of open+read of FILE ("OK" when it reads).
open_errno() {
	python3 -c '
import errno, sys
try:
    open(sys.argv[1], "rb").read(); print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))' "$1"
}

# ---- content: an sftp store with most blobs, a local folder with the one it lacks ------------------
mkdir -p "$T/src" "$T/store" "$T/next" "$T/ssh"
random_file "$T/src/small" 1
random_file "$T/src/a" 100000
random_file "$T/src/b" 3000000
random_file "$T/src/c" 20000
random_file "$T/src/only-next" 4321
random_file "$T/src/refused" 777
for f in small a b c refused; do
	eval "h_$f=\$(put_blob \"\$T/store\" \"\$T/src/\$f\")"
done
h_next=$(put_blob "$T/next" "$T/src/only-next")
chmod -R a+rX "$T/store" "$T/next"
write_flist "$T/flists/svc.flist" <<FL
/small|$h_small|1
/a|$h_a|100000
/b|$h_b|3000000
/c|$h_c|20000
/only-next|$h_next|4321
/refused|$h_refused|777
FL

# ---- sshd: its own host key and config; the client key is root's, mode 0600 -------------------------
ssh-keygen -q -t ed25519 -N '' -C aysfs-test-host -f "$T/ssh/host_key" || bail "ssh-keygen"
ssh-keygen -q -t ed25519 -N '' -C aysfs-test-other -f "$T/ssh/other_key" || bail "ssh-keygen"
ssh-keygen -q -t ed25519 -N '' -C aysfs-test-client -f "$T/ssh/id_ed25519" || bail "ssh-keygen"
cp "$T/ssh/id_ed25519.pub" "$T/ssh/authorized_keys"
chmod 600 "$T/ssh/id_ed25519"
# sshd's privilege separation needs this folder (a fresh system may not have it yet).
mkdir -p /run/sshd && chmod 755 /run/sshd
P=$(free_port)
cat >"$T/ssh/sshd_config" <<EOF
ListenAddress 127.0.0.1:$P
HostKey $T/ssh/host_key
PidFile $T/sshd.pid
AuthorizedKeysFile $T/ssh/authorized_keys
# The test folder lives under /tmp, which is world-writable.
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding no
X11Forwarding no
Subsystem sftp internal-sftp
ForceCommand internal-sftp
LogLevel VERBOSE
EOF
"$SSHD" -t -f "$T/ssh/sshd_config" 2>"$T/sshd.log" || bail "sshd rejects its config: $(cat "$T/sshd.log")"
"$SSHD" -D -e -f "$T/ssh/sshd_config" 2>>"$T/sshd.log" &
up=1
for _ in $(seq 100); do
	[ -s "$T/sshd.pid" ] && python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$P" 2>/dev/null && { up=0; break; }
	sleep 0.1
done
[ $up = 0 ] || bail "sshd does not start: $(cat "$T/sshd.log")"

# known_hosts variants: the right key (plain), the right key (hashed), a wrong key, another host only.
hostline() { echo "[127.0.0.1]:$P $(cut -d' ' -f1,2 "$1")"; }
hostline "$T/ssh/host_key.pub" >"$T/ssh/known_hosts"
{ echo "# comment"; echo "[127.0.0.1]:$P,other.example $(cut -d' ' -f1,2 "$T/ssh/host_key.pub")"; } \
	>"$T/ssh/known_hosts.hashed"
ssh-keygen -q -H -f "$T/ssh/known_hosts.hashed" >/dev/null 2>&1 || bail "ssh-keygen -H"
grep -q '^|1|' "$T/ssh/known_hosts.hashed" || bail "no hashed entry"
hostline "$T/ssh/other_key.pub" >"$T/ssh/known_hosts.wrong"
echo "[127.0.0.1]:1 $(cut -d' ' -f1,2 "$T/ssh/host_key.pub")" >"$T/ssh/known_hosts.elsewhere"
chmod 644 "$T"/ssh/known_hosts*

# config FILE KNOWN_HOSTS URL…: [[store]]s in order.
config() {
	local f=$1 kh=$2 u
	shift 2
	{
		printf '[main]\nprefix = "/"\nflist_dir = "%s"\ncache_dir = "%s"\n' \
			"$T/flists" "$T/cache-$(basename "$f" .toml)"
		printf 'ssh_key = "%s"\nssh_known_hosts = "%s"\n' "$T/ssh/id_ed25519" "$kh"
		for u in "$@"; do printf '[[store]]\nurl = "%s"\n' "$u"; done
	} >"$f"
}
fetcher_log() { grep ' fetcher: ' "$T/log"; }
logins() { grep -c 'Accepted publickey' "$T/sshd.log"; }

# ---- 1. sftp://user@ with a plain known_hosts, then a local folder --------------------------------
config "$T/c1.toml" "$T/ssh/known_hosts" "sftp://nobody@127.0.0.1:$P$T/store" "$T/next"
before=$(logins)
mount_start "$T/mnt" -l 5 -config "$T/c1.toml" || bail "mount failed"
same=0
for f in small a b; do
	cmp -s "$T/mnt/$f" "$T/src/$f" || { same=1; diag "$f differs"; }
done
ok $same "files read over sftp are byte-identical to the originals"
# A restarted fetcher gets the key again from the supervisor.
fpid=$(worker_pid fetcher)
kill -KILL "$fpid"
for _ in $(seq 50); do
	npid=$(worker_pid fetcher)
	[ -n "$npid" ] && [ "$npid" != "$fpid" ] && break
	sleep 0.1
done
cmp -s "$T/mnt/c" "$T/src/c"
ok $? "after the fetcher is killed and restarted, sftp reads go on (the key is handed over again)"
is "$(getfattr --only-values -n user.aysfs.layer "$T/mnt/b" 2>/dev/null)" \
	"sftp://nobody@127.0.0.1:$P$T/store" "... and user.aysfs.layer names the sftp layer"
cmp -s "$T/mnt/only-next" "$T/src/only-next"
ok $? "a blob the sftp store lacks comes from the next layer"
like "$(fetcher_log | grep "$h_next")" ": no such file" \
	"... after a 'no such file' from the sftp store"
is "$(grep -E '^(WARN|ERROR|CRIT)' "$T/log" | grep -v -e 'fetcher was killed by signal 9' -e 'fetcher channel: closed')" "" \
	"no warning while the host key is known (but the kill)"
is "$(($(logins) - before))" 2 "one SSH login for all the files (two: the fetcher was restarted)"
like "$(grep 'Accepted publickey' "$T/sshd.log" | tail -1)" "for nobody from" "... as the URL's user"
mount_stop

# ---- 2. ssh:// (the older layout's name), no user (root), hashed known_hosts ---------------------
config "$T/c2.toml" "$T/ssh/known_hosts.hashed" "ssh://127.0.0.1:$P$T/store"
mount_start "$T/mnt" -l 5 -config "$T/c2.toml" || bail "mount failed"
cmp -s "$T/mnt/a" "$T/src/a" && cmp -s "$T/mnt/c" "$T/src/c"
ok $? "an ssh:// store is read over sftp, its host found by a hashed known_hosts entry"
like "$(grep 'Accepted publickey' "$T/sshd.log" | tail -1)" "for root from" \
	"... logged in as root when the URL names no user"
mount_stop

# ---- 3. a host key that is not the known one ---------------------------------------------------------
config "$T/c3.toml" "$T/ssh/known_hosts.wrong" "sftp://127.0.0.1:$P$T/store"
before=$(logins)
mount_start "$T/mnt" -l 5 -config "$T/c3.toml" || bail "mount failed"
is "$(open_errno "$T/mnt/refused")" EIO "a server whose host key is not the known one: open fails with EIO"
like "$(fetcher_log)" "host key of \[127.0.0.1\]:$P does not match" "... and the log says why"
is "$(($(logins) - before))" 0 "... and no login was attempted"
mount_stop

# ---- 4. a host that known_hosts does not list ----------------------------------------------------------
config "$T/c4.toml" "$T/ssh/known_hosts.elsewhere" "sftp://127.0.0.1:$P$T/store"
mount_start "$T/mnt" -l 5 -config "$T/c4.toml" || bail "mount failed"
is "$(open_errno "$T/mnt/refused")" EIO "an unknown host: open fails with EIO"
like "$(fetcher_log)" "host \[127.0.0.1\]:$P is not in .*known_hosts.elsewhere" "... and the log says why"
mount_stop

# ---- 5. a missing ssh_key file is a configuration error -------------------------------------------------
sed "s|^ssh_key = .*|ssh_key = \"$T/ssh/none\"|" "$T/c1.toml" >"$T/c5.toml"
"$SUPERVISOR" -config "$T/c5.toml" "$T/mnt" 2>"$T/log5"
is $? 1 "a missing ssh_key: exit 1"
like "$(cat "$T/log5")" "ssh_key $T/ssh/none: No such file" "... naming the file"

# ---- 6. through HTTP proxies: a CONNECT tunnel to sshd; a dead proxy first is skipped ------------------
# A minimal CONNECT proxy: only to 127.0.0.1, each tunnel logged with the port it connects from (so
# that sshd's logins can be matched to it); it exits by itself after 120 s. With a third argument
# "refuse" it refuses every tunnel (403).
# proxy_start PORT LOG [refuse]: sets PROXY_PID.
proxy_start() {
python3 - "$@" >"$2.err" 2>&1 <<'PY' &
import signal, socket, sys, threading
signal.alarm(120)
port, logf = int(sys.argv[1]), sys.argv[2]
refuse = sys.argv[3:] == ["refuse"]
lock = threading.Lock()
def note(line):
    with lock, open(logf, "a") as f:
        f.write(line + "\n")
def relay(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(c):
    try:
        c.settimeout(10)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < 8192:
            d = c.recv(4096)
            if not d:
                return
            head += d
        head, _, rest = head.partition(b"\r\n\r\n")
        w = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        host, _, p = w[1].rpartition(":") if len(w) == 3 else ("", "", "")
        if refuse or len(w) != 3 or w[0] != "CONNECT" or host != "127.0.0.1" or not p.isdigit():
            note("REFUSED " + " ".join(w))
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        try:
            u = socket.create_connection((host, int(p)), 5)
        except OSError:
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        note("CONNECT %s via %d" % (w[1], u.getsockname()[1]))
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        c.settimeout(None)
        u.settimeout(None)
        if rest:
            u.sendall(rest)
        threading.Thread(target=relay, args=(u, c), daemon=True).start()
        relay(c, u)
    except OSError:
        pass
    finally:
        c.close()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(32)
note("LISTENING")
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
PROXY_PID="${PROXY_PID:-} $!"
for _ in $(seq 50); do grep -q LISTENING "$2" 2>/dev/null && break; sleep 0.1; done
grep -q LISTENING "$2" 2>/dev/null || bail "the CONNECT proxy does not start: $(cat "$2.err")"
}
PP=$(free_port)
proxy_start "$PP" "$T/proxy.log"
# reads_all: small, a, b and c read through the mount as their sources.
reads_all() {
	local f bad=0
	for f in small a b c; do
		cmp -s "$T/mnt/$f" "$T/src/$f" || { bad=1; diag "$f differs"; }
	done
	return $bad
}
# tunneled_logins FROM_LINE: sshd logins since that line of its log, "N M": all of them, and those
# that came from a tunnel of the proxy (the proxy's outgoing port).
tunneled_logins() {
	local port all=0 via=0
	for port in $(tail -n +"$1" "$T/sshd.log" | sed -n 's/.*Accepted publickey for .* port \([0-9]*\) .*/\1/p'); do
		all=$((all + 1))
		grep -q "^CONNECT 127.0.0.1:$P via $port\$" "$T/proxy.log" && via=$((via + 1))
	done
	echo "$all $via"
}

config "$T/c6.toml" "$T/ssh/known_hosts" "sftp://nobody@127.0.0.1:$P$T/store"
printf 'proxy = ["http://127.0.0.1:%s"]\n' "$PP" >>"$T/c6.toml"
from=$(($(wc -l <"$T/sshd.log") + 1))
mount_start "$T/mnt" -l 5 -config "$T/c6.toml" || bail "mount failed"
ok_cmd "an sftp store behind an HTTP proxy: files read byte-identical" reads_all
like "$(grep '^CONNECT' "$T/proxy.log")" "^CONNECT 127.0.0.1:$P via " "... through a CONNECT tunnel to sshd"
set -- $(tunneled_logins "$from")
ok $(($1 == 0 || $1 != $2)) "... and every SSH login came through the tunnel ($2 of $1)"
is "$(grep -E '^(WARN|ERROR|CRIT)' "$T/log")" "" "... with no warning or error in the log"
mount_stop

# The first proxy of the list does not answer: it is logged down once, the second one serves.
PD=$(free_port)
config "$T/c7.toml" "$T/ssh/known_hosts" "sftp://nobody@127.0.0.1:$P$T/store"
printf 'proxy = ["http://127.0.0.1:%s", "http://127.0.0.1:%s"]\n' "$PD" "$PP" >>"$T/c7.toml"
: >"$T/proxy.log"
from=$(($(wc -l <"$T/sshd.log") + 1))
mount_start "$T/mnt" -l 5 -config "$T/c7.toml" || bail "mount failed"
ok_cmd "a dead proxy first in the list: files still read over sftp through the next one" reads_all
is "$(grep -c "^WARN fetcher: proxy http://127.0.0.1:$PD is down" "$T/log")" 1 \
	"... the dead proxy is logged down once, then skipped"
set -- $(tunneled_logins "$from")
ok $(($1 == 0 || $1 != $2)) "... and every SSH login came through the live proxy's tunnel ($2 of $1)"
is "$(grep -E '^(WARN|ERROR|CRIT)' "$T/log" | grep -v "proxy http://127.0.0.1:$PD is down")" "" \
	"... with no other warning or error in the log"
mount_stop

# The first proxy answers but refuses the tunnel (403): that proxy is down, not the store; the
# second one serves.
PR=$(free_port)
proxy_start "$PR" "$T/refuse.log" refuse
config "$T/c8.toml" "$T/ssh/known_hosts" "sftp://nobody@127.0.0.1:$P$T/store"
printf 'proxy = ["http://127.0.0.1:%s", "http://127.0.0.1:%s"]\n' "$PR" "$PP" >>"$T/c8.toml"
mount_start "$T/mnt" -l 5 -config "$T/c8.toml" || bail "mount failed"
ok_cmd "a proxy that refuses the tunnel first in the list: files read through the next one" reads_all
like "$(grep "^WARN fetcher: proxy http://127.0.0.1:$PR is down" "$T/log")" "403" \
	"... the refusing proxy is the one logged down, with its answer"
is "$(grep -c "^WARN fetcher: layer sftp://" "$T/log")" 0 "... and the store is not marked down"
like "$(cat "$T/refuse.log")" "REFUSED CONNECT 127.0.0.1:$P" "... (it was asked, and refused)"
mount_stop

done_testing
