#!/usr/bin/env bash
# cold-http.sh — cold reads of a real tree served over HTTP on loopback: aysfs (an aysfs-pack store
# behind nginx) against the native disk, rclone mount (http backend over an nginx autoindex of the
# same tree, --vfs-cache-mode full) and httpdirfs (--cache, same autoindex). Run as root; figures
# and what they mean are in bench/README.md.
#
# "Cold": before every timed run the target is unmounted, its cache folder removed, it is mounted
# again with an empty one, and `sync; echo 3 > /proc/sys/vm/drop_caches` empties the kernel's
# caches (nginx's side included). The runs go in rounds: each run of a figure measures every
# target in turn, native first. Figures, each the median of RUNS runs:
#   tar      tar -C ROOT -cf - . | wc -c    every file opened and read (its byte count is checked)
#   python   ROOT/bin/python3.X importing a dozen modules, libpython from ROOT/lib too
#   open     median latency of open + read(1) of SAMPLES small files (< 8 KiB), lookups included
#   GETs     nginx requests per blob (aysfs) or per file (the others) during a tar, from its log
# and, as a reference, `curl -K` of every blob of the store one after another (cold).
#
#   BENCH_DIR     scratch folder, removed at the end (default /var/tmp/aysfs-cold-http)
#   BENCH_TREE    the tree (default: the largest /root/.pyenv/versions/* with an interpreter, else
#                 /usr/lib/python3.11)
#   RUNS          runs per figure (default 3)
#   PEER_TIMEOUT  seconds a run of rclone or httpdirfs may take (default 300); a tar that does not
#                 finish is recorded as such and not repeated
#   SAMPLES       small files of the open figure (default 200)
#   TARGETS       which targets, in order (default "native aysfs rclone httpdirfs"); also
#                 aysfs-order: aysfs with a published order (aysfs-pack -order) recorded by one cold
#                 run of the python figure on aysfs (aysfs-ctl MNT order), as a publisher would
#   FIGURES       which figures (default "tar python open")
#   KEEP=1        leave the scratch folder
#   AYSFS_BUILD   folder of the aysfs binaries (default build/release)
set -eu -o pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
TOP=$(pwd)
BUILD=${AYSFS_BUILD:-build/release}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
D=${BENCH_DIR:-/var/tmp/aysfs-cold-http}
RUNS=${RUNS:-3}
PEER_TIMEOUT=${PEER_TIMEOUT:-300}
AYSFS_TIMEOUT=600
SAMPLES=${SAMPLES:-200}
read -r -a TARGETS <<<"${TARGETS:-native aysfs rclone httpdirfs}"
read -r -a FIGURES <<<"${FIGURES:-tar python open}"
MARK=.aysfs-cold-http
MODULES="json, re, collections, typing, datetime, decimal, email, http.client, urllib.parse, logging, argparse, subprocess"

say() { printf '%s\n' "$*"; }
info() { printf '   %s\n' "$*"; }
die() { printf 'cold-http.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it mounts filesystems and drops the kernel caches)"
case $D in /?*) ;; *) die "BENCH_DIR must be an absolute path other than /" ;; esac
if [ -e "$D" ] && [ ! -e "$D/$MARK" ] && [ -n "$(ls -A "$D" 2>/dev/null)" ]; then
	die "$D exists, is not empty and was not made by this script: choose another BENCH_DIR"
fi
# The peers compared with, as Debian packages: installed when missing (as bench/read.sh does).
need_pkgs=()
for c in nginx:nginx-light rclone:rclone httpdirfs:httpdirfs python3:python3; do
	command -v "${c%%:*}" >/dev/null || need_pkgs+=("${c#*:}")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo "== installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null; } ||
		die "cannot install ${need_pkgs[*]}"
fi
for b in aysfs-supervisor aysfs-fuser aysfs-indexer aysfs-fetcher aysfs-config aysfs-status aysfs-pack aysfs-ctl; do
	[ -x "$BUILD/$b" ] || die "no $BUILD/$b: make -j2 first"
