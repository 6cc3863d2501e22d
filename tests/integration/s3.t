#!/usr/bin/env bash
# s3:// layers (SPEC §9) against a real S3 implementation on loopback (s3rver, behind a gate that
# checks Signature Version 4 with botocore: lib.sh s3_start): a private bucket read with signed
# requests; a wrong secret makes every read fail with EIO and the log say SignatureDoesNotMatch
# without a key in it; a public bucket read anonymously; NoSuchBucket said; a credentials file
# others can read is a warning.
. "$(dirname "$0")/lib.sh"
t_setup
s3_start

S=$T/src
mkdir -p "$S/lib/sub"
random_file "$S/lib/big.bin" 1500000
random_file "$S/lib/sub/small" 33
printf 'hello from a bucket\n' >"$S/hello"
"$AYSFS_BUILD/aysfs-pack" -q -hash sha256 "$S" "$T/pub" app || bail "aysfs-pack failed"
# Into both buckets, under PATH "store", with curl's own signing.
n=0
while read -r f; do
	s3_put "priv/store/${f#./}" "$T/pub/$f" && s3_put "pub/tree/${f#./}" "$T/pub/$f" || n=$((n + 1))
done < <(cd "$T/pub" && find . -type f)
is "$n" 0 "the published store is uploaded into both buckets"

printf 'access_key = %s\nsecret_key = %s\n' "$S3_ACCESS" "$S3_SECRET" >"$T/creds"
printf '# a wrong secret\naccess_key = "%s"\nsecret_key = "%s"\n' "$S3_ACCESS" "wrong-$S3_SECRET" >"$T/badcreds"
chmod 600 "$T/creds" "$T/badcreds"

# conf NAME LAYER-LINES…: $T/NAME.toml, the service "app" from the layers, a cache of its own.
conf() {
	local name=$1
	shift
	{
		printf '[main]\nprefix = "/"\nflist_dir = "%s/none"\ncache_dir = "%s/cache-%s"\n' "$T" "$T" "$name"
		printf '[[ays]]\nid = "app"\n'
		printf '%s\n' "$@"
	} >"$T/$name.toml"
}

same() { cmp -s "$S/$1" "$T/mnt/$1"; }

conf priv '[[store]]' 'url = "s3://priv/store"' "endpoint = \"$S3_URL\"" 'region = "us-east-1"' \
	"credentials = \"$T/creds\""
mount_start "$T/mnt" -config "$T/priv.toml" || bail "mount of the private bucket failed"
same hello && same lib/big.bin && same lib/sub/small
ok $? "a private bucket: the flist and every blob are read with signed requests"
grep -q 'GET /priv/store/dedupe/md/app.flist 200' "$S3_LOG"
ok $? "the flist came from the bucket, path-style, with a 200"
st=$("$AYSFS_BUILD/aysfs-ctl" "$T/mnt" status 2>&1)
like "$st" "s3://priv/store  up, hits [1-9]" "aysfs-ctl status shows the s3:// layer, up, with its hits"
ok $(printf '%s' "$st" | grep -q -e "$S3_SECRET" -e "$S3_ACCESS"; echo $((! $?))) "and no key"
mount_stop
is "$STOP_STATUS" 0 "clean stop"
out=$("$SUPERVISOR" -check -config "$T/priv.toml" "$T/mnt" 2>&1)
ok $? "-check passes with the s3:// layer" || printf '%s\n' "$out" | sed 's/^/#   /'

# A wrong secret: the flist is given locally, so that the tree is there and each read must fail.
mkdir -p "$T/flists"
cp "$T/pub/dedupe/md/app.flist" "$T/flists/app.flist"
chmod 644 "$T/flists/app.flist"
conf bad '[[store]]' 'url = "s3://priv/store"' "endpoint = \"$S3_URL\"" "credentials = \"$T/badcreds\""
sed -i "s|^id = \"app\"|id = \"app\"\nflist = \"$T/flists/app.flist\"|" "$T/bad.toml"
mount_start "$T/mnt" -config "$T/bad.toml" || bail "mount with a wrong secret failed"
errs=0
for f in hello lib/big.bin lib/sub/small; do
	out=$(cat "$T/mnt/$f" 2>&1 >/dev/null)
	case $out in *"Input/output error"*) ;; *) errs=$((errs + 1)); diag "$f: $out" ;; esac
