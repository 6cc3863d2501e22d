#!/usr/bin/env bash
# Signed flists, rollback protection and updates (SPEC §8), with a store and a LAN cache on a real
# nginx: a flist signed by a trusted key mounts; a forged copy on a plain-http LAN cache tried
# first is refused (and the store's used); a republished flist appears within refresh + 20% with
# no command, files open before it reading their old content; 304s while nothing changes; a flist
# changed by one byte, one signed by an unknown key and an older revision put back are refused,
# the tree being served is kept, and the log says why; the floor holds across a restart and a
# purge of the cache; a key rotates with no moment where the current flist is refused; an expired
# flist is refused at first mount.
. "$(dirname "$0")/lib.sh"
t_setup

PACK=$AYSFS_BUILD/aysfs-pack
CTL=$AYSFS_BUILD/aysfs-ctl
W=$T/www
mkdir -p "$W/store" "$W/lan/dedupe/md" "$T/keys" "$T/flists" "$T/src"
P_S=$(free_port); P_L=$(free_port)
nginx_start "
	log_format st '\$status \$request';
	server { listen 127.0.0.1:$P_S; root $W/store; access_log $T/store.log st; }
	server { listen 127.0.0.1:$P_L; root $W/lan; access_log $T/lan.log st; }"

cd "$T" || bail "cd"
"$PACK" keygen k1 >/dev/null && "$PACK" keygen k2 >/dev/null || bail "keygen"
FP1=$(openssl pkey -pubin -in k1.pub -outform DER | sha256sum | cut -c1-64)
FP2=$(openssl pkey -pubin -in k2.pub -outform DER | sha256sum | cut -c1-64)
cp k1.pub keys/
chmod 755 keys && chmod 644 keys/*.pub

MD=$W/store/dedupe/md
# publish VERSION REVISION KEY [ID]: the tree holds /a with "VERSION"
publish() {
	mkdir -p "$T/src/$1"
	echo "$1" >"$T/src/$1/a"
	"$PACK" -q -sign "$T/$3.key" -revision "$2" "$T/src/$1" "$W/store" "${4:-app}" >/dev/null ||
		bail "aysfs-pack $*"
	chmod -R a+rX "$W"
}
publish one 1 k1
ok_cmd "aysfs-pack -sign writes md/ID.flist.sig" test -s "$MD/app.flist.sig"
is "$(sed -n 6p "$MD/app.flist.sig")" "key $FP1" "the .sig names the key by the SHA-256 of its DER"
cp "$MD/app.flist" "$T/old.flist" && cp "$MD/app.flist.sig" "$T/old.flist.sig"

# The LAN cache: a forged flist (with the store's own .sig) naming another tree.
printf '/evil|%s|5\n' "$(printf 'evil\n' | sha256sum | cut -c1-64)" >"$W/lan/dedupe/md/app.flist"
cp "$MD/app.flist.sig" "$W/lan/dedupe/md/app.flist.sig"
chmod -R a+rX "$W"

cat >"$T/config.toml" <<EOF
[main]
prefix = "/"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
state_dir = "$T/state"
trusted_keys = "$T/keys"
refresh = 2
[[ays]]
id = "app"
[[cache]]
url = "http://127.0.0.1:$P_L"
[[store]]
url = "http://127.0.0.1:$P_S"
EOF

# wait_for SECONDS CMD…: CMD succeeds within SECONDS (tenths polled).
wait_for() {
	local n=$(($1 * 10))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}
reads() { [ "$(cat "$MNT/a" 2>/dev/null)" = "$1" ]; }
logged() { grep -q -- "$1" "$T/log"; }

# ---- sign and mount; the forged copy is refused ---------------------------------------------------
mount_start "$T/mnt" -config "$T/config.toml" || bail "no mount"
is "$(cat "$MNT/a")" one "a flist signed by a trusted key is mounted"
ok_cmd "the LAN cache's forged flist is not mounted" test ! -e "$MNT/evil"
like "$(cat "$T/log")" "service app: http://127.0.0.1:$P_L/dedupe/md/app.flist refused: hash mismatch" \
	"its refusal is logged, naming it and why"
st=$("$CTL" "$MNT" status 2>&1)
like "$st" "app: revision 1, key $FP1, expires 20[0-9-]+ [0-9:]+ UTC" \
	"status shows the revision, the key and the expiry"
ok_cmd "the floor is in the state folder" grep -q '^1 ' "$T/state/revision-app"
rm "$W/lan/dedupe/md/app.flist" "$W/lan/dedupe/md/app.flist.sig"     # its part is played

# ---- nothing changes: 304s ------------------------------------------------------------------------
sleep 5
ok_cmd "while nothing changes, the store answers 304" grep -q '^304 GET /dedupe/md/app.flist ' "$T/store.log"
like "$("$CTL" "$MNT" status 2>&1)" "app: revision 1, .*last check .*: not modified" \
	"status shows the last check"

# ---- a republished flist appears by itself; open files keep their content ------------------------
exec 3<"$MNT/a"
sleep 1.1       # another second: nginx's validators are the file's mtime and size
publish two 2 k1
t0=$(date +%s.%N)
wait_for 8 reads two
ok $? "a republished flist appears with no command"
t1=$(date +%s.%N)
ok "$(awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a <= 2 * 1.2 + 1) }'; echo $?)" \
	"within refresh + 20% (and a second to spare): $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
is "$(cat <&3)" one "a file open before it still reads its old content"
exec 3<&-

# ---- one byte changed: refused, the tree kept, the reason logged ----------------------------------
cp "$MD/app.flist" "$T/two.flist"
sleep 1.1
sed -i '1s/|mode=0644|/|mode=0755|/' "$MD/app.flist"
wait_for 8 logged "service app: http://127.0.0.1:$P_S/dedupe/md/app.flist refused: hash mismatch"
ok $? "a flist changed by one byte is refused, and the log says why"
is "$(cat "$MNT/a")" two "the tree being served is kept"
is "$(stat -c %a "$MNT/a")" 644 "(and not the changed entry)"
n=$(grep -c 'app.flist refused: hash mismatch' "$T/log")
sleep 5
is "$(grep -c 'app.flist refused: hash mismatch' "$T/log")" "$n" "the refusal is logged once, not at every check"

# ---- a .sig by an untrusted key ------------------------------------------------------------------
sleep 1.1
publish three 3 k2
wait_for 8 logged "refused: unknown key $FP2"
ok $? "a .sig made with an untrusted key is refused, naming its fingerprint"
is "$(cat "$MNT/a")" two "the tree being served is kept"

# ---- key rotation in SPEC §8's order ----------------------------------------------------------
sleep 1.1
publish three 3 k1
wait_for 8 reads three
ok $? "(the next revision, signed by the old key, is served)"
marker=$(wc -l <"$T/log")
cp k2.pub keys/ && chmod 644 keys/k2.pub                # 1. the new key on the nodes
"$CTL" "$MNT" reload >/dev/null 2>&1
is "$(cat "$MNT/a")" three "rotation, step 1 (new key added): the current flist is still served"
sleep 1.1
publish four 4 k2                                        # 2. publish with the new key
wait_for 8 reads four
ok $? "rotation, step 2: the flist signed by the new key is served"
rm keys/k1.pub                                           # 3. the old key removed (revoked)
"$CTL" "$MNT" reload >/dev/null 2>&1
is "$(cat "$MNT/a")" four "rotation, step 3 (old key removed): the current flist is still served"
is "$(tail -n +"$((marker + 1))" "$T/log" | grep -c 'refused')" 0 "no refusal during the rotation"
tail -n +"$((marker + 1))" "$T/log" | grep 'refused' | sed 's/^/# /'

# ---- replay of an older revision -----------------------------------------------------------------
cp "$T/k1.pub" keys/ && chmod 644 keys/k1.pub   # the replay is signed by a key still trusted
"$CTL" "$MNT" reload >/dev/null 2>&1
sleep 1.1
cp "$T/old.flist" "$MD/app.flist" && cp "$T/old.flist.sig" "$MD/app.flist.sig"
touch "$MD/app.flist"
wait_for 8 logged "refused: revision 1 below floor 4"
ok $? "an older signed revision put back is refused"
is "$(cat "$MNT/a")" four "the tree being served is kept"
mount_stop
mount_start "$T/mnt" -config "$T/config.toml" || bail "no mount after a restart"
like "$(cat "$T/log")" "refused: revision 1 below floor 4" "after a restart, the replay is refused again"
is "$(cat "$MNT/a")" four "and the last accepted copy is served"
mount_stop
rm -rf "$T/cache"
mount_start "$T/mnt" -config "$T/config.toml" || bail "no mount after a purge"
like "$(cat "$T/log")" "refused: revision 1 below floor 4" "after a purge of the cache too"
ok_cmd "with no acceptable copy left, the service is not mounted" test ! -e "$MNT/a"
mount_stop

# ---- expired at first mount ----------------------------------------------------------------------
mkdir -p "$T/src/exp" && echo exp >"$T/src/exp/a"
"$PACK" -q -sign "$T/k1.key" -expires 0 "$T/src/exp" "$W/store" exp >/dev/null
chmod -R a+rX "$W"
sleep 1.1
sed -i 's/^id = "app"/id = "exp"/' "$T/config.toml"
mount_start "$T/mnt" -config "$T/config.toml" || bail "no mount"
like "$(cat "$T/log")" "service exp: http://127.0.0.1:$P_S/dedupe/md/exp.flist refused: expired on 20[0-9-]+ [0-9:]+ UTC" \
	"an expired flist is refused at first mount, with the date"
ok_cmd "and not mounted" test ! -e "$MNT/a"
mount_stop

done_testing
