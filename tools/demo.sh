#!/usr/bin/env bash
# demo.sh — publish a real tree into a store with aysfs-pack, serve the store over HTTP with nginx
# on 127.0.0.1, and mount it with the real supervisor: blobs come through the fetcher, verified
# (run by `make demo`, as root). Safe to run again: a previous demo is stopped first.
set -eu
cd "$(dirname "$0")/.."
B=${AYSFS_BUILD:-build/release}
D=${AYSFS_DEMO_DIR:-/var/tmp/aysfs-demo}
SRC=${AYSFS_DEMO_SRC:-/usr/lib/python3.11}
ID=python3

[ "$(id -u)" = 0 ] || { echo "demo: run as root (it mounts a filesystem)" >&2; exit 1; }
[ -d "$SRC" ] || SRC=/usr/share/doc

# A previous demo: stop its supervisor (it unmounts), and clear a mount it may have left.
if [ -f "$D/supervisor.pid" ] && kill -0 "$(cat "$D/supervisor.pid")" 2>/dev/null; then
	kill -TERM "$(cat "$D/supervisor.pid")"
	for _ in $(seq 50); do kill -0 "$(cat "$D/supervisor.pid")" 2>/dev/null || break; sleep 0.1; done
fi
mountpoint -q "$D/mnt" 2>/dev/null && umount -l "$D/mnt"
[ -s "$D/nginx.pid" ] && kill "$(cat "$D/nginx.pid")" 2>/dev/null && sleep 0.5
mkdir -p "$D/store" "$D/mnt" "$D/nginx-tmp"   # the supervisor makes the cache folder, for the indexer
chmod 755 "$D" "$D/store"
rm -rf "$D/cache"                             # start cold: every blob comes over HTTP

echo "== publishing $SRC into the store $D/store"
"$B/aysfs-pack" -prefix /opt/python3 "$SRC" "$D/store" "$ID"

PORT=${AYSFS_DEMO_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
echo "== serving the store on http://127.0.0.1:$PORT (nginx, pid file $D/nginx.pid)"
cat >"$D/nginx.conf" <<EOF2
worker_processes 1;
pid $D/nginx.pid;
error_log $D/nginx.err;
events { worker_connections 64; }
http {
	access_log $D/access.log;
	client_body_temp_path $D/nginx-tmp;
	proxy_temp_path $D/nginx-tmp;
	fastcgi_temp_path $D/nginx-tmp;
	uwsgi_temp_path $D/nginx-tmp;
	scgi_temp_path $D/nginx-tmp;
	server { listen 127.0.0.1:$PORT; root $D/store; }
}
EOF2
: >"$D/access.log"
nginx -c "$D/nginx.conf" -p "$D/" || { cat "$D/nginx.err"; exit 1; }

cat >"$D/config.toml" <<EOF2
# The demo's configuration: one service; its flist and blobs come from the store over HTTP.
[main]
id = "demo"
prefix = "/opt"
cache_dir = "$D/cache"
flist_dir = "$D/flists"

[[ays]]
id = "$ID"

[[store]]
url = "http://127.0.0.1:$PORT"
EOF2

echo "== mounting it at $D/mnt"
: >"$D/supervisor.log"
setsid "$B/aysfs-supervisor" -config "$D/config.toml" -pidfile "$D/supervisor.pid" "$D/mnt" \
	</dev/null >>"$D/supervisor.log" 2>&1 &
for _ in $(seq 200); do
	grep -q "serving $D/mnt" "$D/supervisor.log" && break
	sleep 0.1
done
grep -q "serving $D/mnt" "$D/supervisor.log" || { cat "$D/supervisor.log"; echo "demo: mount failed" >&2; exit 1; }
sed 's/^/   /' "$D/supervisor.log"

echo "== ls $D/mnt/python3 | head"
ls "$D/mnt/python3" | head
echo "== head -5 $D/mnt/python3/os.py (fetched over HTTP by the fetcher, verified, now cached)"
head -5 "$D/mnt/python3/os.py" 2>/dev/null || head -5 "$(find "$D/mnt/python3" -type f | head -1)"
echo "== the mounted interpreter's library at work"
PYTHONPATH= python3 -S -c "import sys; sys.path.insert(0, '$D/mnt/python3'); import json, textwrap; print('json from', json.__file__)" || true
cat <<EOF2

HTTP requests so far: $(grep -c ' 200 ' "$D/access.log") (nginx log $D/access.log)
The tree is served at $D/mnt/python3 (log: $D/supervisor.log; xattrs: getfattr -d FILE).
To stop: kill -TERM \$(cat $D/supervisor.pid); kill \$(cat $D/nginx.pid)   (or run make demo again)
EOF2
