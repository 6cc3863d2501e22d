#!/usr/bin/env bash
# Read-ahead over a network layer (a real nginx): a tar of a whole tree from an empty cache reads
# every file right, with one GET per blob, and read-ahead follows the depth-first walk across folder
# boundaries (into a subfolder, back out to the parent's next entries, on to the next folder), so
# the opens seldom wait on the network; no warning. A reader that jumps around (each file far from
# the one before it in the walk) costs no guess. An open of a file whose guess still waits in the
# indexer's read-ahead queue takes the guess over, served as an open. Read-ahead goes only to layers
# the opens have tried and found answering: a dead layer before the good one is tried once, by the
# first open, and not again by read-ahead (neither while it is down nor once its back-off is over).
. "$(dirname "$0")/lib.sh"
t_setup

command -v nginx >/dev/null || bail "nginx is needed (nginx-light)"
CTL=$AYSFS_BUILD/aysfs-ctl
[ -x "$CTL" ] || bail "no $CTL: build first"

# ---- the tree: 10 folders of 20 files (1-20 KB), a subfolder in the middle of d03, empty files, a
# symlink ---------------------------------------------------------------------------------------------
W=$T/www
S=$T/src
mkdir -p "$W" "$S"
: >"$T/flist.in"
: >"$T/blobs"           # the URI path of every blob, one a line
add_file() {            # add_file REL BYTES
	local h
	random_file "$S/$1" "$2"
	h=$(put_blob "$W" "$S/$1")
	echo "/$1|$h|$2" >>"$T/flist.in"
	echo "/dedupe/${h:0:1}/${h:1:1}/$h" >>"$T/blobs"
}
for d in $(seq -f %02g 0 9); do
	mkdir -p "$S/d$d"
	for f in $(seq -w 0 19); do
		add_file "d$d/f$f" $((1024 + RANDOM % 19457))
	done
done
# d03/f10-sub sorts between d03/f10 and d03/f11: the walk goes into it and back out.
mkdir -p "$S/d03/f10-sub"
for f in 0 1 2 3 4; do
	add_file "d03/f10-sub/s$f" $((1024 + RANDOM % 19457))
done
# p/: 40 files of 24 KiB, for the slow server of section 2b.
mkdir -p "$S/p"
for f in $(seq -w 0 39); do
	add_file "p/f$f" 24576
done
: >"$S/d05/empty0"
: >"$S/d07/empty1"
ln -s f00 "$S/d01/link"
cat >>"$T/flist.in" <<FL
/d05/empty0||0
/d07/empty1||0
/d01/link||0|type=l|link=f00
FL
write_flist "$T/flists/svc.flist" <"$T/flist.in"
chmod -R a+rX "$W"
NBLOBS=$(sort -u "$T/blobs" | wc -l)
NFILES=$(find "$S" -type f | wc -l)
[ "$NBLOBS" = "$(wc -l <"$T/blobs")" ] || bail "two random files came out the same"

# ---- nginx, logging method, status and path of every request ------------------------------------
PORT=$(free_port)
P_DEAD=$(free_port)      # nothing listens there
P_SLOW=$(free_port)      # the same store at 16 KiB/s a connection: 1.5 s a file of p/
nginx_start "log_format ahead '\$request_method \$status \$uri';
	server { listen 127.0.0.1:$PORT; root $W; access_log $T/access.log ahead; }
	server { listen 127.0.0.1:$P_SLOW; root $W; access_log $T/access.log ahead; limit_rate 16k; }"

# config FILE CACHE_DIR STORE_URL…
config() {
	local f=$1 c=$2 u
	shift 2
	{
		printf '[main]\nprefix = "/"\nflist_dir = "%s"\ncache_dir = "%s"\n' "$T/flists" "$c"
		for u in "$@"; do printf '[[store]]\nurl = "%s"\n' "$u"; done
	} >"$f"
}
# gets: the paths of the blobs GET from nginx since the log was emptied, sorted.
gets() { awk '$1 == "GET" && $3 ~ "^/dedupe/" { print $3 }' "$T/access.log" | sort; }
# ctl_cache KEY: that line's number in `aysfs-ctl MNT cache`.
ctl_cache() { "$CTL" "$T/mnt" cache 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }

# ---- 1. tar of the whole tree from an empty cache ----------------------------------------------------
config "$T/c1.toml" "$T/cache1" "http://127.0.0.1:$PORT"
: >"$T/access.log"
mount_start "$T/mnt" -config "$T/c1.toml" || bail "mount failed"
mkdir -p "$T/out"
start=$(date +%s%N)
tar -C "$T/mnt" -cf - . | tar -C "$T/out" -xf -
ok $? "tar of the whole tree through the mount, from an empty cache"
diag "tar of $NFILES files took $((($(date +%s%N) - start) / 1000000)) ms"
diff -r --no-dereference "$S" "$T/out" >"$T/diff" 2>&1
st=$?
ok $st "every file, empty file and symlink is byte-identical to the source"
[ $st = 0 ] || sed -n '1,10s/^/#   /p' "$T/diff"
is "$(find "$T/out" -type f | wc -l)" "$NFILES" "... all $NFILES files are there"
is "$(gets | md5sum)" "$(sort "$T/blobs" | md5sum)" "exactly one GET per blob ($NBLOBS), none twice"
is "$(grep -c '^GET 200 /dedupe/' "$T/access.log")" "$NBLOBS" "... each answered 200"
# Misses are the opens that waited on a layer; read-ahead's downloads are not counted. The walk has
# 11 folders (10, and d03's subfolder, entered and left in the middle of d03), so a read-ahead that
# stopped at a folder's end would miss at least once per folder (11); with read-ahead crossing
# folder boundaries only the first opens miss: the guesses of the very first one may be asked before
# the layer has answered once, and are then "not tried" (measured: 1 or 2).
misses=$(ctl_cache misses)
diag "aysfs-ctl cache after the tar: misses $misses, hits $(ctl_cache hits)"
ok $((! (misses >= 1 && misses <= 3))) "read-ahead crosses folder boundaries: $misses misses for 11 folders (1 to 3)"
is "$(grep -cE '^(WARN|ERROR|CRIT)' "$T/log")" 0 "no warning or error in the log"
mount_stop

