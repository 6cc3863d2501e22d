#!/usr/bin/env bash
# aysfs-pack publishes a folder: one blob per distinct content, named by its hash, at NS/H0/H1/;
# an flist of every entry (sorted, percent-encoded, with modes and mtimes) at NS/md/ID.flist;
# symlinks recorded and never followed. Mounts nothing; runs as any user.
. "$(dirname "$0")/lib.sh"

PACK=$AYSFS_BUILD/aysfs-pack
[ -x "$PACK" ] || bail "no $PACK: build first"
T=$(mktemp -d /tmp/aysfs-pack.XXXXXX)
trap _cleanup EXIT

# ---- the tree --------------------------------------------------------------------------------------
S=$T/src
OUT=$T/outside
mkdir -p "$S/a/b/c" "$S/empty" "$S/bin" "$OUT/secret"
echo "outside, never to be packed" >"$OUT/secret/s1"
echo "also outside" >"$OUT/s2"
echo hello >"$S/a/hello.txt"
echo deep >"$S/a/b/c/deep.txt"
: >"$S/zero"
WEIRD=$'we|ird%na\nme'
echo weird >"$S/$WEIRD"
printf '#!/bin/sh\necho tool\n' >"$S/bin/tool"
chmod 0755 "$S/bin/tool"
echo suid >"$S/bin/suid"
chmod 4755 "$S/bin/suid"
echo private >"$S/private"
chmod 0600 "$S/private"
random_file "$S/big" $((5 * 1024 * 1024))
echo same >"$S/dup1"
echo same >"$S/a/dup2"
ln -s hello.txt "$S/a/link-in"
ln -s "$OUT/secret" "$S/a/link-out"
ln -s ../outside/s2 "$S/link-rel-out"
mkfifo "$S/fifo"
chmod 0700 "$S/empty"
touch -d @1600000001 "$S/a/hello.txt"
touch -d @1600000003 "$S/zero" "$S/$WEIRD" "$S/bin/tool" "$S/bin/suid" "$S/private"
touch -h -d @1600000004 "$S/a/link-in" "$S/a/link-out"
touch -d @1600000002 "$S/empty" "$S/a/b/c" "$S/a/b" "$S/a" "$S/bin"

md5() { md5sum <"$1" | cut -c1-32; }
sha256() { sha256sum <"$1" | cut -c1-64; }

# The distinct contents of the tree's non-empty regular files, one hash a line, sorted.
src_hashes() {
	find "$S" -type f -size +0 -print0 | while IFS= read -r -d '' f; do "$1" "$f"; done | sort -u
}
NFILES=$(find "$S" -type f -printf x | wc -c)
NBLOBFILES=$(find "$S" -type f -size +0 -printf x | wc -c)
NENTRIES=$(find "$S" -mindepth 1 ! -type p -printf x | wc -c)

# blob_check DIR HASHFN: every blob under DIR is named by the hash of its content and sits at H0/H1.
blob_check() {
	local bad=0 f h
	while IFS= read -r -d '' f; do
		h=$("$2" "$f")
		[ "$f" = "$1/${h:0:1}/${h:1:1}/$h" ] || { bad=$((bad + 1)); diag "misplaced or misnamed: $f"; }
	done < <(find "$1" -path "$1/md" -prune -o -type f -print0)
	return $bad
}
blob_names() { find "$1" -path "$1/md" -prune -o -type f -printf '%f\n' | sort; }

# ---- a first pack ----------------------------------------------------------------------------------
ST=$T/store
out=$("$PACK" -hash md5 "$S" "$ST" test 2>"$T/err")
is $? 0 "pack exits 0"
FL=$ST/dedupe/md/test.flist
like "$out" "^packed $NFILES files \\([0-9]+ bytes\\), 5 directories, 3 symlinks into $ST/dedupe: $((NBLOBFILES - 1)) new blobs, 1 existing, in [0-9]+\\.[0-9]{2} s\$" \
	"one summary line on stdout; two identical files make one new blob"
like "$(cat "$T/err")" "^aysfs-pack: WARN: .*fifo: a fifo: skipped" "a fifo is skipped with a warning, in the tools' message style"
ok_cmd "the flist is at NS/md/ID.flist" test -f "$FL"

