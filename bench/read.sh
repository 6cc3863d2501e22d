#!/usr/bin/env bash
# read.sh — read performance of aysfs against the native disk and squashfuse, over the same data,
# in one run on one machine. Run as root; see bench/README.md for what each figure means.
#
# The data: the largest Python installation on the machine (several combined when none has
# BENCH_MIN_FILES files) plus one 1 GiB random file, copied into BENCH_DIR/src. That folder is
# the native target; a mksquashfs image of it is mounted with squashfuse; aysfs-pack publishes it
# into a local folder store that aysfs-supervisor mounts (prefix "/", the store as [[store]]).
#
# A figure is the median of RUNS timed runs of one shell command. Warm figures come after one
# untimed run; cold ones after `sync; echo 3 > /proc/sys/vm/drop_caches` before every run. aysfs
# has two cold variants: blobs already in its local cache, and an empty local cache (remounted
# with a fresh cache_dir before every run) so that every blob is read from the store layer,
# verified and copied. The tar figures are the slow ones: when the time budget would be exceeded
# they get fewer runs (never fewer than 3), and the table says so.
#
#   BENCH_DIR        scratch folder, removed at the end (default /var/tmp/aysfs-bench)
#   RUNS             timed runs per figure (default 5)
#   BENCH_BUDGET     seconds for the whole run; figures past it are cut short (default 800)
#   BENCH_MIN_FILES  files the Python tree(s) must have together (default 20000)
#   BENCH_NICE       niceness of the run and all it starts (default -10: less noise from others)
#   SQFS_COMP        mksquashfs compressor (default lz4: the fastest to read back)
#   BENCH_TREES      folders to use instead of the Python installations (space-separated)
#   BENCH_BIG_MB     size of the random file in MiB (default 1024)
#   PYTHON           the interpreter of the import benchmark (default /usr/bin/python3)
#   TARGETS          the systems to time, native first (default "native squashfuse aysfs")
#   WARM_ONLY=1      only the warm figures (a few minutes instead of 13)
#   PROFILE=1        no timings: set up, then perf/strace the aysfs workers during warm and
#                    empty-cache tar runs and print where their time goes
#   KEEP=1           leave the scratch folder (the mounts are undone all the same)
#   AYSFS_BUILD      folder of the aysfs binaries (default build/release; built when incomplete)
set -eu -o pipefail
export LC_ALL=C
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
TOP=$(pwd)
BUILD=${AYSFS_BUILD:-build/release}
case $BUILD in /*) ;; *) BUILD=$TOP/$BUILD ;; esac
D=${BENCH_DIR:-/var/tmp/aysfs-bench}
RUNS=${RUNS:-5}
MIN_RUNS=3
BUDGET=${BENCH_BUDGET:-800}
MIN_FILES=${BENCH_MIN_FILES:-20000}
BIG_MB=${BENCH_BIG_MB:-1024}
COMP=${SQFS_COMP:-lz4}
PY=${PYTHON:-/usr/bin/python3}
CMD_TIMEOUT=240          # no single timed command may take longer: the script stops by itself
MARK=.aysfs-bench        # a BENCH_DIR holding this file is ours to remove
BINS="aysfs-supervisor aysfs-fuser aysfs-indexer aysfs-fetcher aysfs-config aysfs-pack"
OPTIONAL_BINS="aysfs-status"    # copied when the build has it (an older build, measured as "before", may not)

say() { printf '%s\n' "$*"; }
info() { printf '   %s\n' "$*"; }
die() { printf 'read.sh: %s\n' "$*" >&2; exit 1; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || die "run as root (it mounts filesystems and drops the kernel caches)"
case $D in /?*) ;; *) die "BENCH_DIR must be an absolute path other than /" ;; esac
if [ -e "$D" ] && [ ! -e "$D/$MARK" ] && [ -n "$(ls -A "$D" 2>/dev/null)" ]; then
	die "$D exists, is not empty and was not made by this script: choose another BENCH_DIR"
fi
[ "$RUNS" -ge 1 ] 2>/dev/null || die "RUNS must be a positive number"
[ "$RUNS" -lt "$MIN_RUNS" ] && MIN_RUNS=$RUNS
renice -n "${BENCH_NICE:--10}" -p $$ >/dev/null

# ---- what it needs --------------------------------------------------------------------------------
TARGETS=(${TARGETS:-native squashfuse aysfs})
[ "${TARGETS[0]}" = native ] || die "TARGETS must begin with native (every figure is a ratio to it)"
has_target() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }
need_pkgs=()
has_target squashfuse || need_pkgs=(none)
[ "${need_pkgs[*]}" = none ] || command -v mksquashfs >/dev/null || need_pkgs+=(squashfs-tools)
[ "${need_pkgs[*]}" = none ] || command -v squashfuse >/dev/null || need_pkgs+=(squashfuse)
[ "${need_pkgs[*]}" = none ] && need_pkgs=()
if [ ${#need_pkgs[@]} -gt 0 ]; then
	say "== installing ${need_pkgs[*]}"
	apt-get install -y -qq "${need_pkgs[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq "${need_pkgs[@]}" >/dev/null; }
fi
for b in $BINS; do
	if [ ! -x "$BUILD/$b" ]; then
		say "== $BUILD/$b is missing: make V=release bins"
		make -C "$TOP" V=release bins >/dev/null || die "the build failed"
		break
	fi
done
[ -x "$PY" ] || die "no interpreter $PY"
[ -w /proc/sys/vm/drop_caches ] || die "cannot drop the kernel caches (/proc/sys/vm/drop_caches)"

# ---- scratch folder, mounts, and their removal ----------------------------------------------------
SRC=$D/src
SQFS=$D/src.sqfs
MNT_S=$D/mnt/squashfuse
MNT_A=$D/mnt/aysfs
B=$D/bin                 # a copy of the binaries: a rebuild during the run changes nothing here
SUP=
SQ_PID=
CACHE_N=0

aysfs_stop() {
	if [ -n "$SUP" ] && kill -0 "$SUP" 2>/dev/null; then
		kill -TERM "$SUP" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$SUP" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SUP" 2>/dev/null || true
	fi
	SUP=
	if mountpoint -q "$MNT_A" 2>/dev/null; then umount -l "$MNT_A" || true; fi
}

# Undo every mount below $D (this run's, or those of an earlier run that was killed).
unmount_all() {
	local m
	aysfs_stop
	while read -r m; do
		case $m in "$D"/*) umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true ;; esac
	done < <(findmnt -rn -o TARGET | sort -r)
	if [ -n "$SQ_PID" ]; then
		for _ in $(seq 50); do kill -0 "$SQ_PID" 2>/dev/null || break; sleep 0.1; done
		kill -TERM "$SQ_PID" 2>/dev/null || true
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	unmount_all
	if [ "${KEEP:-0}" = 1 ]; then say "== kept $D"; else rm -rf "$D"; fi
	exit "$rc"
}

unmount_all
rm -rf "$D"
mkdir -p "$D" "$MNT_S" "$MNT_A" "$B"
: >"$D/$MARK"
chmod 755 "$D" "$D/mnt" "$B"     # the aysfs workers run as an unprivileged user
trap cleanup EXIT
trap 'say "read.sh: interrupted"; exit 130' INT TERM

for b in $BINS; do cp "$BUILD/$b" "$B/$b"; done
for b in $OPTIONAL_BINS; do [ ! -x "$BUILD/$b" ] || cp "$BUILD/$b" "$B/$b"; done
rev=$(git -C "$TOP" describe --always --dirty 2>/dev/null || echo "?")
say "== aysfs binaries: copied from $BUILD (built $(stat -c %y "$BUILD/aysfs-fuser" | cut -c1-19)), work tree at $rev"

# ---- the data -------------------------------------------------------------------------------------
say "== choosing the data"
pyver=$("$PY" -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
# shellcheck disable=SC2086
mapfile -t cands < <(
	for c in ${BENCH_TREES:-/root/.pyenv/versions/*/lib/python3.* /usr/lib/python3* /usr/local/lib/python3*}; do
		if [ -d "$c" ] && [ ! -L "$c" ]; then printf '%d %s\n' "$(find "$c" -type f | wc -l)" "$c"; fi
	done | sort -rn
)
[ ${#cands[@]} -gt 0 ] || die "no Python installation found"
picked=() total=0
for c in "${cands[@]}"; do
	picked+=("${c#* }")
	total=$((total + ${c%% *}))
	if [ "$total" -ge "$MIN_FILES" ]; then break; fi
done
[ "$total" -ge "$MIN_FILES" ] || info "only $total files in all the Python trees together (wanted $MIN_FILES)"

mkdir -p "$SRC"
LIBDIR=
for p in "${picked[@]}"; do
	name=$(basename "$p")
	[ -e "$SRC/$name" ] && name=$name-$(echo "$p" | md5sum | cut -c1-6)
	info "copying $p ($(find "$p" -type f | wc -l) files) to $SRC/$name"
	cp -a "$p" "$SRC/$name"
	if [ -z "$LIBDIR" ] && [ "$name" = "$pyver" ] && [ -f "$SRC/$name/json/__init__.py" ]; then
		LIBDIR=$name
	fi
done
if [ -z "$LIBDIR" ] && [ -f "/usr/lib/$pyver/json/__init__.py" ]; then
	# No chosen tree fits the interpreter: add the library it was built with.
	info "copying /usr/lib/$pyver (for $PY) to $SRC/sys-$pyver"
	cp -a "/usr/lib/$pyver" "$SRC/sys-$pyver"
	LIBDIR=sys-$pyver
fi
[ -n "$LIBDIR" ] || die "no $pyver library for $PY"
BIG=random-1g.bin
info "writing $SRC/$BIG ($BIG_MB MiB from /dev/urandom)"
head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >"$SRC/$BIG"
NFILES=$(find "$SRC" -type f | wc -l)
NDIRS=$(find "$SRC" -type d | wc -l)
SIZE=$(du -sb "$SRC" | cut -f1)
info "source: $NFILES files, $NDIRS folders, $SIZE bytes; import benchmark: $LIBDIR with $PY ($("$PY" -V 2>&1))"

if has_target squashfuse; then
say "== mksquashfs $SRC $SQFS -noappend -comp $COMP"
t0=$EPOCHREALTIME
mksquashfs "$SRC" "$SQFS" -noappend -no-progress -comp "$COMP" >"$D/mksquashfs.log" 2>&1 ||
	{ cat "$D/mksquashfs.log"; die "mksquashfs failed"; }
info "image of $(stat -c %s "$SQFS") bytes in $(secs "$t0" "$EPOCHREALTIME") s"
fi

say "== $B/aysfs-pack $SRC $D/store bench"
mkdir -p "$D/store" "$D/flists"
chmod 755 "$D/store" "$D/flists"
info "$("$B/aysfs-pack" "$SRC" "$D/store" bench)"
sync

say "== mounting"
if has_target squashfuse; then
# In the foreground (-f), so that its pid is known for the CPU accounting; unmounting ends it.
squashfuse -f "$SQFS" "$MNT_S" </dev/null >"$D/squashfuse.log" 2>&1 &
SQ_PID=$!
for _ in $(seq 100); do mountpoint -q "$MNT_S" && break; sleep 0.1; done
mountpoint -q "$MNT_S" || { cat "$D/squashfuse.log"; die "squashfuse: $MNT_S is not mounted"; }
info "squashfuse -f $SQFS $MNT_S   (pid $SQ_PID, $(squashfuse --help 2>&1 | head -1))"
fi

# aysfs_start CACHE_DIR: mount the store at $MNT_A with that local cache; waits until served.
aysfs_start() {
	store_toml "$1" "$D/flists" "$D/store" >"$D/aysfs.toml"
	: >"$D/aysfs.log"
	rm -f "$D/aysfs.pid"
	setsid "$B/aysfs-supervisor" -config "$D/aysfs.toml" -pidfile "$D/aysfs.pid" "$MNT_A" \
		</dev/null >>"$D/aysfs.log" 2>&1 &
	SUP=$!
	for _ in $(seq 300); do
		grep -q "serving $MNT_A" "$D/aysfs.log" && break
		kill -0 "$SUP" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "serving $MNT_A" "$D/aysfs.log" || { cat "$D/aysfs.log"; die "aysfs did not mount"; }
	[ -s "$D/aysfs.pid" ] && SUP=$(cat "$D/aysfs.pid")
	return 0
}

# A new, empty local cache: stop, remove the old cache, mount with another cache_dir.
aysfs_fresh() {
	aysfs_stop
	rm -rf "$D"/cache-*
	CACHE_N=$((CACHE_N + 1))
	aysfs_start "$D/cache-$CACHE_N"
}

aysfs_fresh
info "aysfs-supervisor -config $D/aysfs.toml $MNT_A   ($(grep -o 'serving [0-9]* entries' "$D/aysfs.log" | head -1))"
info "$D/aysfs.toml: prefix \"/\", cache_dir $D/cache-N, [[store]] url $D/store"

root_of() { case $1 in native) echo "$SRC" ;; squashfuse) echo "$MNT_S" ;; aysfs) echo "$MNT_A" ;; esac; }

