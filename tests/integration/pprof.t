#!/usr/bin/env bash
# -pprof: the live status server of SPEC section 1, served by the status worker (never root, never
# the fuser) on a socket root bound on loopback. /metrics answers 200 and passes promtool; reading
# files makes the counters rise by the right amounts; a layer stopped mid-test shows as backing off
# in /metrics and in the page; the port is bound on 127.0.0.1 only (/proc/net/tcp); a non-loopback
# -pprof-addr exits 1; 500 slow clients do not delay reads of cached files and are all closed by
# their deadline; headless Chromium renders the page (a screenshot in the output folder, its DOM
# names every layer); without -pprof nothing listens. The status worker's seccomp list accepts
# only on the fds it was given. Failures by kind (a refused port, a 503, a server that holds),
# the blob-fetch histogram (_count = the blobs fetched), restarts by cause (SIGKILL: "signal"),
# and a worker's warning on the page Chromium renders.
. "$(dirname "$0")/lib.sh"
t_setup
CTL=$AYSFS_BUILD/aysfs-ctl
TRY=$AYSFS_BUILD/tests/try-syscall
OUT=${AYSFS_TEST_OUT:-$AYSFS_BUILD/test-output}/pprof
mkdir -p "$OUT"
for tool in curl promtool chromium python3; do
	command -v $tool >/dev/null || bail "$tool is needed (tools/deps.sh installs it)"
done
[ -x "$TRY" ] || bail "no $TRY: make tests"

# ---- a store over HTTP and one in a folder --------------------------------------------------------
W=$T/www
mkdir -p "$T/src" "$W/store" "$T/flists" "$T/local"
: >"$T/svc.flist"
for i in 1 2 3 4 5 6; do
	random_file "$T/src/f$i" $(( 4194305 + i * 1000 ))   # over 4 MiB: no read-ahead guesses them
	h=$(put_blob "$W/store" "$T/src/f$i")
	echo "/f$i|$h|$(stat -c %s "$T/src/f$i")" >>"$T/svc.flist"
done
# f7's blob is in no store: its open tries the failing layers after the store's 404.
random_file "$T/f7" 1000
echo "/f7|$(put_blob "$T/nowhere" "$T/f7")|1000" >>"$T/svc.flist"
write_flist "$T/flists/svc.flist" <"$T/svc.flist"
chmod -R a+rX "$W" "$T/local"
PORT=$(free_port)
P503=$(free_port)
nginx_start "server { listen 127.0.0.1:$PORT; root $W; }" "server { listen 127.0.0.1:$P503; return 503; }"
STORE="http://127.0.0.1:$PORT/store"
REFUSED="http://127.0.0.1:$(free_port)/store"   # nothing listens there
S503="http://127.0.0.1:$P503/store"
# A server that answers 200 with a length, sends no byte of the body and holds (the fetcher's
# stall deadline ends it: a timeout). It stops by itself.
PHOLD=$(free_port)
python3 - "$PHOLD" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
s.settimeout(1)
held = []
end = time.monotonic() + 300
while time.monotonic() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.recv(4096)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    held.append(c)
PY
HOLD_PID=$!
HOLD="http://127.0.0.1:$PHOLD/store"
cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
[[store]]
url = "$T/local"
[[store]]
url = "$STORE"
[[store]]
url = "$REFUSED"
[[store]]
url = "$S503"
[[store]]
url = "$HOLD"
EOF

# listening_inodes PID…: the socket inodes of those processes' fds that /proc/net/tcp{,6} lists as
# listening (state 0A).
listening_inodes() {
	local pid fds
	fds=$(for pid in "$@"; do ls -l /proc/"$pid"/fd 2>/dev/null; done | sed -n 's/.*socket:\[\([0-9]*\)\]/\1/p' | sort -u)
	awk '$4 == "0A" { print $10 }' /proc/net/tcp /proc/net/tcp6 | sort -u | comm -12 - <(echo "$fds")
}
tree_pids() { echo "$SUP_PID $(pgrep -P "$SUP_PID" | tr '\n' ' ')"; }

