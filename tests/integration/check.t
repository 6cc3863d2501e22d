#!/usr/bin/env bash
# -check (SPEC §1): nothing is mounted or made; one line per finding; exit 0 on a good setup, 1 on
# each broken one (a misspelt key, a syntax error, a missing account, a cache folder the workers
# cannot write or too small for cache_size, an unreachable layer, a flist in no place, a mountpoint
# that is missing, not empty or already mounted).
. "$(dirname "$0")/lib.sh"
t_setup

mkdir -p "$T/src" "$T/store" "$T/www/store" "$T/mnt"
random_file "$T/src/a" 1000
h=$(put_blob "$T/store" "$T/src/a")
mkdir -p "$T/store/dedupe/md" "$T/www/store/dedupe/md"
printf '/a|%s|1000\n' "$h" >"$T/store/dedupe/md/app.flist"
cp "$T/store/dedupe/md/app.flist" "$T/www/store/dedupe/md/web.flist"
chmod -R a+rX "$T/store" "$T/www"
PORT=$(free_port)
DEAD=$(free_port)
nginx_start "server { listen 127.0.0.1:$PORT; root $T/www; }"

# cfg NAME EXTRA-MAIN-LINES EXTRA-SECTIONS: a configuration that is good but for what it adds.
cfg() {
	cat >"$T/$1.toml" <<EOF2
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
state_dir = "$T/state"
$2
[[ays]]
id = "app"
[[ays]]
id = "web"
[[store]]
url = "$T/store"
[[store]]
url = "http://127.0.0.1:$PORT/store"
$3
EOF2
	chmod 644 "$T/$1.toml"
}
# check NAME [MNT]: run -check, its output in $OUT, its status in $ST.
check() {
	OUT=$("$SUPERVISOR" -check -config "$T/$1.toml" "${2:-$T/mnt}" 2>&1)
	ST=$?
}

cfg good "" ""
check good
is "$ST" 0 "a good setup: exit 0"
like "$OUT" "check: no problem found" "... and it says so"
like "$OUT" "check: layer http://127.0.0.1:$PORT/store: reachable; holds 1 of the 2" "each layer is asked for the flists"
ok_cmd "nothing was made: no cache folder" test ! -e "$T/cache"
ok_cmd "nothing was mounted" bash -c "! findmnt -n '$T/mnt'"
ERRS=$(printf '%s\n' "$OUT" | grep -c '^ERROR')
is "$ERRS" 0 "no ERROR line"

cfg typo 'cache_dri = "/tmp/x"' ""
check typo
is "$ST" 1 "a misspelt key: exit 1"
like "$OUT" "typo.toml:6: unknown key main.cache_dri \(did you mean cache_dir\?\)" "the nearest known key is suggested"

printf '[main\nprefix = "/"\n' >"$T/syntax.toml"; chmod 644 "$T/syntax.toml"
check syntax
is "$ST" 1 "a syntax error: exit 1"
like "$OUT" "syntax.toml:1:" "it names file:line"

cfg user 'user = "nosuchaysfsuser"' ""
check user
is "$ST" 1 "a missing account: exit 1"
like "$OUT" "check: user nosuchaysfsuser does not exist" "... named"

mkdir -p "$T/other"; chown nobody "$T/other"; chmod 755 "$T/other"
cfg cache "" ""
sed -i "s|^cache_dir = .*|cache_dir = \"$T/other\"|" "$T/cache.toml"
check cache
is "$ST" 1 "a cache folder the workers cannot write: exit 1"
like "$OUT" "check: cache_dir $T/other is not writable by the workers" "... named with its owner and mode"

mkdir -p "$T/cache"; chown aysfs "$T/cache"
cfg big 'cache_size = "900000G"' ""
check big
is "$ST" 1 "cache_size beyond the free space: exit 1"
like "$OUT" "check: cache_dir $T/cache: [0-9]+ bytes free on its filesystem, less than cache_size" "... with both figures"

cfg dead "" "[[store]]
url = \"http://127.0.0.1:$DEAD/store\""
check dead
is "$ST" 1 "an unreachable layer: exit 1"
like "$OUT" "check: layer http://127.0.0.1:$DEAD/store: not reachable" "... named, with why"

cfg missing "" "[[ays]]
id = \"ghost\""
check missing
is "$ST" 1 "a flist in no place: exit 1"
like "$OUT" "check: service ghost: its flist is in no place" "... named"

check good "$T/nomnt"
is "$ST" 1 "a missing mountpoint: exit 1"
like "$OUT" "check: mountpoint $T/nomnt" "... named"

mkdir -p "$T/full"; touch "$T/full/x"
check good "$T/full"
is "$ST" 1 "a mountpoint that is not empty: exit 1"
like "$OUT" "check: mountpoint $T/full is not empty" "... named"

# Signed flists (SPEC §8): the keys' folder, and whether each flist found would be accepted.
PACK=$AYSFS_BUILD/aysfs-pack
mkdir -p "$T/keys" "$T/nokeys" "$T/signed"
(cd "$T" && "$PACK" keygen k1 >/dev/null && "$PACK" keygen k2 >/dev/null) || bail "keygen"
cp "$T/k1.pub" "$T/keys/"; cp "$T/k2.pub" "$T/nokeys/"
"$PACK" -q -sign "$T/k1.key" "$T/src" "$T/signed" app >/dev/null || bail "aysfs-pack -sign"
chmod -R a+rX "$T/keys" "$T/nokeys" "$T/signed"
signed_cfg() {
	cat >"$T/$1.toml" <<EOF2
[main]
prefix = "/"
cache_dir = "$T/cache"
state_dir = "$T/state"
trusted_keys = "$2"
[[ays]]
id = "app"
[[store]]
url = "$T/signed"
EOF2
	chmod 644 "$T/$1.toml"
}
signed_cfg signed "$T/keys"
check signed
is "$ST" 0 "a flist signed by a trusted key: exit 0"
like "$OUT" "check: service app: $T/signed/dedupe/md/app.flist is signed by a trusted key" "... said"
signed_cfg untrusted "$T/nokeys"
check untrusted
is "$ST" 1 "a flist no trusted key signed: exit 1"
like "$OUT" "check: service app: $T/signed/dedupe/md/app.flist would be refused: .*key" "... with the reason"
signed_cfg nokeys "$T/absent"
check nokeys
is "$ST" 1 "a trusted_keys folder that cannot be read: exit 1"
like "$OUT" "check: trusted_keys $T/absent" "... named"

mount_start "$T/mnt" -config "$T/good.toml" || bail "mount failed"
check good
is "$ST" 1 "a mountpoint already mounted: exit 1"
like "$OUT" "check: mountpoint $T/mnt: something is mounted there already" "... named"
mount_stop
done_testing
