#!/usr/bin/env bash
# The tools as people use them every day: aysfs-ctl's options (an unknown one said as such,
# -json for status and cache: valid JSON, numbers as numbers, strings escaped), evict with a path
# relative to the mountpoint, one message style for aysfs-ctl and aysfs-supervisor
# ("program: LEVEL: message"), and log lines that start with the time (RFC 3339, ms) unless
# stderr is the journal (JOURNAL_STREAM naming stderr's device:inode).
. "$(dirname "$0")/lib.sh"
t_setup
CTL=$AYSFS_BUILD/aysfs-ctl
command -v python3 >/dev/null || bail "python3 is needed"

# A store whose path needs escaping in JSON: a quote and a backslash.
S='st"o\re'
mkdir -p "$T/src" "$T/$S" "$T/mnt" "$T/elsewhere"
random_file "$T/src/a" 5000
random_file "$T/src/b" 6000
ha=$(put_blob "$T/$S" "$T/src/a")
hb=$(put_blob "$T/$S" "$T/src/b")
printf '/a|%s|5000\n/d/b|%s|6000\n' "$ha" "$hb" | write_flist "$T/flists/s.flist"
chmod -R a+rX "$T/$S"
cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
[[store]]
url = '$T/$S'
EOF

# ---- options and messages --------------------------------------------------------------------
out=$("$CTL" -bogus 2>&1); st=$?
is "$st" 1 "aysfs-ctl -bogus exits 1"
is "$(printf '%s\n' "$out" | head -1)" "aysfs-ctl: ERROR: unknown option -bogus" "and says it is an unknown option"
out=$("$CTL" "$T/mnt" status -bogus 2>&1); st=$?
is "$st" 1 "an unknown option after the command too"
like "$out" "^aysfs-ctl: ERROR: unknown option -bogus" "... said the same way"
out=$("$CTL" "$T/mnt" status 2>&1); st=$?
is "$st" 2 "no mount there: exit 2"
like "$out" "^aysfs-ctl: ERROR: no aysfs-supervisor serves $T/mnt" "... as program: LEVEL: message"
out=$("$SUPERVISOR" -bogus "$T/mnt" 2>&1); st=$?
is "$st" 1 "aysfs-supervisor -bogus exits 1"
is "$(printf '%s\n' "$out" | head -1)" "aysfs-supervisor: ERROR: unknown option -bogus" "... in the same style"

# ---- -json ---------------------------------------------------------------------------------------
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
cat "$T/mnt/a" "$T/mnt/d/b" >/dev/null
out=$("$CTL" -json "$T/mnt" status 2>&1); st=$?
is "$st" 0 "status -json exits 0"
printf '%s' "$out" >"$T/status.json"
ok_cmd "and prints valid JSON (python3 -m json.tool)" python3 -m json.tool "$T/status.json"
got=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
print(j["mount"])
print(j["workers"]["fuser"].split(",")[0])
c = [v for k, v in j["indexer"].items() if k.startswith("cache ")][0]
print(type(c["blobs"]).__name__, c["blobs"], type(c["hit_rate"]).__name__)
l = j["indexer"]["layers (blobs served since the indexer started)"]
print(sorted(l)[0])
' "$T/status.json" 2>&1)
is "$got" "$T/mnt
pid $(worker_pid fuser)
int 2 float
$T/$S" "its members: the mount, each worker, the cache's figures as numbers, the layer's path (a quote and a backslash) intact"
like "$(cat "$T/status.json")" 'st\\"o\\\\re' "... escaped in the JSON text"
out=$("$CTL" "$T/mnt" cache -json 2>&1); st=$?
is "$st" 0 "cache -json exits 0"
is "$(printf '%s' "$out" | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["blobs"], j["limit"] > 0, sorted(j) == sorted(set(j)))')" \
	"2 True True" "and is one JSON object of the cache's figures"
out=$("$CTL" -json "$T/mnt" reload 2>&1); st=$?
is "$st" 1 "-json with another command is a usage error"
like "$out" "^aysfs-ctl: ERROR: -json is for status and cache" "... saying so"

# ---- evict PATH relative to the mountpoint -------------------------------------------------------
ok_cmd "b's blob is cached" test -f "$(blob_path "$T/cache" "$hb")"
out=$(cd "$T/elsewhere" && "$CTL" "$T/mnt" evict d/b 2>&1); st=$?
is "$st" 0 "evict d/b (relative, from another folder) exits 0"
like "$out" "evicted $T/mnt/d/b" "and names the file under the mountpoint"
ok_cmd "its blob is gone" test ! -e "$(blob_path "$T/cache" "$hb")"
out=$("$CTL" "$T/mnt" evict "$T/mnt/a" 2>&1); st=$?
is "$st" 0 "an absolute path still works"
out=$("$CTL" "$T/mnt" evict nope 2>&1); st=$?
is "$st" 1 "evict of a path the tree lacks exits 1"
is "$out" "aysfs-ctl: ERROR: $T/mnt/nope: no such file in the mount" "and its reason comes as program: LEVEL: message"
mount_stop

# ---- the time at the start of each log line ------------------------------------------------------
stamp='^[0-9]{4}-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]\.[0-9]{3}Z [A-Z]+ [a-z]+: '
run_log() {     # run_log FILE [ENV…]: a mount's log with the given environment, stopped at once
	: >"$1"
	local f=$1
	shift
	env "$@" "$SUPERVISOR" -config "$T/config.toml" "$T/mnt" 2>>"$f" &
	local pid=$!
	for _ in $(seq 100); do grep -q "serving $T/mnt" "$f" && break; sleep 0.1; done
	kill -TERM "$pid"; wait "$pid"
}
run_log "$T/plain.log" -u JOURNAL_STREAM
is "$(grep -cvE "$stamp" "$T/plain.log")" 0 "stderr not the journal: every line starts with the time (RFC 3339, ms, UTC)"
for c in supervisor config indexer fuser fetcher; do
	grep -qE "^[^ ]+ [A-Z]+ $c: " "$T/plain.log"; ok $? "... $c's lines too"
done
t=$(head -1 "$T/plain.log" | cut -c1-19)
now=$(date -u +%s)
ok $(( $(date -u -d "${t}Z" +%s) > now - 120 && $(date -u -d "${t}Z" +%s) <= now ? 0 : 1)) "and it is the time now ($t)"
: >"$T/journal.log"
run_log "$T/journal.log" JOURNAL_STREAM="$(stat -c %d:%i "$T/journal.log")"
is "$(grep -cE "$stamp" "$T/journal.log")" 0 "stderr the journal (JOURNAL_STREAM is its device:inode): no time"
like "$(head -1 "$T/journal.log")" '^[A-Z]+ [a-z]+: ' "... LEVEL component: message"
run_log "$T/other.log" JOURNAL_STREAM="$(stat -c %d:%i "$T/journal.log")"
is "$(grep -cvE "$stamp" "$T/other.log")" 0 "JOURNAL_STREAM naming another stream: the time again"
done_testing
