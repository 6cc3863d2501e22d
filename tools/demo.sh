#!/usr/bin/env bash
# demo.sh — publish a real tree into a local store with aysfs-pack and mount it with the real
# supervisor (run by `make demo`, as root). Safe to run again: a previous demo mount is stopped first.
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
mkdir -p "$D/store" "$D/mnt"   # the supervisor makes the cache folder, for the indexer
chmod 755 "$D" "$D/store"

echo "== publishing $SRC into the store $D/store"
"$B/aysfs-pack" -prefix /opt/python3 "$SRC" "$D/store" "$ID"

cat >"$D/config.toml" <<EOF2
# The demo's configuration: one service, taken from a local store.
[main]
id = "demo"
prefix = "/opt"
cache_dir = "$D/cache"
flist_dir = "$D/flists"

[[ays]]
id = "$ID"

[[store]]
url = "$D/store"
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
echo "== head -5 $D/mnt/python3/os.py (fetched from the store, verified, now cached)"
head -5 "$D/mnt/python3/os.py" 2>/dev/null || head -5 "$(find "$D/mnt/python3" -type f | head -1)"
echo "== the mounted interpreter's library at work"
PYTHONPATH= python3 -S -c "import sys; sys.path.insert(0, '$D/mnt/python3'); import json, textwrap; print('json from', json.__file__)" || true
cat <<EOF2

The tree is served at $D/mnt/python3 (log: $D/supervisor.log; xattrs: getfattr -d FILE).
To unmount: kill -TERM \$(cat $D/supervisor.pid)     (or run make demo again to start afresh)
EOF2