blob_check "$ST/dedupe" md5
ok $? "every blob is named by the md5 of its content, at H0/H1"
is "$(blob_names "$ST/dedupe")" "$(src_hashes md5)" "one blob per distinct non-empty content, nothing else"
is "$(find "$ST/dedupe" -path "$ST/dedupe/md" -prune -o -type f ! -perm 0444 -print)" "" "blobs are mode 0444"
is "$(find "$ST" -type d ! -perm 0755 -print)" "" "store folders are mode 0755"

H=$(md5 "$S/a/hello.txt")
is "$(grep '^/a/hello.txt|' "$FL")" "/a/hello.txt|$H|6|mode=0644|mtime=1600000001" "a file's line"
is "$(grep '^/empty|' "$FL")" "/empty||0|type=d|mode=0700|mtime=1600000002" "an empty directory is listed"
is "$(grep '^/a|' "$FL")" "/a||0|type=d|mode=0755|mtime=1600000002" "every directory is listed"
is "$(grep '^/zero|' "$FL")" "/zero||0|mode=0644|mtime=1600000003" "an empty file has no hash"
is "$(grep '^/we' "$FL")" "/we%7Cird%25na%0Ame|$(md5 "$S/$WEIRD")|6|mode=0644|mtime=1600000003" \
	"'|', '%' and newline in a name are percent-encoded"
is "$(grep '^/bin/tool|' "$FL" | cut -d'|' -f4)" "mode=0755" "an executable keeps mode 0755"
is "$(grep '^/bin/suid|' "$FL" | cut -d'|' -f4)" "mode=4755" "set-uid bit kept, in at most 4 octal digits"
is "$(grep '^/private|' "$FL" | cut -d'|' -f4)" "mode=0600" "a 0600 file keeps its mode"
is "$(grep '^/big|' "$FL")" "/big|$(md5 "$S/big")|5242880|mode=0644|mtime=$(stat -c %Y "$S/big")" \
	"a 5 MB file"
is "$(grep '^/a/link-in|' "$FL")" "/a/link-in||0|type=l|link=hello.txt|mtime=1600000004" "a symlink inside"
is "$(grep '^/a/link-out|' "$FL")" "/a/link-out||0|type=l|link=$OUT/secret|mtime=1600000004" \
	"a symlink to a folder outside is recorded with its target"
is "$(grep -c '^/a/link-out/' "$FL")" 0 "nothing below the outside symlink is listed"
is "$(grep '^/link-rel-out|' "$FL" | cut -d'|' -f4,5)" "type=l|link=../outside/s2" \
	"a relative symlink leaving SRC_DIR is recorded as-is"
ok_cmd "no blob of the files outside SRC_DIR" \
	bash -c "! find '$ST' -name '$(md5 "$OUT/secret/s1")*' -o -name '$(md5 "$OUT/s2")*' | grep -q ."
is "$(grep -c '^/|' "$FL")" 0 "with prefix /, the root is not listed"
is "$(grep -c 'fifo' "$FL")" 0 "the fifo is not listed"
is "$(wc -l <"$FL")" "$NENTRIES" "one line per entry"
ok_cmd "lines sorted by path bytes" bash -c "cut -d'|' -f1 '$FL' | LC_ALL=C sort -c"
is "$(grep -v '||0|type=[dl]|' "$FL" | cut -d'|' -f2 | grep . | sort -u)" "$(src_hashes md5)" \
	"the flist's hashes are those of the files"

# Determinism: one thread, another store, the same flist.
"$PACK" -hash md5 -j 1 -q "$S" "$T/store-j1" test >"$T/out-j1" 2>/dev/null
is "$?:$(cat "$T/out-j1")" "0:" "-j 1 -q: exit 0, nothing on stdout"
ok_cmd "-j 1 writes the same flist" cmp "$FL" "$T/store-j1/dedupe/md/test.flist"

# ---- a second pack: everything exists; the flist is replaced atomically ------------------------------
ino=$(stat -c %i "$FL")
out=$("$PACK" -hash md5 "$S" "$ST" test 2>/dev/null)
like "$out" ": 0 new blobs, $NBLOBFILES existing, in " "re-running writes no blob"
isnt_ino=$([ "$(stat -c %i "$FL")" != "$ino" ] && echo replaced)
is "$isnt_ino" replaced "the flist is replaced by a new file (rename), not rewritten in place"
is "$(ls -A "$ST/dedupe/md")" test.flist "no temporary file left in md/"
is "$(find "$ST" -name '*.tmp' | wc -l)" 0 "no temporary file left in the store"