# CPU seconds (user + system) used so far by the daemon behind a target: every thread of
# squashfuse, or of every aysfs worker and the supervisor. Empty for native.
daemon_ticks() {
	local p t s=0 pids
	case $1 in
	squashfuse) pids=$SQ_PID ;;
	aysfs) pids="$SUP $(pgrep -P "$SUP" | tr '\n' ' ')" ;;
	*) return 0 ;;
	esac
	for p in $pids; do
		for t in /proc/"$p"/task/*/stat; do
			[ -r "$t" ] && s=$((s + $(awk '{ print $14 + $15 }' "$t" 2>/dev/null || echo 0)))
		done
	done
	echo "$s"
}

# ---- checks: the three targets hold the same data, and the interpreter reads the mount ----------
say "== checking the targets"
for t in "${TARGETS[@]}"; do
	r=$(root_of "$t")
	n=$(find "$r" -type f | wc -l)
	[ "$n" = "$NFILES" ] || die "$t: $n files, native has $NFILES"
	cmp -s "$SRC/$BIG" "$r/$BIG" || die "$t: $BIG differs from the native file"
	info "$t: $n files; $BIG identical"
done
pycode() {
	echo "import sys; sys.path.insert(0,'$1/$LIBDIR'); import json, re, collections, typing, datetime, decimal, email, http.client, urllib.parse, logging, argparse, subprocess"
}
for t in "${TARGETS[@]}"; do
	r=$(root_of "$t")
	where=$("$PY" -E -S -c "$(pycode "$r"); print(json.__file__)")
	case $where in "$r/$LIBDIR/"*) ;; *) die "$t: json comes from $where, not from the mount" ;; esac
	from=$("$PY" -E -S -c "$(pycode "$r"); print(sum(1 for m in list(sys.modules.values()) if (getattr(m, '__file__', None) or '').startswith('$r/')))")
	pyc=$("$PY" -E -S -v -c "$(pycode "$r")" 2>&1 | grep -c "^# code object from '$r/.*\.pyc'" || true)
	info "$t: json from $where; $from modules from the mount, $pyc of them from .pyc"
done

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# timed CMD: run it once, its output to $D/out; sets ELAPSED (seconds). Dies when CMD fails.
timed() {
	local s e
	s=$EPOCHREALTIME
	if ! timeout -k 5 "$CMD_TIMEOUT" bash -o pipefail -c "$1" >"$D/out" 2>"$D/err"; then
		sed 's/^/      /' "$D/err" | head -20
		die "failed or timed out (${CMD_TIMEOUT} s): $1"
	fi
	e=$EPOCHREALTIME
	ELAPSED=$(awk -v a="$s" -v b="$e" 'BEGIN { printf "%.4f", b - a }')
}

# ---- PROFILE=1: where the aysfs workers spend a tar -----------------------------------------------
if [ "${PROFILE:-0}" = 1 ]; then
	command -v perf >/dev/null || die "PROFILE=1 needs perf (apt-get install linux-perf)"
	TAR="tar -C $MNT_A -cf - . | wc -c"
	# prof NAME CMD PID...: perf record -g of each PID while CMD runs; the top of each report.
	prof() {
		local name=$1 cmd=$2 pp=() p i=0
		shift 2
		for p in "$@"; do
			perf record -q -g -p "$p" -o "$D/perf-$name-$i.data" >/dev/null 2>&1 &
			pp+=($!)
			i=$((i + 1))
		done
		sleep 1
		timed "$cmd"
		for p in "${pp[@]}"; do kill -INT "$p"; wait "$p" 2>/dev/null || true; done
		i=0
		for p in "$@"; do
			say "-- perf record -g -p $p ($(cat /proc/"$p"/comm 2>/dev/null || echo '?')) during $name: $cmd, ${ELAPSED} s under perf; self time:"
			perf report -q -i "$D/perf-$name-$i.data" --stdio --no-children --sort dso,symbol \
				--percent-limit 1 -g none 2>/dev/null | grep -v '^$' | head -15 | sed 's/^/   /'
			i=$((i + 1))
		done
	}
	workers() { echo "$(pgrep -P "$SUP" -f aysfs-fuser | head -1) $(pgrep -P "$SUP" -f aysfs-indexer | head -1)"; }
	say "== PROFILE=1: one untimed warm-up tar (fills the local cache)"
	timed "$TAR"
	info "first tar, blobs from the store: $ELAPSED s"
	say "== CPU of each worker during one warm tar"
	fuser_pid=$(pgrep -P "$SUP" -f aysfs-fuser | head -1)
	indexer_pid=$(pgrep -P "$SUP" -f aysfs-indexer | head -1)
	tk() { local s=0 t; for t in /proc/"$1"/task/*/stat; do s=$((s + $(awk '{ print $14 + $15 }' "$t"))); done; echo "$s"; }
	f0=$(tk "$fuser_pid") i0=$(tk "$indexer_pid")
	timed "/usr/bin/time -f 'tar: %U s user, %S s system' tar -C $MNT_A -cf - . 2>$D/tar-time | wc -c"
	info "warm tar $ELAPSED s; $(cat "$D/tar-time"); aysfs-fuser $(( $(tk "$fuser_pid") - f0 ))0 ms CPU, aysfs-indexer $(( $(tk "$indexer_pid") - i0 ))0 ms CPU"
	if command -v strace >/dev/null; then
		say "== strace -c -f of both workers during one warm tar (slowed down by strace)"
		strace -c -f -q -p "$fuser_pid" -o "$D/strace-fuser" & s1=$!
		strace -c -f -q -p "$indexer_pid" -o "$D/strace-indexer" & s2=$!
		sleep 1
		timed "$TAR"
		kill -INT "$s1" "$s2"; wait "$s1" "$s2" 2>/dev/null || true
		for w in fuser indexer; do
			say "-- aysfs-$w:"
			head -12 "$D/strace-$w" | sed 's/^/   /'
		done
	fi
	say "== perf, warm tar"
	# shellcheck disable=SC2046
	prof warm-tar "$TAR" $(workers)
	say "== perf, tar with an empty local cache (remounted, caches dropped)"
	aysfs_fresh
	drop_caches
	# shellcheck disable=SC2046
	prof empty-cache-tar "$TAR" $(workers)
	say "== profile done in $SECONDS s"
	exit 0
