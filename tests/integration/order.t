#!/usr/bin/env bash
# The published order of first opens: a mount records the order in which programs first open each
# service's files (aysfs-ctl MNT order SERVICE); aysfs-pack -order FILE writes order=N on those
# flist lines; on a node, the first open of an ordered file fetches the next files of the order
# into the local cache, before they are opened.
. "$(dirname "$0")/lib.sh"
t_setup
PACK=$AYSFS_BUILD/aysfs-pack
CTL=$AYSFS_BUILD/aysfs-ctl

# 40 files in 4 folders, each its own content.
S=$T/src
for d in a b c d; do
	mkdir -p "$S/$d"
	for i in $(seq -w 1 10); do random_file "$S/$d/f$i" $((3000 + 10#$i)); done
done
mkdir -p "$T/store" "$T/store2" "$T/flists"
chmod 755 "$T/store" "$T/store2" "$T/flists"
"$PACK" -q -hash md5 -prefix /app "$S" "$T/store" s || bail "aysfs-pack failed"
cp "$T/store/dedupe/md/s.flist" "$T/flists/s.flist"
chmod 644 "$T/flists/s.flist"
conf() {        # conf STORE CACHE
	cat >"$T/config.toml" <<EOF2
[main]
prefix = "/app"
flist_dir = "$T/flists"
cache_dir = "$2"
[[store]]
url = "$1"
EOF2
}

# ---- recording ---------------------------------------------------------------------------------
conf "$T/store" "$T/cache1"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
M=$T/mnt
# An order of its own, as an interpreter has: not the order of a walk.
order=(d/f10 a/f03 c/f07 b/f01 a/f09 d/f02 c/f01 b/f10 a/f01 d/f05 c/f03 b/f04 a/f05 d/f08 c/f10
       b/f07 a/f07 d/f01 c/f05 b/f02 a/f02 d/f09 c/f09 b/f06)
for f in "${order[@]}"; do head -c 1 "$M/$f" >/dev/null; done
head -c 1 "$M/d/f10" >/dev/null      # a second open is not a first open
"$CTL" "$M" order s >"$T/order" 2>"$T/ctl.err"
is "$?" 0 "aysfs-ctl MNT order SERVICE succeeds"
is "$(tr '\n' ' ' <"$T/order")" "$(printf '/app/%s ' "${order[@]}")" \
	"it prints the service's files in the order first opened, once each, as flist paths"
"$CTL" "$M" order nosuch >/dev/null 2>"$T/ctl.err"
is "$?" 1 "a service not served fails"
like "$(cat "$T/ctl.err")" "nosuch: no such service is served" "and says so"
"$CTL" "$M" order a/b >/dev/null 2>&1
is "$?" 1 "a service id with a '/' is a usage error"
mount_stop

# ---- publishing --------------------------------------------------------------------------------
printf '# made by aysfs-ctl\n/app/nothere\n' >>"$T/order"
"$PACK" -q -hash md5 -prefix /app -order "$T/order" "$S" "$T/store2" s 2>"$T/pack.err"
is "$?" 0 "aysfs-pack -order FILE publishes"
F2=$T/store2/dedupe/md/s.flist
got=$(grep -o '^/app/[^|]*|.*|order=[0-9]*$' "$F2" | sed 's/|.*order=/ /' | sort -k2 -n | cut -d' ' -f1 | tr '\n' ' ')
is "$got" "$(printf '/app/%s ' "${order[@]}")" "order=N on the lines of the listed files, N their place in FILE"
is "$(grep -c 'order=' "$F2")" "${#order[@]}" "and on no other line"
like "$(cat "$T/pack.err")" "1 of 25 paths are not files with content of this flist" "a path not in the tree is named in a warning"
"$PACK" -q -order "$T/missing" "$S" "$T/store2" s 2>"$T/pack.err"
is "$?" 1 "a missing -order FILE is a usage error"

# ---- reading ahead by the order ----------------------------------------------------------------
cp "$F2" "$T/flists/s.flist"
conf "$T/store2" "$T/cache2"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
cached() { test -e "$(blob_path "$T/cache2" "$(md5sum <"$S/$1" | cut -c1-32)")"; }
wait_cached() {         # wait_cached WANT FILE...: how many of the files are cached, waiting up to 5 s for WANT
	local want=$1 n f
	shift
	for _ in $(seq 100); do
		n=0
		for f in "$@"; do cached "$f" && n=$((n + 1)); done
		[ "$n" = "$want" ] && break
		sleep 0.05
	done
	echo "$n"
}
# The first file of the order; the fuser's own read-ahead guesses nothing from it (it is not
# near the start of a walk of the tree).
head -c 1 "$M/${order[0]}" >/dev/null
is "$(wait_cached 16 "${order[@]:1:16}")" 16 "the first open of an ordered file brings the next 16 files of the order into the cache"
m=0
for f in "${order[@]:17}"; do cached "$f" && m=$((m + 1)); done
is "$m" 0 "and none further"
other=0
for f in a/f04 a/f06 a/f08 a/f10 b/f03 b/f05 b/f08 b/f09 c/f02 c/f04; do cached "$f" && other=$((other + 1)); done
is "$other" 0 "nor a file outside the order"
for f in "${order[@]:1:10}"; do head -c 1 "$M/$f" >/dev/null; done
is "$(wait_cached 7 "${order[@]:17}")" 7 "opens further down the order move the window on, to its end"
is "$(cat "$M/${order[5]}" | md5sum)" "$(md5sum <"$S/${order[5]}")" "and the files read right"
mount_stop
is "$STOP_STATUS" 0 "clean stop"
done_testing
