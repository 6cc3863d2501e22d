#!/usr/bin/env bash
# aysfs-pack publishes into remote stores (SPEC §9): an s3:// bucket (s3rver behind the SigV4 gate
# of lib.sh s3_start) and an http:// store that takes PUT (nginx, dav_methods PUT). A mount reads
# what was published; another S3 client (s3cmd, curl --aws-sigv4) reads it back at the keys any
# client sees; a second publication of the same tree uploads no blob; a publication stopped half
# way leaves the old flist serving.
. "$(dirname "$0")/lib.sh"
t_setup
export TMPDIR=$T        # aysfs-pack's staging folders, a killed run's included, go with $T
s3_start
command -v s3cmd >/dev/null || bail "s3cmd is needed (s3cmd)"
PACK=$AYSFS_BUILD/aysfs-pack

S=$T/src
mkdir -p "$S/a/b"
for i in $(seq 40); do random_file "$S/a/f$i" $((i * 700)); done
random_file "$S/a/b/big" 2000000
printf 'one\n' >"$S/one"
cp "$S/one" "$S/a/b/same-as-one"      # one blob for two files
blobs=$(find "$S" -type f -exec sha256sum {} + | cut -c1-64 | sort -u | wc -l)
printf 'access_key = %s\nsecret_key = %s\n' "$S3_ACCESS" "$S3_SECRET" >"$T/creds"
chmod 600 "$T/creds"
s3opts=(-endpoint "$S3_URL" -region us-east-1 -credentials "$T/creds")

puts() { grep -c "^PUT /priv/store/dedupe/[0-9a-f]/" "$S3_LOG"; }