fi

# ---- timing ---------------------------------------------------------------------------------------
declare -A MED ALL CMDS FIRST NRUNS CPU
declare -a ROWS=()
HEAVY_LEFT=7     # tar figures: warm x3, cold x3, cold with an empty aysfs cache
LIGHT_LEFT=17    # the others

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure ROW TARGET MODE HEAVY CMD. MODE: warm (one untimed run first), cold (caches dropped
# before each run) or empty (aysfs remounted with an empty cache_dir, then caches dropped, before
# each run). HEAVY: 0 a quick figure; 1 a slow one that gets fewer runs, down to MIN_RUNS, when
# its share of what is left of the budget would be exceeded; 2 a slow one that the aims are about,
# measured before the 1s it competes with, and cut only by the budget itself.
measure() {
	local row=$1 t=$2 mode=$3 heavy=$4 cmd=$5 times="" n=0 start=$SECONDS allow=0 c0 ticks=0
	if [ "$heavy" != 0 ]; then
		allow=$(( (BUDGET - SECONDS - 8 * LIGHT_LEFT) / HEAVY_LEFT ))
		HEAVY_LEFT=$((HEAVY_LEFT - 1))
	else
		LIGHT_LEFT=$((LIGHT_LEFT - 1))
	fi
	if [ "$SECONDS" -ge "$BUDGET" ]; then
		info "$row / $t: skipped, past the time budget of $BUDGET s"
		return 0
	fi
	[[ " ${ROWS[*]} " == *" $row "* ]] || ROWS+=("$row")
	CMDS[$row,$t]=$cmd
	if [ "$mode" = warm ]; then
		timed "$cmd"
		FIRST[$row,$t]=$ELAPSED
	fi
	while [ "$n" -lt "$RUNS" ]; do
		case $mode in
		cold) drop_caches ;;
		empty) aysfs_fresh; drop_caches ;;
		esac
		c0=$(daemon_ticks "$t")
		timed "$cmd"
		[ -n "$c0" ] && ticks=$((ticks + $(daemon_ticks "$t") - c0))
		times="$times $ELAPSED"
		n=$((n + 1))
		# A heavy figure stops early, after MIN_RUNS, when one more run would not fit its share;
		# any figure stops when one more run would end past the budget.
		if [ "$heavy" = 1 ] && [ "$n" -ge "$MIN_RUNS" ] &&
			[ $(( (SECONDS - start) * (n + 1) / n )) -gt "$allow" ]; then
			break
		fi
		if [ "$n" -lt "$RUNS" ] && [ $(( SECONDS + (SECONDS - start) / n )) -gt "$BUDGET" ]; then
			info "$row / $t: stopped after $n runs: the next would end past the budget of $BUDGET s"
			break
		fi
	done
	ALL[$row,$t]=${times# }
	NRUNS[$row,$t]=$n
	MED[$row,$t]=$(echo "$times" | median)
	[ "$t" != native ] && CPU[$row,$t]=$(awk -v c="$ticks" -v n="$n" 'BEGIN { printf "%.2f", c / 100 / n }')
	info "$(printf '%-30s %-10s median %8.3f s  runs:%s%s%s' "$row" "$t" "${MED[$row,$t]}" "$times" \
		"${FIRST[$row,$t]:+  (untimed first run ${FIRST[$row,$t]} s)}" \
		"${CPU[$row,$t]:+  daemon CPU ${CPU[$row,$t]} s/run}")"
}