done

# ---- scratch folder, mounts, and their removal ------------------------------------------------------
SRC=$D/src
B=$D/bin                 # a copy of the binaries: a rebuild during the run changes nothing here
declare -A PID=()

stop() {   # stop TARGET: end its daemon, undo its mount
	local t=$1 m=$D/mnt/$1 p=${PID[$1]:-}
	if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
		kill -TERM "$p" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
	fi
	PID[$t]=
	# A daemon that died leaves a dead mount, which mountpoint(1) does not recognise.
	if findmnt -rn --mountpoint "$m" >/dev/null 2>&1; then
		umount "$m" 2>/dev/null || umount -l "$m" || true
	fi
}

cleanup() {
	local rc=$? t
	trap - EXIT INT TERM
	for t in aysfs aysfs-order rclone httpdirfs; do stop "$t"; done
	[ -s "$D/nginx.pid" ] && kill "$(cat "$D/nginx.pid")" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then say "== kept $D"; else rm -rf "$D"; fi
	exit "$rc"
}

for t in aysfs aysfs-order rclone httpdirfs; do
	if findmnt -rn --mountpoint "$D/mnt/$t" >/dev/null 2>&1; then umount -l "$D/mnt/$t"; fi
done
rm -rf "$D"
mkdir -p "$D/mnt/native" "$D/mnt/aysfs" "$D/mnt/aysfs-order" "$D/mnt/rclone" "$D/mnt/httpdirfs" "$B" "$D/flists" \
	"$D/nginx-tmp"