# ---- a non-loopback address is a configuration error -----------------------------------------------
for a in 0.0.0.0:6060 192.0.2.1:80 "[::]:6060" 10.1.2.3:6060 nohost 127.0.0.1:0 127.0.0.1:99999; do
	out=$("$SUPERVISOR" -config "$T/config.toml" -pprof-addr "$a" "$T/mnt" 2>&1); st=$?
	is "$st" 1 "-pprof-addr $a exits 1"
done
like "$("$SUPERVISOR" -pprof-addr 0.0.0.0:6060 "$T/mnt" 2>&1)" "ERROR: -pprof-addr 0.0.0.0:6060: not a loopback address" \
	"and says it is not a loopback address"
is "$(! is_mounted "$T/mnt" && echo y)" y "nothing was mounted"

# ---- without -pprof, nothing listens -----------------------------------------------------------------
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
is "$(listening_inodes $(tree_pids) | wc -l)" 0 "without -pprof no process of the mount listens on TCP"
is "$(pgrep -P "$SUP_PID" -f aysfs-status >/dev/null && echo y)" y "the status worker runs (it serves aysfs-ctl)"
like "$("$CTL" "$T/mnt" status)" "status +pid $(worker_pid status), restarts 0" "aysfs-ctl status lists it"
mount_stop
is "$STOP_STATUS" 0 "stopped"

# ---- with -pprof-addr ----------------------------------------------------------------------------------
HP=$(free_port)
URL="http://127.0.0.1:$HP"
mount_start "$T/mnt" -config "$T/config.toml" -pprof-addr "127.0.0.1:$HP" || bail "mount failed"
SPID=$(worker_pid status)
is "$([ -n "$SPID" ] && [ "$(stat -c %U /proc/"$SPID")" = aysfs-status ] && echo y)" y "the status worker runs as aysfs-status"
hexport=$(printf '%04X' "$HP")
is "$(awk -v p=":$hexport" '$4 == "0A" && substr($2, length($2) - 4) == p { print $2 }' /proc/net/tcp /proc/net/tcp6 | sort -u)" \
	"0100007F:$hexport" "the port is bound on 127.0.0.1 only (/proc/net/tcp)"
is "$(listening_inodes $(tree_pids) | wc -l)" 1 "one listening TCP socket in the mount's processes"
is "$(listening_inodes "$SPID" | grep -q . && echo y)" y "held by the status worker"
is "$(listening_inodes "$(worker_pid fuser)" | grep -q . || echo y)" y "not by the fuser"

code=$(curl -s -o "$T/m0" -w '%{http_code}' "$URL/metrics")
is "$code" 200 "/metrics answers 200"
ok_cmd "promtool check metrics passes" sh -c "promtool check metrics <'$T/m0' 2>'$T/promtool.err'"
[ -s "$T/promtool.err" ] && sed 's/^/# promtool: /' "$T/promtool.err"
like "$(curl -sI "$URL/metrics")" "Content-Type: text/plain; version=0.0.4" "in Prometheus text format 0.0.4"
is "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/metrics")" 405 "POST is refused (405)"
is "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nothing")" 404 "an unknown path is 404"

# metric NAME [FILE]: its value (labels included in NAME) in the last /metrics (or FILE).
metric() { awk -v n="$1" '$1 == n { print $2 }' "${2:-$T/m}"; }
scrape() { curl -s "$URL/metrics" >"$T/m"; }
scrape
L="{layer=\"$STORE\"}"
req0=$(metric "aysfs_layer_requests_total$L"); bytes0=$(metric "aysfs_layer_bytes_total$L")
miss0=$(metric aysfs_cache_misses_total); served0=$(metric "aysfs_layer_blobs_served_total$L")
opens0=$(metric aysfs_opens_total); rbytes0=$(metric aysfs_read_bytes_total)
is "$req0" 0 "no request to the store yet"
sum=0
for i in 1 2 3; do
	cat "$T/mnt/f$i" >/dev/null
	sum=$(( sum + $(stat -c %s "$T/src/f$i") ))