T0=$SECONDS
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
say "== harness overhead: timeout + bash -c around an empty command"
measure "harness: true" native warm 0 "true"

say "== warm: each command once untimed, then $RUNS timed runs"
for t in "${TARGETS[@]}"; do
	r=$(root_of "$t")
	measure "warm find" "$t" warm 0 "find $r -type f | wc -l"
	[ "$t" = squashfuse ] && w=1 || w=2
	measure "warm tar" "$t" warm "$w" "tar -C $r -cf - . | wc -c"
	measure "warm read 1 GiB" "$t" warm 0 "cat $r/$BIG > /dev/null"
	measure "warm python imports" "$t" warm 0 "$PY -E -S -c \"$(pycode "$r")\""
	measure "warm du" "$t" warm 0 "du -s $r"
done
if [ "${WARM_ONLY:-0}" = 1 ]; then
	say "== WARM_ONLY=1: no cold figures"
else

say "== cold: sync; echo 3 > /proc/sys/vm/drop_caches before each run (aysfs: blobs in its local cache)"
for t in "${TARGETS[@]}"; do
	measure "cold find" "$t" cold 0 "find $(root_of "$t") -type f | wc -l"
done
say "== cold, empty aysfs cache: remounted with a fresh cache_dir, then caches dropped, before each run"
measure "cold find, empty aysfs cache" aysfs empty 0 "find $MNT_A -type f | wc -l"
say "== cold tar, as above; the figures of the aims first (native, empty aysfs cache), then the others"
measure "cold tar" native cold 2 "tar -C $SRC -cf - . | wc -c"
measure "cold tar, empty aysfs cache" aysfs empty 2 "tar -C $MNT_A -cf - . | wc -c"
# The last empty-cache mount now holds every blob in its local cache.
measure "cold tar" aysfs cold 1 "tar -C $MNT_A -cf - . | wc -c"
has_target squashfuse && measure "cold tar" squashfuse cold 1 "tar -C $MNT_S -cf - . | wc -c"
fi
T1=$SECONDS
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the table ------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
aim_of() {
	case $1 in
	"warm find") echo 1.3 ;;
	"warm tar") echo 1.3 ;;
	"warm read 1 GiB") echo 1.05 ;;
	"warm python imports") echo 1.1 ;;
	"warm du") echo 1.3 ;;
	"cold tar, empty aysfs cache") echo 2 ;;
	esac
}
base_of() { case $1 in *", empty aysfs cache") echo "${1%%,*}" ;; *) echo "$1" ;; esac; }
cell() {   # cell ROW TARGET: "1.234 (1.10x)", with [n] when fewer than RUNS runs
	local v=${MED[$1,$2]:-} b n=${NRUNS[$1,$2]:-0}
	b=${MED[$(base_of "$1"),native]:-}
	if [ -z "$v" ]; then printf '%s' "-"; return; fi
	if [ "$2" = native ]; then printf '%.3f' "$v"; else printf '%.3f (%sx)' "$v" "$(ratio "$v" "$b")"; fi
	printf ' %s' "$(echo "${ALL[$1,$2]}" | tr ' ' '\n' | sort -g | sed -n '1p;$p' | paste -sd- -)"
	[ "$n" -lt "$RUNS" ] && printf ' [%d]' "$n"
	return 0
}