# A blob of the wrong size (a torn copy) is replaced.
BIGB=$ST/dedupe/$(md5 "$S/big" | cut -c1)/$(md5 "$S/big" | cut -c2)/$(md5 "$S/big")
chmod u+w "$BIGB" && truncate -s 1000 "$BIGB" && chmod 0444 "$BIGB"
out=$("$PACK" -hash md5 "$S" "$ST" test 2>/dev/null)
like "$out" ": 1 new blobs, $((NBLOBFILES - 1)) existing" "a blob of the wrong size is written again"
is "$(md5 "$BIGB")" "$(md5 "$S/big")" "and is right afterwards"

# ---- -hash sha256, -namespace, -prefix ---------------------------------------------------------------
"$PACK" -hash sha256 --namespace ns2 -prefix /opt/app/ "$S" "$ST" app >/dev/null 2>&1
is $? 0 "-hash sha256 -namespace ns2 -prefix /opt/app/"
FL2=$ST/ns2/md/app.flist
ok_cmd "the flist is at ns2/md/app.flist" test -f "$FL2"
blob_check "$ST/ns2" sha256
ok $? "every blob is named by the sha256 of its content"
is "$(blob_names "$ST/ns2")" "$(src_hashes sha256)" "one sha256 blob per distinct content"
is "$(head -1 "$FL2")" "/opt/app||0|type=d|mode=0755|mtime=$(stat -c %Y "$S")" \
	"with a prefix, the prefix folder is listed first, with SRC_DIR's mode and mtime"
is "$(grep -c '^/opt|' "$FL2")" 0 "folders above the prefix are implied"
is "$(grep -vc '^/opt/app[/|]' "$FL2")" 0 "every path is under the prefix"
is "$(grep '^/opt/app/a/hello.txt|' "$FL2" | cut -d'|' -f2)" "$(sha256 "$S/a/hello.txt")" \
	"sha256 hashes in the flist"
is "$(ls "$ST/dedupe/md")" test.flist "the default namespace is untouched"

# The default hash is SHA-256 (SPEC section 1).
"$PACK" -q "$S" "$T/store-default" d >/dev/null 2>&1
is "$(grep '^/a/hello.txt|' "$T/store-default/dedupe/md/d.flist" | cut -d'|' -f2)" \
	"$(sha256 "$S/a/hello.txt")" "without -hash, blobs are named by their SHA-256"

# ---- -bro -----------------------------------------------------------------------------------------
"$PACK" --bro -hash md5 -namespace=bro "$S" "$ST" b >/dev/null 2>&1
is $? 0 "-bro packs"
BRO=$ST/bro
is "$(find "$BRO" -path "$BRO/md" -prune -o -type f ! -name '*.bro' -print | wc -l)" 0 \
	"-bro writes only HASH.bro blobs"
is "$(find "$BRO" -path "$BRO/md" -prune -o -type f -printf '%f\n' | sed 's/\.bro$//' | sort)" \
	"$(src_hashes md5)" "one .bro blob per distinct content, named by the uncompressed md5"
cmp -s "$BRO/md/b.flist" "$FL"
ok $? "-bro does not change the flist"

# unbro FILE: the decompressed content on stdout.
if command -v brotli >/dev/null 2>&1; then
	unbro() { brotli -d -c <"$1"; }
elif python3 -c 'import brotli' 2>/dev/null; then
	unbro() { python3 -c 'import brotli, sys; sys.stdout.buffer.write(brotli.decompress(open(sys.argv[1], "rb").read()))' "$1"; }
elif python3 -c 'import ctypes; ctypes.CDLL("libbrotlidec.so.1")' 2>/dev/null; then
	# libbrotli1, which libbrotli-dev (a build dependency) pulls in
	unbro() {
		python3 - "$1" <<'PY'
import ctypes, sys
lib = ctypes.CDLL("libbrotlidec.so.1")
data = open(sys.argv[1], "rb").read()
cap = 4 * len(data) + (1 << 20)
while True:
    out = ctypes.create_string_buffer(cap)
    n = ctypes.c_size_t(cap)
    if lib.BrotliDecoderDecompress(ctypes.c_size_t(len(data)), data, ctypes.byref(n), out) == 1:
        sys.stdout.buffer.write(out.raw[:n.value])
        break
    if cap > (1 << 30):
        sys.exit(1)
    cap *= 2
PY
	}