done
scrape
is "$(metric "aysfs_layer_requests_total$L")" $(( req0 + 3 )) "three files read: the store's requests rise by 3"
is "$(metric "aysfs_layer_bytes_total$L")" $(( bytes0 + sum )) "its bytes by their sizes ($sum)"
is "$(metric aysfs_cache_misses_total)" $(( miss0 + 3 )) "the cache's misses by 3"
is "$(metric "aysfs_layer_blobs_served_total$L")" $(( served0 + 3 )) "blobs served from that layer by 3"
is "$(metric aysfs_opens_total)" $(( opens0 + 3 )) "the fuser's opens by 3"
is "$(metric aysfs_read_bytes_total)" $(( rbytes0 + sum )) "its bytes served by reads by $sum"
is "$(metric "aysfs_layer_up$L")" 1 "the layer is up"
is "$(metric aysfs_tree_entries)" 8 "the tree's entries"
is "$(metric 'aysfs_service_entries{service="svc"}')" 8 "the service's entries (aysfs_service_entries)"
H="aysfs_layer_fetch_seconds"
is "$(metric "${H}_count$L")" 3 "the blob-fetch histogram's _count is the blobs fetched (3)"
is "$(metric "${H}_bucket{layer=\"$STORE\",le=\"+Inf\"}")" 3 "its +Inf bucket too"
is "$(awk -v v="$(metric "${H}_sum$L")" 'BEGIN { exit !(v > 0 && v < 30) }' && echo y)" y \
	"its _sum is seconds ($(metric "${H}_sum$L"))"
is "$(metric "aysfs_layer_failures_total{layer=\"$STORE\",kind=\"refused\"}")" 0 "no failure of the store yet"

# Reloads: one that builds a tree, one that fails (a broken configuration keeps the tree).
rl0=$(metric aysfs_reloads_total); rf0=$(metric aysfs_reload_failures_total)
is "$rl0/$rf0" "0/0" "no reload yet"
kill -HUP "$SUP_PID"
for _ in $(seq 100); do scrape; [ "$(metric aysfs_reloads_total)" = 1 ] && break; sleep 0.1; done
is "$(metric aysfs_reloads_total)" 1 "a reload on SIGHUP: aysfs_reloads_total 1"
cp "$T/config.toml" "$T/config.good"
echo "this is = = not toml" >>"$T/config.toml"
kill -HUP "$SUP_PID"
for _ in $(seq 100); do scrape; [ "$(metric aysfs_reload_failures_total)" = 1 ] && break; sleep 0.1; done
is "$(metric aysfs_reload_failures_total)/$(metric aysfs_reloads_total)" "1/1" \
	"a broken configuration: aysfs_reload_failures_total 1, no new reload"
cp "$T/config.good" "$T/config.toml"
scrape

# ---- counters survive a restarted fetcher --------------------------------------------------------------
kill -9 "$(worker_pid fetcher)"
FR='aysfs_worker_restarts_total{worker="fetcher",cause="signal"}'
for _ in $(seq 50); do
	[ "$(curl -s "$URL/metrics" | awk -v n="$FR" '$1 == n { print $2 }')" = 1 ] && break
	sleep 0.1
done
scrape
is "$(metric "$FR")" 1 "the fetcher's restart is counted, cause signal (SIGKILL)"
is "$(metric 'aysfs_worker_restarts_total{worker="fetcher",cause="exited"}')" 0 "and not as an exit"
is "$(metric "aysfs_layer_requests_total$L")" $(( req0 + 3 )) "and its requests counter did not drop"

# ---- a restarted status worker gets the same sockets -----------------------------------------------
old=$(worker_pid status)
kill -9 "$old"
for _ in $(seq 50); do
	new=$(worker_pid status)
	[ -n "$new" ] && [ "$new" != "$old" ] && curl -s -o /dev/null "$URL/metrics" && break
	sleep 0.1
