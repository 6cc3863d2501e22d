# lib.sh — sourced by every integration test (TAP on stdout, run by prove as root).
#
#   AYSFS_BUILD   folder of the binaries under test (default build/release)
#
#   t_setup                 a fresh world-readable folder $T (removed at exit), mounts undone
#   write_config FILE ...   a config file from here-doc lines
#   mount_start MNT ARGS…   start the supervisor in the background; waits until the tree is served
#   mount_stop              SIGTERM, wait; $STOP_STATUS holds the exit status
#   ok COND NAME / is GOT WANT NAME / like TEXT REGEX NAME / done_testing

set -u
export LC_ALL=C
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
AYSFS_BUILD=${AYSFS_BUILD:-$TOP/build/release}
case $AYSFS_BUILD in /*) ;; *) AYSFS_BUILD=$TOP/$AYSFS_BUILD ;; esac
SUPERVISOR=$AYSFS_BUILD/aysfs-supervisor

_tap_n=0
_tap_failed=0

ok() {
	_tap_n=$((_tap_n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $_tap_n - $2"
	else
		_tap_failed=$((_tap_failed + 1))
		echo "not ok $_tap_n - $2"
	fi
}

# ok_cmd NAME CMD…: passes when the command succeeds.
ok_cmd() {
	local name=$1
	shift
	"$@" >/dev/null 2>&1
	ok $? "$name"
}

is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
	fi
}

like() {
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '%s\n' "$1" | head -20 | sed 's/^/#   /'
		echo "#   does not match: $2"
	fi
}

diag() { echo "# $*"; }

done_testing() {
	echo "1..$_tap_n"
	[ "$_tap_failed" = 0 ]
	exit $?
}

bail() {
	echo "Bail out! $*"
	exit 255
}

SUP_PID=
MNT=
_mounts=()

_cleanup() {
	local m
	nginx_stop
	s3_stop
	if [ -n "$SUP_PID" ] && kill -0 "$SUP_PID" 2>/dev/null; then
		kill -TERM "$SUP_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$SUP_PID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SUP_PID" 2>/dev/null
	fi
	for m in "${_mounts[@]}"; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m"
	done
	# AYSFS_KEEP=1 keeps the folder (and its log) for a look after a failure.
	[ -n "${T:-}" ] && [ -z "${AYSFS_KEEP:-}" ] && rm -rf "$T"
}

t_setup() {
	[ "$(id -u)" = 0 ] || bail "integration tests mount filesystems: run them as root"
	[ -x "$SUPERVISOR" ] || bail "no $SUPERVISOR: build first"
	T=$(mktemp -d /tmp/aysfs-test.XXXXXX)
	# The workers run as unprivileged users: the flists and stores must be readable by them.
	chmod 755 "$T"
	trap _cleanup EXIT
}

# write_flist FILE: stdin becomes the flist.
write_flist() {
	mkdir -p "$(dirname "$1")"
	cat >"$1"
	chmod 644 "$1"
}

# mount_start MNT ARGS…: the log is $T/log; fails the test file when the tree is not served in 20 s.
mount_start() {
	MNT=$1
	shift
	mkdir -p "$MNT" 2>/dev/null
	_mounts+=("$MNT")
	: >"$T/log"
	# The log as the journal gets it: no time at the start of each line (the journal keeps its
	# own), so that patterns may anchor on the level. log.t tests the time.
	JOURNAL_STREAM=$(stat -c %d:%i "$T/log") "$SUPERVISOR" "$@" "$MNT" 2>>"$T/log" &
	SUP_PID=$!
	for _ in $(seq 200); do
		grep -q "serving $MNT" "$T/log" && return 0
		kill -0 "$SUP_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# supervisor log:"; sed 's/^/#   /' "$T/log"
	return 1
}

mount_stop() {
	kill -TERM "$SUP_PID"
	wait "$SUP_PID"
	STOP_STATUS=$?
	SUP_PID=
}

is_mounted() {
	findmnt -n -t fuse.aysfs --mountpoint "$1" >/dev/null 2>&1
}

# The pid of a worker of the running supervisor: worker_pid fuser|indexer|fetcher
worker_pid() {
	pgrep -P "$SUP_PID" -f "aysfs-$1" | head -1
}

# put_blob STORE FILE [bro]: store FILE's content as a blob (md5) in STORE/dedupe (brotli-compressed
# as HASH.bro with "bro"); prints the hash.
put_blob() {
	local h
	h=$(md5sum <"$2" | cut -c1-32)
	mkdir -p "$1/dedupe/${h:0:1}/${h:1:1}"
	if [ "${3:-}" = bro ]; then
		brotli -c "$2" >"$1/dedupe/${h:0:1}/${h:1:1}/$h.bro"
	else
		cp "$2" "$1/dedupe/${h:0:1}/${h:1:1}/$h"
	fi
	echo "$h"
}

# blob_path STORE HASH: where that blob lives in STORE's default namespace.
blob_path() { echo "$1/dedupe/${2:0:1}/${2:1:1}/$2"; }

# random_file PATH BYTES: pseudo-random content.
random_file() {
	head -c "$2" /dev/urandom >"$1"
}

# many_files SRC COUNT BYTES DIR...: COUNT random files of BYTES each in every SRC/DIR, stored as
# blobs in $T/store, their flist lines (/DIR/fNNN) appended to $T/flist.in.
many_files() {
	local src=$1 count=$2 size=$3 d f
	shift 3
	mkdir -p "$T/store"
	for d in "$@"; do
		mkdir -p "$src/$d"
		for f in $(seq -w 0 $((count - 1))); do
			random_file "$src/$d/f$f" "$size"
			echo "/$d/f$f|$(put_blob "$T/store" "$src/$d/f$f")|$size" >>"$T/flist.in"
		done
	done
}

# free_port [ADDR]: a TCP port free on ADDR (default 127.0.0.1).
free_port() {
	python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' \
		"${1:-127.0.0.1}"
}

# nginx_start 'server { … }'…: a real nginx with its own config and prefix in $T, serving the given
# server blocks; stopped at exit (_cleanup) or by nginx_stop.
nginx_start() {
	command -v nginx >/dev/null || bail "nginx is needed (nginx-light)"
	mkdir -p "$T/nginx-tmp"
	cat >"$T/nginx.conf" <<EOF2
worker_processes 1;
daemon on;
pid $T/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $T/nginx-tmp;
	proxy_temp_path $T/nginx-tmp;
	fastcgi_temp_path $T/nginx-tmp;
	uwsgi_temp_path $T/nginx-tmp;
	scgi_temp_path $T/nginx-tmp;
	$*
}
EOF2
	nginx -c "$T/nginx.conf" -p "$T/" || bail "nginx does not start: $(cat "$T/nginx.err" 2>/dev/null)"
	for _ in $(seq 50); do [ -s "$T/nginx.pid" ] && break; sleep 0.1; done
}

nginx_stop() {
	[ -n "${T:-}" ] && [ -s "$T/nginx.pid" ] || return 0
	kill "$(cat "$T/nginx.pid")" 2>/dev/null
	for _ in $(seq 30); do kill -0 "$(cat "$T/nginx.pid" 2>/dev/null)" 2>/dev/null || break; sleep 0.1; done
	rm -f "$T/nginx.pid"
}

# half_body_start PORT DIR hold|close: a server on 127.0.0.1:PORT that answers GET /PATH with 200 and
# the whole length of DIR/PATH, sends the first half of the body, then holds the connection open
# (hold: a stalled body) or drops it (close: a body that breaks off); 404 for what DIR lacks. Its
# pid is $HALF_PID; the caller stops it.
half_body_start() {
	python3 -c '
import os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
held = []
while True:
    c, _ = s.accept()
    req = b""
    while b"\r\n\r\n" not in req:
        d = c.recv(4096)
        if not d: break
        req += d
    try:
        path = os.path.join(sys.argv[2], req.split(b" ")[1].decode().lstrip("/"))
        body = open(path, "rb").read()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:len(body) // 2])
    except (OSError, IndexError):
        c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    if sys.argv[3] == "hold":
        held.append(c)
    else:
        c.close()
' "$1" "$2" "$3" &
	HALF_PID=$!
}

# store_config: $T/config.toml for the simplest mount: flists from $T/flists, the local cache in
# $T/cache, one folder store at $T/store, the tree at the mountpoint's root.
store_config() {
	cat >"$T/config.toml" <<EOF2
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
[[store]]
url = "$T/store"
EOF2
}

# ---- a real DNS server on a loopback address (dnsmasq) --------------------------------------------
# dns_start NAME=ADDR…: dnsmasq on port 53 of a free 127.53.X.Y address, answering only these names
# (A or AAAA records, by the address's form; every other name is refused). Sets DNS_ADDR, DNS_PID
# and DNS_RESOLV (a resolv.conf naming the server, for -resolv). Stopped at exit, or by dns_stop.
DNS_PID=
dns_start() {
	local a rec args=() i
	command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ] || bail "dnsmasq is needed (dnsmasq-base)"
	for rec in "$@"; do args+=("--host-record=${rec%%=*},${rec#*=}"); done
	for i in $(seq 20); do
		a=127.53.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
		rm -f "$T/dnsmasq.pid"
		/usr/sbin/dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll -C /dev/null \
			--listen-address="$a" --bind-interfaces --port 53 --pid-file="$T/dnsmasq.pid" \
			--log-facility="$T/dnsmasq.log" --log-queries --local-ttl=1 "${args[@]}" 2>>"$T/dnsmasq.err" &
		DNS_PID=$!
		for _ in $(seq 50); do
			[ -s "$T/dnsmasq.pid" ] && break
			kill -0 "$DNS_PID" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$DNS_PID" 2>/dev/null && [ -s "$T/dnsmasq.pid" ]; then
			DNS_ADDR=$a
			DNS_RESOLV=$T/resolv.conf
			printf 'nameserver %s\n' "$a" >"$DNS_RESOLV"
			chmod 644 "$DNS_RESOLV"
			_dns_trap
			return 0
		fi
		wait "$DNS_PID" 2>/dev/null
		DNS_PID=
	done
	bail "dnsmasq does not start: $(tail -3 "$T/dnsmasq.err" 2>/dev/null)"
}

dns_stop() {
	[ -n "$DNS_PID" ] || return 0
	kill "$DNS_PID" 2>/dev/null
	wait "$DNS_PID" 2>/dev/null
	DNS_PID=
}

# Stop dnsmasq at exit too, before whatever else the test's own EXIT trap does.
_dns_trap() {
	local prev
	prev=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
	case $prev in *dns_stop*) return ;; esac
	# shellcheck disable=SC2064
	trap "dns_stop; ${prev:-:}" EXIT
}

# ---- a real S3 implementation on loopback (s3rver, behind a gate that checks SigV4) -----------------
# s3_start: s3rver (tools/npm-deps.sh installs it into build/npm) with the buckets "priv" and "pub",
# its objects in $T/s3, behind tests/integration/s3gate.py, which checks every signature with
# botocore (s3rver 3.x does not check Signature Version 4) and refuses unsigned requests to "priv".
# Sets S3_URL (the gate, http://127.0.0.1:PORT), S3_ACCESS, S3_SECRET (the keys it accepts) and
# S3_LOG (one line per request: "METHOD PATH STATUS"). While the file $T/s3-put-delay exists, each
# PUT waits the seconds it holds; while $T/s3-put-fail holds a number above 0, a PUT is answered
# 503 SlowDown and the number lowered. Stopped at exit, or by s3_stop.
S3RVER_PID=
S3GATE_PID=
s3_start() {
	local s3rver=$TOP/build/npm/node_modules/.bin/s3rver up port
	[ -x "$s3rver" ] || bail "s3rver is needed (tools/npm-deps.sh installs it into build/npm)"
	command -v node >/dev/null || bail "node is needed (npm)"
	python3 -c 'import botocore' 2>/dev/null || bail "botocore is needed (python3-botocore)"
	up=$(free_port)
	port=$(free_port)
	mkdir -p "$T/s3"
	node "$s3rver" -d "$T/s3" -a 127.0.0.1 -p "$up" --no-vhost-buckets \
		--configure-bucket priv --configure-bucket pub >"$T/s3rver.log" 2>&1 &
	S3RVER_PID=$!
	S3_ACCESS=AKIDAYSFSTEST$RANDOM
	S3_SECRET=secret-$RANDOM-$RANDOM-$RANDOM
	S3_LOG=$T/s3gate.log
	: >"$S3_LOG"
	# botocore: Debian's python3-botocore is for /usr/bin/python3, which may not be the first python3.
	local py
	for py in python3 /usr/bin/python3 ''; do
		[ -n "$py" ] && "$py" -c 'import botocore' 2>/dev/null && break
	done
	[ -n "$py" ] || bail "botocore is needed for the S3 gate (Debian's python3-botocore)"
	"$py" "$TOP/tests/integration/s3gate.py" "$port" "$up" "$S3_ACCESS" "$S3_SECRET" priv \
		"$S3_LOG" "$T/s3-put-delay" "$T/s3-put-fail" 2>>"$T/s3gate.err" &
	S3GATE_PID=$!
	S3_URL=http://127.0.0.1:$port
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$up/pub/" && curl -s -o /dev/null "$S3_URL/pub/" &&
			return 0
		sleep 0.1
	done
	bail "s3rver does not start: $(cat "$T/s3rver.log" "$T/s3gate.err" 2>/dev/null)"
}

s3_stop() {
	local p
	for p in $S3GATE_PID $S3RVER_PID; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	S3GATE_PID=
	S3RVER_PID=
}

# s3_put BUCKET/KEY FILE: upload FILE signed with the test keys (curl's own SigV4).
s3_put() {
	curl -sf -o /dev/null --aws-sigv4 aws:amz:us-east-1:s3 -u "$S3_ACCESS:$S3_SECRET" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -T "$2" "$S3_URL/$1"
}

# s3_get BUCKET/KEY: the object on stdout, signed with the test keys; fails on an error answer.
s3_get() {
	curl -sf --aws-sigv4 aws:amz:us-east-1:s3 -u "$S3_ACCESS:$S3_SECRET" \
		-H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
		"$S3_URL/$1"
}