out=$("$PACK" "${s3opts[@]}" "$S" s3://priv/store app 2>&1)
ok $? "aysfs-pack publishes into s3://priv/store"
like "$out" "uploaded $blobs blobs .* into s3://priv/store, 0 were there; then the flist" "it says what it uploaded"
is "$(puts)" "$blobs" "each blob is PUT once, signed ($blobs blobs)"
is "$(grep -n '^PUT /priv/store/dedupe/md/app.flist 200' "$S3_LOG" | cut -d: -f1)" "$(wc -l <"$S3_LOG")" \
	"the flist is the last request"
# More than one HEAD at a time: the gate saw blobs asked for before the first PUT.
heads=$(awk '/^PUT/ { exit } /^HEAD/ { n++ } END { print n + 0 }' "$S3_LOG")
ok $((heads <= 1)) "blobs are asked for with HEAD, several at a time ($heads HEADs before the first PUT)"

# Read back by other S3 clients, at the keys of the store layout.
s3_get priv/store/dedupe/md/app.flist >"$T/got.flist"
cmp -s "$T/got.flist" <(grep -v '^#' "$T/got.flist")  # it is text
ok $? "curl --aws-sigv4 reads the flist back"
h=$(sha256sum <"$S/a/b/big" | cut -c1-64)
s3_get "priv/store/dedupe/${h:0:1}/${h:1:1}/$h" | cmp -s - "$S/a/b/big"
ok $? "curl --aws-sigv4 reads a blob back at NS/H0/H1/HASH"
hp=${S3_URL#http://}
s3c=(s3cmd --no-ssl --host="$hp" --host-bucket="$hp" --access_key="$S3_ACCESS" --secret_key="$S3_SECRET"
     --region=us-east-1 -c /dev/null)
listing=$("${s3c[@]}" ls s3://priv/store/dedupe/md/ 2>&1)
like "$listing" "s3://priv/store/dedupe/md/app.flist" "s3cmd lists the flist"
"${s3c[@]}" get "s3://priv/store/dedupe/${h:0:1}/${h:1:1}/$h" "$T/s3cmd-big" >/dev/null 2>&1
cmp -s "$T/s3cmd-big" "$S/a/b/big"
ok $? "s3cmd reads a blob back"

# reads_tree NAME WHAT LAYER-LINES…: a mount of the service "app" from that [[store]], with a
# cache of its own, reads the whole tree.
reads_tree() {
	local name=$1 what=$2
	shift 2
	{
		printf '[main]\nprefix = "/"\nflist_dir = "%s/none"\ncache_dir = "%s/cache-%s"\n' "$T" "$T" "$name"
		printf '[[ays]]\nid = "app"\n[[store]]\n'
		printf '%s\n' "$@"
	} >"$T/$name.toml"
	mount_start "$T/mnt" -config "$T/$name.toml" || bail "mount failed"
	diff -r "$S" "$T/mnt" >/dev/null
	ok $? "$what"
	mount_stop
}
reads_tree s3 "a mount reads the published tree from the bucket" 'url = "s3://priv/store"' \
	"endpoint = \"$S3_URL\"" "credentials = \"$T/creds\""

# Again, unchanged: no blob is uploaded, the flist is.
: >"$S3_LOG"
out=$("$PACK" "${s3opts[@]}" "$S" s3://priv/store app 2>&1)
ok $? "a second publication of the same tree"
is "$(puts)" 0 "uploads no blob"
like "$out" "uploaded 0 blobs .* $blobs were there" "and says so"
grep -q '^PUT /priv/store/dedupe/md/app.flist 200' "$S3_LOG"
ok $? "the flist is written again"

# 503s are tried again: the first three PUTs of a publication are refused with 503 SlowDown.
random_file "$S/retried" 5000
: >"$S3_LOG"
echo 3 >"$T/s3-put-fail"
"$PACK" -q "${s3opts[@]}" "$S" s3://priv/store app
ok $? "a publication whose first three PUTs get 503 SlowDown succeeds"
is "$(grep -c '^PUT .* 503$' "$S3_LOG"):$(grep -c '^PUT /priv/store/dedupe/md/app.flist 200$' "$S3_LOG")" "3:1" \
	"the 503s were tried again, and the flist written"
s3_get priv/store/dedupe/md/app.flist >"$T/got.flist"

# Stopped half way: new blobs, each PUT slowed down; killed after some of them.
cp "$T/got.flist" "$T/old.flist"
for i in $(seq 60); do random_file "$S/new$i" 3000; done
: >"$S3_LOG"
echo 0.2 >"$T/s3-put-delay"
"$PACK" -q "${s3opts[@]}" "$S" s3://priv/store app >/dev/null 2>&1 &
pack=$!
for _ in $(seq 200); do [ "$(puts)" -ge 10 ] && break; sleep 0.05; done
kill -KILL "$pack"
wait "$pack" 2>/dev/null
rm -f "$T/s3-put-delay"
n=$(puts)
ok $((n >= 60)) "the publication was stopped half way ($n of 60 new blobs uploaded)"
s3_get priv/store/dedupe/md/app.flist | cmp -s - "$T/old.flist"
ok $? "the bucket still holds the old flist"
mount_start "$T/mnt" -config "$T/s3.toml" || bail "mount failed"
[ -e "$T/mnt/a/b/big" ] && [ ! -e "$T/mnt/new1" ] && cmp -s "$S/a/b/big" "$T/mnt/a/b/big"
ok $? "a mount serves the old tree"
mount_stop

# An http:// store that takes PUT (nginx's dav_methods PUT), with its own access log.
port=$(free_port)
mkdir -p "$T/www/store"
chmod 777 "$T/www/store"
nginx_start "server {
	listen 127.0.0.1:$port;
	access_log $T/put.log;
	client_max_body_size 0;
	location / { root $T/www; dav_methods PUT; create_full_put_path on; dav_access all:r; }
}"
: >"$T/put.log"
out=$("$PACK" "$S" "http://127.0.0.1:$port/store" app 2>&1)
ok $? "aysfs-pack publishes into an http:// store that takes PUT" || diag "$out"
total=$(find "$S" -type f -exec sha256sum {} + | cut -c1-64 | sort -u | wc -l)
is "$(grep -c '"PUT /store/dedupe/[0-9a-f]/' "$T/put.log")" "$total" "each blob is PUT once ($total blobs)"
reads_tree http "a mount reads the tree published over HTTP PUT" "url = \"http://127.0.0.1:$port/store\""
: >"$T/put.log"
"$PACK" -q "$S" "http://127.0.0.1:$port/store" app
ok $? "a second publication over HTTP"
is "$(grep -c '"PUT /store/dedupe/[0-9a-f]/' "$T/put.log")" 0 "uploads no blob"
is "$(grep -c '"PUT /store/dedupe/md/app.flist' "$T/put.log")" 1 "and the flist once"

done_testing
