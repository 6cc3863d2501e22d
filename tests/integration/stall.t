#!/usr/bin/env bash
# Stalls, through a mount. A layer that sends its headers and half a body, then nothing while it
# keeps the connection open, is given up within seconds: the read is served by the next layer and
# the stalled layer is marked down. A fetcher that stops answering (SIGSTOP) does not hang opens:
# a cold open fails with EIO within the fetcher's deadline and the log says why, cached files read
# on meanwhile, and once the fetcher goes on, cold opens work again.
. "$(dirname "$0")/lib.sh"
t_setup

command -v python3 >/dev/null || bail "python3 is needed"

STALL_PID=
FPID=
stall_cleanup() {
	[ -n "$FPID" ] && kill -CONT "$FPID" 2>/dev/null
	[ -n "$STALL_PID" ] && kill "$STALL_PID" 2>/dev/null
	_cleanup
}
trap stall_cleanup EXIT

W=$T/www
mkdir -p "$T/src" "$W/good"
for f in a b c d e g; do
	random_file "$T/src/$f" 3000000
	eval "h_$f=$(put_blob "$W/good" "$T/src/$f")"
done
chmod -R a+rX "$W"
# Read-ahead guesses the files after a miss along the tree: /a brings /p1 and /p2 in, and nothing
# guesses /b to /e before section 2 opens them.
for f in p1 p2 p3 p4 p5; do
	random_file "$T/src/$f" 1000
	eval "h_$f=$(put_blob "$W/good" "$T/src/$f")"
done
{
	printf '/a|%s|3000000\n' "$h_a"
	for f in p1 p2 p3 p4 p5; do eval "printf '/%s|%s|1000\n' $f \$h_$f"; done
	for f in b c d e g; do eval "printf '/%s|%s|3000000\n' $f \$h_$f"; done
} | write_flist "$T/flists/s.flist"

P_GOOD=$(free_port)
nginx_start "server { listen 127.0.0.1:$P_GOOD; root $W/good; }"

# A server that answers 200 with the file's whole length, sends half of the body and then nothing,
# holding the connection open (a wedged server, or a path that drops packets).
P_STALL=$(free_port)
half_body_start "$P_STALL" "$W/good" hold
STALL_PID=$HALF_PID
for _ in $(seq 50); do
	python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()' \
		"$P_STALL" 2>/dev/null && break
	sleep 0.1
done

cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
[[store]]
url = "http://127.0.0.1:$P_STALL"
[[store]]
url = "http://127.0.0.1:$P_GOOD"
EOF
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# ---- 1. a layer that stalls in the middle of a body -----------------------------------------------------
mount_start "$T/mnt" -l 5 -config "$T/config.toml" || bail "mount failed"
start=$(date +%s%N)
timeout 40 cmp -s "$T/mnt/a" "$T/src/a"; st=$?
took=$(ms_since "$start")
ok $st "a file whose first layer stalls half-way through the body is served by the next layer"
ok $((took >= 8000)) "... in well under the old 16 s (${took} ms)"
like "$(grep "layer http://127.0.0.1:$P_STALL is down" "$T/log")" "stalled|no byte" \
	"... and the stalled layer is marked down, saying why"
start=$(date +%s%N)
cmp -s "$T/mnt/g" "$T/src/g"; st=$?
took=$(ms_since "$start")
ok $st "the next file is served"
ok $((took >= 2000)) "... at once: the stalled layer is skipped while it is down (${took} ms)"

mount_stop

# ---- 2. a fetcher that stops answering --------------------------------------------------------------------
# A mount of the good store alone. /g is read first (read-ahead brings /q1 and /q2 in after it);
# /c, /d, /e and /b are further along the tree, so nothing guesses them before they are opened.
mkdir -p "$T/flists2"
{
	printf '/g|%s|3000000\n' "$h_g"
	for f in p1 p2 p3 p4 p5; do eval "printf '/q%s|%s|1000\n' $f \$h_$f"; done
	for f in c d e b; do eval "printf '/%s|%s|3000000\n' $f \$h_$f"; done
} | write_flist "$T/flists2/s.flist"
cat >"$T/config2.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists2"
cache_dir = "$T/cache2"
[[store]]
url = "http://127.0.0.1:$P_GOOD"
EOF
mount_start "$T/mnt" -l 5 -config "$T/config2.toml" || bail "mount failed"
ok_cmd "a file read through a fetcher that works" cmp -s "$T/mnt/g" "$T/src/g"
# The fetcher is stopped: nothing it was sent is answered, and its channel fills.
FPID=$(worker_pid fetcher)
kill -STOP "$FPID"
start=$(date +%s%N)
readers=()
for f in c d e; do
	(timeout 60 cat "$T/mnt/$f" >/dev/null 2>"$T/err.$f"; echo $? >"$T/st.$f") &
	readers+=($!)
done
sleep 0.5
start_c=$(date +%s%N)
cmp -s "$T/mnt/g" "$T/src/g"; st=$?
ok $st "a cached file reads while the fetcher is stopped"
ok $(($(ms_since "$start_c") >= 1000)) "... at once"
wait "${readers[@]}"
took=$(ms_since "$start")
failed=0
for f in c d e; do [ "$(cat "$T/st.$f")" = 1 ] && grep -q "Input/output error" "$T/err.$f" && failed=$((failed + 1)); done
is "$failed" 3 "cold opens fail with EIO while the fetcher is stopped"
ok $((took >= 12000)) "... within the fetcher's deadline, not after minutes (${took} ms)"
like "$(grep -E '^(WARN|ERROR) indexer' "$T/log")" "fetcher has not answered|fetcher does not answer" \
	"... and the log says why"
kill -CONT "$FPID"
FPID=
start=$(date +%s%N)
timeout 40 cmp -s "$T/mnt/b" "$T/src/b"; st=$?
ok $st "once the fetcher goes on, a cold open works again"
timeout 40 cmp -s "$T/mnt/c" "$T/src/c"; st=$?
ok $st "... and so does one that failed while it was stopped"
like "$(grep 'indexer' "$T/log")" "the fetcher answers again" "... and the log says so"
mount_stop
is "$STOP_STATUS" 0 "the mount stops cleanly"

done_testing