done
is "$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics")" 200 "a killed status worker is restarted and serves /metrics again"
like "$("$CTL" "$T/mnt" status)" "status +pid $(worker_pid status), restarts 1" "and aysfs-ctl, on the same sockets"
scrape
is "$(metric 'aysfs_worker_restarts_total{worker="status",cause="signal"}')" 1 "its restart is counted"

# ---- 500 slow clients, and reads of cached files meanwhile -------------------------------------------
lat() {         # lat: milliseconds of 30 reads of the three cached files
	python3 - "$T/mnt" <<'EOF'
import sys, time
t = time.monotonic()
for _ in range(10):
    for i in (1, 2, 3):
        with open(f"{sys.argv[1]}/f{i}", "rb") as f:
            while f.read(1 << 20):
                pass
print(int((time.monotonic() - t) * 1000))
EOF
}
lat >/dev/null
before=$(lat)
python3 - "$HP" "$T/flood" <<'EOF' &
import socket, sys, time
socks = []
for _ in range(500):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", int(sys.argv[1])))
    except BlockingIOError:
        pass
    socks.append(s)
open(sys.argv[2] + ".started", "w").close()
start = time.monotonic()
closed = set()
while time.monotonic() - start < 15 and len(closed) < len(socks):
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            d = s.recv(4096)
            if d == b"" or d.startswith(b"HTTP/1.1 503"):
                closed.add(i)
        except BlockingIOError:
            pass
        except OSError:
            closed.add(i)
    time.sleep(0.05)
with open(sys.argv[2], "w") as f:
    f.write("%d %.1f\n" % (len(closed), time.monotonic() - start))
EOF
FLOOD=$!
for _ in $(seq 50); do [ -e "$T/flood.started" ] && break; sleep 0.1; done
during=$(lat)
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$URL/metrics")
wait $FLOOD
diag "30 reads of cached files: ${before} ms before, ${during} ms during the flood"
is "$([ "$during" -le $(( before * 2 > 20 ? before * 2 : 20 )) ] && echo y)" y \
	"500 slow clients do not delay reads of cached files (${during} ms ≤ 2 × ${before} ms)"
read -r nclosed secs <"$T/flood"
is "$nclosed" 500 "every slow client was closed (in ${secs} s)"
is "$(awk -v s="$secs" 'BEGIN { exit !(s < 8) }' && echo y)" y "by the deadline (5 s, closed within ${secs} s)"
like "$code" "200|503" "the server still answers during or after the flood ($code)"
is "$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics")" 200 "and 200 once it is over"

# ---- failures by kind -------------------------------------------------------------------------------
scrape
h0=$(metric "${H}_count$L")
ok_cmd "f7, in no store, cannot be read" sh -c "! cat '$T/mnt/f7' >/dev/null 2>&1"
scrape
kind() { metric "aysfs_layer_failures_total{layer=\"$1\",kind=\"$2\"}"; }
is "$(kind "$REFUSED" refused)" 1 "a refused port counts as kind refused"
is "$(kind "$S503" http_5xx)" 1 "a 503 as kind http_5xx"
is "$(kind "$HOLD" timeout)" 1 "a server that holds as kind timeout"
is "$(kind "$STORE" refused)$(kind "$REFUSED" timeout)$(kind "$S503" refused)" 000 "and nothing else is counted"
is "$(metric "${H}_count$L")" "$h0" "failed fetches are not in the histogram"
ok_cmd "promtool check metrics passes with failures and histograms" sh -c "promtool check metrics <'$T/m'"

# ---- a layer stopped mid-test --------------------------------------------------------------------------
nginx_stop
cat "$T/mnt/f5" >/dev/null 2>&1
cat "$T/mnt/f6" >/dev/null 2>&1
scrape
is "$(metric "aysfs_layer_up$L")" 0 "a stopped layer shows as down in /metrics (aysfs_layer_up 0)"
is "$(awk -v v="$(kind "$STORE" refused)" 'BEGIN { exit !(v >= 1) }' && echo y)" y \
	"its failures are counted, kind refused ($(kind "$STORE" refused))"