# ---- 2. a reader that jumps around: no guess -------------------------------------------------------
# The first file of each folder, last folder first: each open misses a file that is not among the
# next few of the walk from the file opened before it, so read-ahead guesses nothing.
config "$T/c2.toml" "$T/cache2" "http://127.0.0.1:$PORT"
: >"$T/access.log"
mount_start "$T/mnt" -config "$T/c2.toml" || bail "mount failed"
bad=0
for d in $(seq -f %02g 9 -1 0); do
	cmp -s "$T/mnt/d$d/f00" "$S/d$d/f00" || { bad=$((bad + 1)); diag "d$d/f00 differs"; }
done
is "$bad" 0 "10 files far apart in the walk, read from an empty cache, are byte-identical"
sleep 1          # guesses still on their way
n=$(gets | wc -l)
diag "GETs for 10 opens far apart: $n"
is "$n" 10 "... and no guess: one GET per open"
is "$(gets | uniq -d | wc -l)" 0 "... no blob fetched twice"
is "$(ctl_cache misses)" 10 "... and every one of the 10 opens is a miss"
mount_stop

# ---- 2b. an open of a file whose guess waits in the indexer's read-ahead queue --------------------
# p/f00 misses (the first open: no walk yet); f01 misses too, and as the next file of the walk it
# sends 2 guesses; f02 to f05, guessed, are right, so the window doubles to 32 files ahead: more than
# the indexer's 16 read-ahead threads, which the slow server keeps busy, so the furthest guesses
# wait in its queue. An open of one of them (f30) takes it off that queue: it is served by the
# opens' pool, not after the read-ahead in front of it.
config "$T/c2b.toml" "$T/cache2b" "http://127.0.0.1:$P_SLOW"
: >"$T/access.log"
mount_start "$T/mnt" -l 5 -config "$T/c2b.toml" || bail "mount failed"
bad=0
for f in 00 01 02 03 04 05 30; do
	cmp -s "$T/mnt/p/f$f" "$S/p/f$f" || { bad=$((bad + 1)); diag "p/f$f differs"; }
done
is "$bad" 0 "7 files read from a slow store through read-ahead are byte-identical"
like "$(cat "$T/log")" "/p/f30: read-ahead job promoted to an open" \
	"an open of a file whose guess was still queued promotes the guess to an open"
mount_stop

# ---- 3. a dead layer before the good one ---------------------------------------------------------------
# The first open tries the dead port (refused: down for 2 s, less jitter), then gets its blob from
# nginx; read-ahead skips the dead layer while it is down, and once its back-off is over leaves it to
# the opens ("not tried"): its "is down" line appears once. The 20 reads take well under 1.5 s.
config "$T/c3.toml" "$T/cache3" "http://127.0.0.1:$P_DEAD" "http://127.0.0.1:$PORT"
: >"$T/access.log"
mount_start "$T/mnt" -l 5 -config "$T/c3.toml" || bail "mount failed"
down_lines() { grep -c "^WARN fetcher: layer http://127.0.0.1:$P_DEAD is down" "$T/log"; }
start=$(date +%s%N)
bad=0
for f in $(seq -w 0 19); do
	cmp -s "$T/mnt/d04/f$f" "$S/d04/f$f" || { bad=$((bad + 1)); diag "d04/f$f differs"; }
done
took=$((($(date +%s%N) - start) / 1000000))
is "$bad" 0 "20 files read in order behind a dead layer are byte-identical"
misses=$(ctl_cache misses)
diag "20 reads behind a dead layer: ${took} ms, misses $misses"
ok $((! (misses >= 1 && misses <= 3))) "... read-ahead skips the layer that is down: $misses misses (1 to 3)"
sleep 0.3
is "$(down_lines)" 1 "the dead layer was tried once, by the first open, not by read-ahead"
[ "$took" -lt 1500 ] || diag "the reads took ${took} ms: the back-off may have ended during them"
# After the back-off, opens that read-ahead guessed right ask for more guesses, which must leave
# the dead layer (due for its retry) alone; these files come from the local cache.
sleep 2.5
mark=$(wc -l <"$T/log")
bad=0
for f in $(seq -f %02g 0 4); do
	cmp -s "$T/mnt/d05/f$f" "$S/d05/f$f" || { bad=$((bad + 1)); diag "d05/f$f differs"; }
done
is "$bad" 0 "after the dead layer's back-off, files guessed earlier read right"
sleep 0.5
is "$(down_lines)" 1 "... and read-ahead did not retry the dead layer"
# (Without new guesses after the back-off the check above would prove nothing.)
like "$(tail -n +$((mark + 1)) "$T/log" | grep ' fetcher: ' | grep 'not tried ahead' | head -3)" \
	"not tried ahead: http://127.0.0.1:$P_DEAD has not answered" \
	"... new guesses were made after the back-off, and left it to the opens ('not tried ahead')"
is "$(gets | uniq -d | wc -l)" 0 "no blob fetched twice"
mount_stop
is "$STOP_STATUS" 0 "the supervisor stops cleanly"

nginx_stop
done_testing