else
	unbro=
fi
if [ "$(type -t unbro)" = function ]; then
	bad=0
	while IFS= read -r -d '' f; do
		h=$(basename "$f" .bro)
		[ "$(unbro "$f" | md5sum | cut -c1-32)" = "$h" ] || { bad=$((bad + 1)); diag "bad: $f"; }
		[ "$f" = "$BRO/${h:0:1}/${h:1:1}/$h.bro" ] || { bad=$((bad + 1)); diag "misplaced: $f"; }
	done < <(find "$BRO" -path "$BRO/md" -prune -o -type f -print0)
	ok $bad "every .bro blob decompresses to content whose md5 is its name, at H0/H1"
	big_bro=$BRO/$(md5 "$S/big" | cut -c1)/$(md5 "$S/big" | cut -c2)/$(md5 "$S/big").bro
	is "$(unbro "$big_bro" | md5sum | cut -c1-32)" "$(md5 "$S/big")" "the 5 MB file round-trips"
else
	_tap_n=$((_tap_n + 1)); echo "ok $_tap_n # skip no brotli decoder (brotli, python3 brotli, libbrotlidec)"
	_tap_n=$((_tap_n + 1)); echo "ok $_tap_n # skip no brotli decoder (brotli, python3 brotli, libbrotlidec)"
fi
out=$("$PACK" -bro -hash md5 -namespace bro "$S" "$ST" b 2>/dev/null)
like "$out" ": 0 new blobs, $NBLOBFILES existing" "-bro: re-running writes no blob"

# ---- errors -----------------------------------------------------------------------------------------
"$PACK" -h >"$T/help" 2>&1
is "$?:$(head -1 "$T/help")" "0:usage: aysfs-pack [options] SRC_DIR STORE ID" "-h prints usage, exits 0"
"$PACK" --help >/dev/null 2>&1
is $? 0 "--help exits 0"
for args in "" "$S $ST" "-x $S $ST id" "-hash sha1 $S $ST id" "-j 0 $S $ST id" "-j x $S $ST id" \
	"-prefix opt $S $ST id" "-prefix /a/../b $S $ST id" "-namespace a/b $S $ST id" \
	"$S $ST a/b" "$S $ST .." "-bro=1 $S $ST id" "$S $ST id extra" "-prefix"; do
	# shellcheck disable=SC2086
	"$PACK" $args >/dev/null 2>&1
	is $? 1 "usage error exits 1: '$args'"
done
for args in "-revision 5 $S $ST id" "-expires 3 $S $ST id" "-sign $T/nokey $S $ST id" \
	"-sign $T/help $S $ST id" "-sign" "keygen" "keygen a b"; do
	# shellcheck disable=SC2086
	"$PACK" $args >/dev/null 2>&1
	is $? 1 "usage error exits 1: '$args'"
done
ok_cmd "a bad -sign key writes nothing" test ! -e "$ST/dedupe/md/id.flist"
err=$("$PACK" -x 2>&1 >/dev/null)
like "$err" "^aysfs-pack: ERROR: unknown option: -x" "usage errors in the tools' message style"
err=$("$PACK" "$T/missing" "$T/store-m" id 2>&1 >/dev/null)
is $? 2 "a missing SRC_DIR exits 2"
like "$err" "$T/missing" "and the message names it"
ok_cmd "no flist for a failed pack" test ! -e "$T/store-m/dedupe/md/id.flist"
: >"$T/file"
err=$("$PACK" "$S" "$T/file/store" id 2>&1 >/dev/null)
is $? 2 "an unusable STORE exits 2"
like "$err" "$T/file" "and the message names it"

# ---- a store inside SRC_DIR is not packed into itself ------------------------------------------------
IN=$T/inside
mkdir -p "$IN/d" && echo in >"$IN/d/f"
for run in first second; do
	"$PACK" "$IN" "$IN/store" t >/dev/null 2>"$T/err-in"
	is "$?:$(cut -d'|' -f1 "$IN/store/dedupe/md/t.flist" | tr '\n' ' ')" "0:/d /d/f " \
		"a store inside SRC_DIR is left out of the flist ($run run)"
done
like "$(cat "$T/err-in")" "$IN/store: the store being written: skipped" "with a warning naming it"

done_testing