is "$(awk -v v="$(metric "aysfs_layer_backoff_seconds$L")" 'BEGIN { exit !(v > 0) }' && echo y)" y \
	"with its seconds of back-off left ($(metric "aysfs_layer_backoff_seconds$L"))"
curl -s "$URL/debug/status" >"$T/page.html"
like "$(grep -F "$STORE" "$T/page.html")" "backing off, [0-9]+ s left" "and as backing off in the page"
ok_cmd "the page needs no script and no other resource" sh -c "! grep -Eiq '<script|src=|<link|@import' '$T/page.html'"
curl -s "$URL/debug/status.json" >"$T/status.json"
"$CTL" -json "$T/mnt" status >"$T/ctl.json"
ok_cmd "/debug/status.json is valid JSON" python3 -m json.tool "$T/status.json"
is "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(sorted(j["indexer"]["layers (blobs served since the indexer started)"]))' "$T/status.json")" \
	"$(python3 -c 'import sys; print(sorted(sys.argv[1:]))' "$T/local" "$STORE" "$REFUSED" "$S503" "$HOLD")" "it lists every layer"
like "$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["fetcher"]["network layers (downloads since the fetcher started)"][sys.argv[2]])' "$T/status.json" "$STORE")" \
	"^down for [0-9]+ s more" "and the stopped one as down"
# Both made a second apart at most: the same but for "N s ago" and the seconds of a back-off.
norm() { python3 -c 'import json,re,sys; print(re.sub(r"[0-9]+ s (ago|more)", "N", json.dumps(json.load(open(sys.argv[1])), sort_keys=True)))' "$1"; }
is "$(norm "$T/status.json")" "$(norm "$T/ctl.json")" "aysfs-ctl -json status prints the same JSON"

# ---- headless Chromium ---------------------------------------------------------------------------------
CHROME=(chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$T/chrome")
rm -f "$OUT/status.png"
timeout 60 "${CHROME[@]}" --window-size=1200,900 --screenshot="$OUT/status.png" "$URL/debug/status" >"$T/chrome.log" 2>&1
is "$([ -s "$OUT/status.png" ] && echo y)" y "Chromium renders the page into $OUT/status.png"
timeout 60 "${CHROME[@]}" --dump-dom "$URL/debug/status" >"$T/dom.html" 2>>"$T/chrome.log"
cp "$T/chrome.log" "$OUT/chrome.log"
for l in "$T/local" "$STORE" "$REFUSED" "$S503" "$HOLD"; do
	is "$(grep -qF "$l" "$T/dom.html" && echo y)" y "its DOM names the layer $l"
done
like "$(tr -d '\n' <"$T/dom.html")" "<h2>Services</h2>.*<td>svc</td><td>8</td>" \
	"and its services, with their entries"
like "$(grep -F "layer ${S503%/store} is down" "$T/dom.html")" "<td>fetcher</td><td>WARN</td>" \
	"and the fetcher's warning that the 503 layer is down, under the last warnings and errors"
like "$(sed -n '/Last warnings/,$p' "$T/dom.html" | grep -c '<tr><td>[0-9]* s ago')" "^([1-9]|1[0-9]|20)$" \
	"20 of them at most"

# ---- the status worker's allow-list -------------------------------------------------------------------
is "$("$TRY" status accept-fd4 accept-other socket-inet socket-unix open-read execve 2>/dev/null | tr '\n' ' ')" \
	"status accept-fd4 errno:ENOTSOCK status accept-other killed status socket-inet killed status socket-unix killed status open-read $("$TRY" -relaxed && echo ok || echo killed) status execve killed " \
	"the status worker's seccomp list: accept4 on fd 4 (and 5) only, no socket, no open, no exec"

kill "$HOLD_PID" 2>/dev/null; wait "$HOLD_PID" 2>/dev/null
mount_stop
is "$STOP_STATUS" 0 "SIGTERM stops the mount"
is "$( (exec 3<>/dev/tcp/127.0.0.1/"$HP") 2>/dev/null || echo y)" y "and nothing listens on the port any more"
done_testing