: >"$D/$MARK"
chmod 755 "$D" "$D/mnt" "$D/mnt"/* "$B" "$D/flists"
trap cleanup EXIT
trap 'say "cold-http.sh: interrupted"; exit 130' INT TERM
for b in aysfs-supervisor aysfs-fuser aysfs-indexer aysfs-fetcher aysfs-config aysfs-status aysfs-pack aysfs-ctl; do cp "$BUILD/$b" "$B/"; done
rev=$(git -C "$TOP" describe --always --dirty 2>/dev/null || echo "?")

# ---- the data --------------------------------------------------------------------------------------
if [ -z "${BENCH_TREE:-}" ]; then
	best=0
	for v in /root/.pyenv/versions/*; do
		[ -d "$v/lib" ] && compgen -G "$v/bin/python3.*[0-9]" >/dev/null || continue
		n=$(find "$v" -type f | wc -l)
		if [ "$n" -gt "$best" ]; then best=$n; BENCH_TREE=$v; fi
	done
	: "${BENCH_TREE:=/usr/lib/python3.11}"
fi
[ -d "$BENCH_TREE" ] || die "no tree $BENCH_TREE"
say "== copying $BENCH_TREE to $SRC"
cp -a "$BENCH_TREE" "$SRC"
chmod -R a+rX "$SRC"
NFILES=$(find "$SRC" -type f | wc -l)
SIZE=$(du -sb "$SRC" | cut -f1)
PYREL=
for p in "$SRC"/bin/python3.*[0-9]; do [ -x "$p" ] && PYREL=${p#"$SRC"/}; done
info "$NFILES files, $SIZE bytes; interpreter: ${PYREL:-none in this tree}"
# The open figure's files: every k-th file under 8 KiB, in path order (the same for every target).
(cd "$SRC" && find . -type f -size -8k | sort | awk -v n="$SAMPLES" 'NR == 1 { } { a[NR] = $0 }
	END { k = NR / n; if (k < 1) k = 1; for (i = 1; i <= NR && c < n; i += k) { print a[int(i)]; c++ } }') \
	>"$D/samples"
info "open figure: $(wc -l <"$D/samples") files under 8 KiB"

say "== $B/aysfs-pack -prefix / $SRC $D/store bench"
mkdir -p "$D/store"
chmod 755 "$D/store"
info "$("$B/aysfs-pack" -prefix / "$SRC" "$D/store" bench)"
NBLOBS=$(find "$D/store/dedupe" -type f ! -path '*/md/*' | wc -l)
info "$NBLOBS blobs"

# ---- nginx: the store for aysfs, an autoindex of the tree for the others ----------------------------
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PA=$(port)
PT=$(port)
cat >"$D/nginx.conf" <<EOF
worker_processes 2;
pid $D/nginx.pid;
error_log $D/nginx.err;
events { worker_connections 1024; }
http {
	log_format req '\$request_method \$status \$body_bytes_sent \$uri';
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	keepalive_timeout 600;
	client_body_temp_path $D/nginx-tmp;
	proxy_temp_path $D/nginx-tmp;
	fastcgi_temp_path $D/nginx-tmp;
	uwsgi_temp_path $D/nginx-tmp;
	scgi_temp_path $D/nginx-tmp;
	server { listen 127.0.0.1:$PA; root $D/store; access_log $D/aysfs.access req; }
	server { listen 127.0.0.1:$PT; root $SRC; autoindex on; access_log $D/tree.access req; }
}
EOF
nginx -c "$D/nginx.conf" -p "$D/" || die "nginx does not start: $(cat "$D/nginx.err")"
info "nginx $(nginx -v 2>&1 | sed 's/.*\///'): store on 127.0.0.1:$PA, autoindex of the tree on 127.0.0.1:$PT"
# aysfs's configuration (bench/interleave.sh mounts with it too). The supervisor makes cache_dir,
# for the indexer's user.
cat >"$D/aysfs.toml" <<EOF
[main]
id = "bench"
prefix = "/"
cache_dir = "$D/cache-aysfs"
flist_dir = "$D/flists"
[[ays]]
id = "bench"
[[store]]
url = "http://127.0.0.1:$PA"
EOF
sed 's|cache-aysfs|cache-aysfs-order|; s|^id = "bench"$|id = "bench-order"|' "$D/aysfs.toml" >"$D/aysfs-order.toml"

# ---- the targets -----------------------------------------------------------------------------------
wait_mounted() {   # wait_mounted TARGET: up to 60 s
	for _ in $(seq 600); do
		mountpoint -q "$D/mnt/$1" && [ -n "$(ls -A "$D/mnt/$1" 2>/dev/null)" ] && return 0
		kill -0 "${PID[$1]}" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$D/$1.log" 2>/dev/null
	die "$1 did not mount"
}

# fresh TARGET: unmounted, cache removed, mounted again with an empty cache.
fresh() {
	local t=$1
	[ "$t" = native ] && return 0
	stop "$t"
	rm -rf "$D/cache-$t"
	: >"$D/$t.log"
	case $t in
	aysfs | aysfs-order)
		setsid "$B/aysfs-supervisor" -config "$D/$t.toml" "$D/mnt/$t" </dev/null \
			>>"$D/$t.log" 2>&1 &
		;;
	rclone)
		mkdir -p "$D/cache-$t"
		# Executable files (the interpreter), nothing written back, no modtime lookups.
		setsid rclone mount :http: "$D/mnt/rclone" --http-url "http://127.0.0.1:$PT/" \
			--vfs-cache-mode full --cache-dir "$D/cache-rclone" --read-only \
			--file-perms 0755 --dir-perms 0755 --no-modtime </dev/null >>"$D/rclone.log" 2>&1 &
		;;
	httpdirfs)
		mkdir -p "$D/cache-$t"
		# Without --no-range-check, httpdirfs 1.2.5 takes nginx for a server without range
		# requests at the first open and its mount dies ("Transport endpoint is not connected").
		setsid httpdirfs -f --cache --no-range-check --cache-location "$D/cache-httpdirfs" \
			"http://127.0.0.1:$PT/" "$D/mnt/httpdirfs" </dev/null >>"$D/httpdirfs.log" 2>&1 &
		;;
	esac
	PID[$t]=$!
	wait_mounted "$t"
}

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# timed LIMIT CMD: run CMD (bash -c) under timeout; sets ELAPSED (seconds) and STATUS; output in
# $D/out. Never dies: a failure is a result here.
timed() {
	local s
	s=$EPOCHREALTIME
	set +e
	timeout -k 5 "$1" bash -o pipefail -c "$2" >"$D/out" 2>"$D/err"
	STATUS=$?
	set -e
	ELAPSED=$(awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
}

median() { tr ' ' '\n' | awk NF | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
limit_of() { case $1 in native) echo 600 ;; aysfs*) echo "$AYSFS_TIMEOUT" ;; *) echo "$PEER_TIMEOUT" ;; esac; }
log_of() { case $1 in aysfs*) echo "$D/aysfs.access" ;; rclone | httpdirfs) echo "$D/tree.access" ;; *) echo /dev/null ;; esac; }

declare -A RES NOTE GETS PER
NATIVE_BYTES=

# ---- figures ---------------------------------------------------------------------------------------
say "== load before: $(uptime)"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$SECONDS

# The floor of fetching one blob at a time: every blob of the store with one sequential curl, one
# keep-alive connection, no FUSE, no verification, no cache.
(cd "$D/store" && find dedupe -type f ! -path '*/md/*' |
	awk -v p="$PA" '{ printf "url = \"http://127.0.0.1:%s/%s\"\noutput = \"/dev/null\"\n", p, $0 }') >"$D/urls"
times=""
[[ " ${FIGURES[*]} " == *" tar "* ]] || info "no tar figure: no curl floor either"
for i in $(seq "$RUNS"); do
	[[ " ${FIGURES[*]} " == *" tar "* ]] || break
	drop_caches
	timed 600 "curl -sS -K $D/urls"
	[ "$STATUS" = 0 ] || die "curl of every blob failed: $(head -c 300 "$D/err")"
	times="$times $ELAPSED"
	info "curl, every blob one after another, run $i: $ELAPSED s"
done
CURL_FLOOR=$(echo "$times" | median)
CURL_RUNS=${times# }

# retire TARGET: stopped, its cache removed and written out, before another target's run. Left
# for that run, a peer's cache of a whole tree (46,000 files) slowed the next runs of every
# target that writes (aysfs' cold python 0.73 s against 0.38 s with this; the 2 s pause after the
# sync is a margin for the disk to settle, not measured on its own).
retire() {
	local t=$1
	[ "$t" = native ] && return 0
	stop "$t"
	if [ -e "$D/cache-$t" ]; then
		rm -rf "$D/cache-$t"
		sync
		sleep 2
	fi
}

# One run of FIGURE on target t (run i): appends to RUNS_OF[t,FIGURE]; a failure is noted and
# sets SKIP[t,FIGURE], so that the target's later runs of that figure are left out.
root_of() { if [ "$1" = native ]; then echo "$SRC"; else echo "$D/mnt/$1"; fi; }

run_tar() {
	local t=$1 i=$2 r lim acc bytes g lst other
	r=$(root_of "$t") lim=$(limit_of "$t") acc=$(log_of "$t")
	fresh "$t"
	[ -f "$acc" ] && : >"$acc"
	drop_caches
	timed "$lim" "tar -C $r -cf - . | wc -c"
	bytes=$(cat "$D/out" 2>/dev/null || true)
	if [ "$t" = native ]; then NATIVE_BYTES=$bytes; fi
	if [ "$STATUS" != 0 ]; then
		NOTE[$t,tar]="run $i: did not finish in $lim s (status $STATUS; $(grep -c '^GET' "$acc" 2>/dev/null || true) GETs by then)"
		info "$t tar run $i: ${NOTE[$t,tar]}"
		SKIP[$t,tar]=1
		return
	fi
	[ -n "$NATIVE_BYTES" ] && [ "$bytes" != "$NATIVE_BYTES" ] &&
		NOTE[$t,tar]="${NOTE[$t,tar]:-}run $i: $bytes bytes, native $NATIVE_BYTES; "
	RUNS_OF[$t,tar]="${RUNS_OF[$t,tar]:-} $ELAPSED"
	if [ "$t" = native ]; then
		info "$t tar run $i: $ELAPSED s, $bytes bytes"
		return
	fi
	g=$(grep -c '^GET' "$acc" || true)
	lst=$(grep -c '^GET [0-9]* [0-9]* .*/$' "$acc" || true)
	other=$(grep -vc '^GET' "$acc" || true)
	GETS[$t]="${GETS[$t]:-}$g/$lst/$other "
	# Per blob (aysfs) or per file (the others: listings aside), from the first run.
	if [ -z "${PER[$t]:-}" ]; then
		if [ "$t" = aysfs ]; then
			PER[$t]=$(awk -v g="$g" -v n="$NBLOBS" 'BEGIN { printf "%.3f", g / n }')
		else
			PER[$t]=$(awk -v g="$g" -v l="$lst" -v n="$NFILES" 'BEGIN { printf "%.3f", (g - l) / n }')
		fi
	fi
	info "$t tar run $i: $ELAPSED s, $bytes bytes; requests: $g GET ($lst of them listings), $other other"
}