done
is "$errs" 0 "a wrong secret: every read fails with EIO"
grep -q 'HTTP 403 SignatureDoesNotMatch' "$T/log"
ok $? "the log says what S3 said: 403 SignatureDoesNotMatch"
line=$(grep 'lib/sub/small: no valid copy' "$T/log" | head -1)
is "$(printf '%s' "$line" | grep -o 's3://priv/store/' | wc -l)" 1 "in one line for the layer (HASH.bro is not asked after HASH was refused)"
# The credentials are read again at a reload: with the right secret in the file, reads work.
cp "$T/creds" "$T/badcreds"
kill -HUP "$SUP_PID"
fixed=1
for _ in $(seq 100); do
	same hello 2>/dev/null && { fixed=0; break; }
	sleep 0.1
done
ok $fixed "after the file is corrected, a reload (SIGHUP) makes reads work"
mount_stop
leaks=$(grep -c -e "$S3_SECRET" -e "$S3_ACCESS" "$T/log")
is "$leaks" 0 "neither the secret nor the access key is in the log"

# Anonymous: the public bucket without credentials; the private one without them is refused.
conf anon '[[store]]' 'url = "s3://pub/tree"' "endpoint = \"$S3_URL\""
mount_start "$T/mnt" -config "$T/anon.toml" || bail "mount of the public bucket failed"
same hello && same lib/big.bin
ok $? "a public bucket is read with anonymous requests"
mount_stop

conf anonpriv '[[store]]' 'url = "s3://priv/store"' "endpoint = \"$S3_URL\""
sed -i "s|^id = \"app\"|id = \"app\"\nflist = \"$T/flists/app.flist\"|" "$T/anonpriv.toml"
mount_start "$T/mnt" -config "$T/anonpriv.toml" || bail "mount of the private bucket, anonymous, failed"
cat "$T/mnt/hello" >/dev/null 2>&1
ok $((! $?)) "the private bucket refuses anonymous reads"
grep -q 'HTTP 403 AccessDenied' "$T/log"
ok $? "the log says 403 AccessDenied"
mount_stop

# push = true: the blobs read from the store are written, signed, into a writable bucket.
conf push '[[cache]]' 'url = "s3://priv/cache"' "endpoint = \"$S3_URL\"" "credentials = \"$T/creds\"" \
	'push = true' '[[store]]' 'url = "s3://pub/tree"' "endpoint = \"$S3_URL\""
mount_start "$T/mnt" -config "$T/push.toml" || bail "mount with a push cache failed"
same hello && same lib/big.bin
ok $? "a tree read from the public bucket"
h=$(sha256sum <"$S/lib/big.bin" | cut -c1-64)
pushed=1
for _ in $(seq 100); do
	s3_get "priv/cache/dedupe/${h:0:1}/${h:1:1}/$h" 2>/dev/null | cmp -s - "$S/lib/big.bin" && { pushed=0; break; }
	sleep 0.1
done
ok $pushed "push = true: a blob read is written into the private bucket"
grep -q "^PUT /priv/cache/dedupe/${h:0:1}/${h:1:1}/$h 200" "$S3_LOG"
ok $? "with a signed PUT"
mount_stop

# A bucket that does not exist is said as such; a credentials file others can read is a warning.
chmod 644 "$T/creds"
conf nobucket '[[store]]' 'url = "s3://nobucket/x"' "endpoint = \"$S3_URL\"" "credentials = \"$T/creds\""
sed -i "s|^id = \"app\"|id = \"app\"\nflist = \"$T/flists/app.flist\"|" "$T/nobucket.toml"
mount_start "$T/mnt" -config "$T/nobucket.toml" || bail "mount of a missing bucket failed"
cat "$T/mnt/hello" >/dev/null 2>&1
grep -q 'HTTP 404 NoSuchBucket' "$T/log"
ok $? "a missing bucket: the log says 404 NoSuchBucket"
grep -q "credentials $T/creds can be read by other accounts" "$T/log"
ok $? "a credentials file others can read is a warning"
mount_stop
leaks=$(grep -c -e "$S3_SECRET" -e "$S3_ACCESS" "$T/log" "$T/s3gate.err" 2>/dev/null | awk -F: '{ s += $NF } END { print s }')
is "$leaks" 0 "no key in any log"

done_testing