say ""
say "== results: median of $RUNS runs ([n]: only n runs, to stay within the budget); seconds (ratio to native)"
say "   $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, kernel $(uname -r), aysfs at $rev, squashfs -comp $COMP"
say "   data: $NFILES files in $NDIRS folders, $SIZE bytes (${picked[*]} + a $BIG_MB MiB random file)"
say "   load average before/after the timings: $LOAD0 / $LOAD1 (the run itself at nice ${BENCH_NICE:--10})"
printf '   %-30s %-20s %-34s %-34s %-7s %s\n' benchmark native squashfuse aysfs aim "aysfs verdict"
for row in "${ROWS[@]}"; do
	[ "$row" = "harness: true" ] && continue
	aim=$(aim_of "$row") verdict=""
	if [ -n "$aim" ] && [ -n "${MED[$row,aysfs]:-}" ]; then
		r=$(ratio "${MED[$row,aysfs]}" "${MED[$(base_of "$row"),native]:-0}")
		verdict=$(awk -v r="$r" -v a="$aim" 'BEGIN { print (r != "-" && r <= a) ? "met" : "missed" }')
		if [ -n "${MED[$row,squashfuse]:-}" ]; then
			verdict="$verdict; $(awk -v x="${MED[$row,aysfs]}" -v y="${MED[$row,squashfuse]}" \
				'BEGIN { print (x < y) ? "beats squashfuse" : "slower than squashfuse" }')"
		fi
	fi
	printf '   %-30s %-20s %-34s %-34s %-7s %s\n' "$row" "$(cell "$row" native)" \
		"$(cell "$row" squashfuse)" "$(cell "$row" aysfs)" "${aim:+<=${aim}x}" "$verdict"
done
say "   'empty aysfs cache' rows are against the native cold figure of the same command. Every"
say "   figure includes the harness (timeout + bash -c): ${MED[harness: true,native]:-?} s."
say ""
say "== commands, every run (s), and the daemon's CPU per run (squashfuse; aysfs: supervisor + workers)"
for row in "${ROWS[@]}"; do
	for t in "${TARGETS[@]}"; do
		[ -n "${CMDS[$row,$t]:-}" ] || continue
		printf '   %-30s %-10s %s\n' "$row" "$t" "${CMDS[$row,$t]}"
		printf '   %-30s %-10s runs: %s%s%s\n' "" "" "${ALL[$row,$t]:-skipped}" \
			"${FIRST[$row,$t]:+; untimed first run ${FIRST[$row,$t]}}" "${CPU[$row,$t]:+; daemon CPU ${CPU[$row,$t]} s/run}"
	done
done
say "== timings took $((T1 - T0)) s, the whole run $SECONDS s"