# python: the mounted interpreter (and its libpython) importing a dozen modules.
run_python() {
	local t=$1 i=$2 r lim
	r=$(root_of "$t") lim=$(limit_of "$t")
	fresh "$t"
	drop_caches
	timed "$lim" "LD_LIBRARY_PATH=$r/lib $r/$PYREL -E -s -c \"import $MODULES; import sys; print(json.__file__, sys.prefix)\""
	if [ "$STATUS" != 0 ]; then
		NOTE[$t,python]="$(head -c 300 "$D/err" | tr '\n' ' ')(status $STATUS)"
		info "$t python run $i: fails: ${NOTE[$t,python]}"
		SKIP[$t,python]=1
		return
	fi
	case $(cat "$D/out") in "$r/"*) ;; *) NOTE[$t,python]="json came from $(cat "$D/out")" ;; esac
	RUNS_OF[$t,python]="${RUNS_OF[$t,python]:-} $ELAPSED"
	info "$t python run $i: $ELAPSED s ($(cat "$D/out"))"
}

# open: open + read(1) of each sample file, cold; the median latency of one run.
run_open() {
	local t=$1 i=$2 r lim med p90 n miss
	r=$(root_of "$t") lim=$(limit_of "$t")
	fresh "$t"
	drop_caches
	timed "$lim" "python3 -c '
import os, sys, time
lat, miss = [], 0
for p in open(sys.argv[1]).read().split(\"\n\"):
    if not p: continue
    t = time.perf_counter()
    try:
        fd = os.open(os.path.join(sys.argv[2], p), os.O_RDONLY)
    except OSError:
        miss += 1
        continue
    os.read(fd, 1)
    lat.append(time.perf_counter() - t)
    os.close(fd)
lat.sort()
print(\"%.3f %.3f %d %d\" % (lat[len(lat) // 2] * 1000, lat[len(lat) * 9 // 10] * 1000, len(lat), miss))
' $D/samples $r"
	if [ "$STATUS" != 0 ]; then
		NOTE[$t,open]="$(tail -c 300 "$D/err" | tr '\n' ' ')(status $STATUS)"
		info "$t open run $i: fails: ${NOTE[$t,open]}"
		SKIP[$t,open]=1
		return
	fi
	read -r med p90 n miss <"$D/out"
	RUNS_OF[$t,open]="${RUNS_OF[$t,open]:-} $med"
	[ "$miss" = 0 ] || NOTE[$t,open]="$miss of the $((n + miss)) files could not be opened (ENOENT and the like)"
	info "$t open run $i: median $med ms, 90th percentile $p90 ms over $n files, $miss not opened (run took $ELAPSED s)"
}

# Rounds: each run of a figure goes through every target in turn (native first), so that a slow
# minute of a shared host slows all of them alike instead of one target's runs. Only the target
# being measured is mounted.
declare -A RUNS_OF SKIP
# aysfs-order: the order of first opens of one cold run of the python figure on aysfs, published
# as the flist bench-order into the same store (aysfs-pack -order; the blobs are there already).
if [[ " ${TARGETS[*]} " == *" aysfs-order "* ]]; then
	say "== aysfs-order: one cold python run on aysfs, its order of first opens, aysfs-pack -order"
	run_python aysfs 0
	"$B/aysfs-ctl" "$D/mnt/aysfs" order bench >"$D/order" || die "aysfs-ctl order failed"
	retire aysfs
	unset "RUNS_OF[aysfs,python]"
	info "$(wc -l <"$D/order") files in the order; $("$B/aysfs-pack" -q -prefix / -order "$D/order" "$SRC" "$D/store" bench-order 2>&1 | tr '\n' ' ')"
	info "$(grep -c 'order=' "$D/store/dedupe/md/bench-order.flist") flist lines with order=N"
fi
for f in "${FIGURES[@]}"; do
	[ "$f" = python ] && [ -z "$PYREL" ] && continue
	for i in $(seq "$RUNS"); do
		for t in "${TARGETS[@]}"; do
			[ -n "${SKIP[$t,$f]:-}" ] && continue
			for o in "${TARGETS[@]}"; do [ "$o" = "$t" ] || retire "$o"; done
			"run_$f" "$t" "$i"
		done
	done
done
for t in "${TARGETS[@]}"; do
	stop "$t"
	for f in tar python open; do
		RES[$t,$f]=$(echo "${RUNS_OF[$t,$f]:-}" | median)
		RES[$t,${f}_runs]=$(echo "${RUNS_OF[$t,$f]:-}" | sed 's/^ //')
	done
done
T1=$SECONDS
say "== load after: $(uptime)"
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table -------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%.2fx", a / b; else print "" }'; }
say ""
say "== results: median of $RUNS cold runs; $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r), aysfs at $rev"
say "   data: $BENCH_TREE, $NFILES files, $SIZE bytes, $NBLOBS blobs; load average $LOAD0 before, $LOAD1 after; $((T1 - T0)) s"
say "   $(rclone version 2>/dev/null | head -1), $(httpdirfs --version 2>&1 | head -1), nginx $(nginx -v 2>&1 | sed 's/.*\///')"
printf '   %-10s %-18s %-18s %-18s %-9s %s\n' target "cold tar (s)" "cold python (s)" "open median (ms)" "GETs per" "requests of each tar: GET/listings/other"
for t in "${TARGETS[@]}"; do
	printf '   %-10s %-18s %-18s %-18s %-9s %s\n' "$t" \
		"${RES[$t,tar]} $(ratio "${RES[$t,tar]}" "${RES[native,tar]:--}")" \
		"${RES[$t,python]} $(ratio "${RES[$t,python]}" "${RES[native,python]:--}")" \
		"${RES[$t,open]} $(ratio "${RES[$t,open]}" "${RES[native,open]:--}")" "${PER[$t]:--}" "${GETS[$t]:-}"
done
say "   runs: tar / python / open"
for t in "${TARGETS[@]}"; do
	info "$t: ${RES[$t,tar_runs]:-} / ${RES[$t,python_runs]:-} / ${RES[$t,open_runs]:-}"
	for f in tar python open; do
		[ -n "${NOTE[$t,$f]:-}" ] && info "   $f: ${NOTE[$t,$f]}"
	done
done
say "   floor of one-at-a-time fetching: curl -K of every blob in turn, cold: $CURL_FLOOR s (runs: $CURL_RUNS)"
say "   'GETs per': GETs of the first tar per blob (aysfs) or per file (the others, directory listings aside)"
say "   blobs in the store: $NBLOBS; files in the tree: $NFILES"
