#!/usr/bin/env bash
# -auto (SPEC section 5) against a temporary -root, a real DNS server (dnsmasq on a loopback
# address, named by -resolv) and real nginx servers on the probed ports: the discovered layers and
# their order; names that resolve to a closed port or do not resolve are not used; discovery is
# bounded when no name is answered; flists of ROOT/etc/ays/local are mounted, after configured
# [[ays]]; a LAN cache that starts later is used, one that stops is skipped without read errors,
# and a read in progress survives a change of the layer list. Also: a configured [[store]] named
# by a host name is resolved through -resolv.
. "$(dirname "$0")/lib.sh"
t_setup

command -v nginx >/dev/null || bail "nginx is needed (nginx-light)"
command -v openssl >/dev/null || bail "openssl is needed"

BLACKHOLE_PID=
auto_cleanup() {
	local p
	[ -n "$BLACKHOLE_PID" ] && kill "$BLACKHOLE_PID" 2>/dev/null
	for p in "$T"/nginx-*.pid; do
		[ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null
	done
	dns_stop
	_cleanup
}
trap auto_cleanup EXIT


# The hosts of this test live on 127.54.N.X (a block of its own, so tests running at the same time
# do not meet): .1 ayscache1, .2 aysmaster2, .3 ayscache3 (closed port), .4 ayscache4 (started
# later), .7 aysmaster7 (closed port), .9 storehost.
NET=127.54.$((RANDOM % 250 + 1))
CP=$(free_port "$NET.1")
MP=$(free_port "$NET.2")
SP=$(free_port "$NET.9")

# ---- the tree under -root, the stores, and the flists ---------------------------------------------
R=$T/root
A=$R/mnt/ays
W=$T/www
mkdir -p "$A/cachelocal" "$A/cachelan2" "$A/master" "$A/master5" "$R/etc/ays/local/sub" "$T/src" \
	"$W/c1/cache" "$W/c4/cache" "$W/m2/master" "$W/s9/store" "$T/flists"
for f in local lanf master master5 lanh msth mf_vs_mh h_vs_mf new both4 gone4 rst extra conf_c conf_d svc_c; do
	random_file "$T/src/$f" $((1000 + RANDOM))
done
random_file "$T/src/big" 6000000
h() { md5sum <"$T/src/$1" | cut -c1-32; }
put() { local s=$1 f; shift; for f in "$@"; do put_blob "$s" "$T/src/$f" >/dev/null; done; }
put "$A/cachelocal" local
put "$A/cachelan2" lanf
put "$A/master" master lanf h_vs_mf
put "$A/master5" master5 mf_vs_mh
put "$W/c1/cache" lanh h_vs_mf big rst
put "$W/m2/master" lanh msth mf_vs_mh both4 gone4
put "$W/c4/cache" new both4 gone4
put "$W/s9/store" svc_c conf_d
chmod -R a+rX "$R" "$W"
chown -R aysfs "$A/cachelocal"          # the local cache: the workers write it

{
	for f in local lanf master master5 lanh msth mf_vs_mh h_vs_mf new both4 gone4 rst big; do
		printf '/a/%s|%s|%s\n' "$f" "$(h $f)" "$(stat -c %s "$T/src/$f")"
	done
	printf '/conflict|%s|%s\n' "$(h conf_d)" "$(stat -c %s "$T/src/conf_d")"
} | write_flist "$R/etc/ays/local/main.flist"
printf '/b/extra|%s|%s\n' "$(h extra)" "$(stat -c %s "$T/src/extra")" | write_flist "$R/etc/ays/local/sub/more.flist"
put "$A/master" extra
# A configured service whose /conflict must win over the discovered main.flist's.
printf '/c/svc|%s|%s\n/conflict|%s|%s\n' "$(h svc_c)" "$(stat -c %s "$T/src/svc_c")" \
	"$(h conf_c)" "$(stat -c %s "$T/src/conf_c")" | write_flist "$T/flists/svc.flist"
put "$A/master" conf_c

# ---- certificates for the masters, a throwaway CA ----------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.crt" -days 2 \
	-subj "/CN=aysfs test CA" >/dev/null 2>&1 &&
openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" -subj "/CN=aysmaster2" \
	>/dev/null 2>&1 &&
printf 'subjectAltName=DNS:aysmaster2,DNS:aysmaster7\n' >"$T/srv.ext" &&
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial \
	-out "$T/srv.crt" -days 2 -extfile "$T/srv.ext" >/dev/null 2>&1 || bail "cannot make certificates"
chmod 644 "$T/ca.crt"

# nginx_start NAME SERVER-BLOCK: one nginx per host, so that each can be stopped on its own.
nginx_start() {
	mkdir -p "$T/nginx-tmp-$1"
	cat >"$T/nginx-$1.conf" <<EOF
worker_processes 1;
daemon on;
pid $T/nginx-$1.pid;
error_log $T/nginx-$1.err;
events { worker_connections 64; }
http {
	access_log $T/access-$1.log;
	client_body_temp_path $T/nginx-tmp-$1;
	proxy_temp_path $T/nginx-tmp-$1;
	fastcgi_temp_path $T/nginx-tmp-$1;
	uwsgi_temp_path $T/nginx-tmp-$1;
	scgi_temp_path $T/nginx-tmp-$1;
	$2
}
EOF
	nginx -c "$T/nginx-$1.conf" -p "$T/" || bail "nginx $1 does not start: $(cat "$T/nginx-$1.err")"
	for _ in $(seq 50); do [ -s "$T/nginx-$1.pid" ] && return 0; sleep 0.1; done
	bail "nginx $1 wrote no pid file"
}
# nginx_stop NAME; without a name (lib.sh's clean-up), every one still running.
nginx_stop() {
	local pid n
	if [ $# = 0 ]; then
		for n in "$T"/nginx-*.pid; do
			[ -s "$n" ] || continue
			n=${n##*/nginx-}
			nginx_stop "${n%.pid}"
		done
		return 0
	fi
	# nginx removes its pid file as it exits: one stopped a moment ago has none to read.
	pid=$(cat "$T/nginx-$1.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null || { rm -f "$T/nginx-$1.pid"; return 0; }
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$T/nginx-$1.pid"
}

nginx_start c1 "server { listen $NET.1:$CP; root $W/c1; location /cache/dedupe/$(h big | cut -c1)/ { limit_rate 1m; } }"
nginx_start m2 "server { listen $NET.2:$MP ssl; ssl_certificate $T/srv.crt; ssl_certificate_key $T/srv.key; root $W/m2; }"
nginx_start s9 "server { listen $NET.9:$SP; root $W/s9; }"

dns_start ayscache1=$NET.1 aysmaster2=$NET.2 ayscache3=$NET.3 ayscache4=$NET.4 aysmaster7=$NET.7 \
	storehost=$NET.9

layer_of() { getfattr --only-values -n user.aysfs.layer "$MNT/$1" 2>/dev/null; }
# wait_log REGEX SECONDS: until the mount's log has a line matching REGEX.
wait_log() {
	for _ in $(seq $(($2 * 10))); do grep -Eq -- "$1" "$T/log" && return 0; sleep 0.1; done
	return 1
}
AUTO=(-auto -root "$R" -resolv "$DNS_RESOLV" -cafile "$T/ca.crt" -cache-port "$CP" -master-port "$MP")

# ---- 1. what is discovered, in which order -----------------------------------------------------------
cat >"$T/c1.toml" <<EOF
[main]
prefix = "/"
cache_dir = "$T/cache1"
rediscover = 2
EOF
mount_start "$T/mnt" -l 5 -config "$T/c1.toml" "${AUTO[@]}" || bail "mount with -auto failed"
got=$(sed -n 's/^.* indexer: auto: layer \([0-9]*\): \(.*\)$/\1 \2/p' "$T/log")
want="1 $A/cachelocal (discovered local cache)
2 $A/cachelan2 (discovered LAN cache folder)
3 http://ayscache1:$CP/cache (discovered LAN cache)
4 $A/master (discovered master folder)
5 $A/master5 (discovered master folder)
6 https://aysmaster2:$MP/master (discovered master)"
is "$got" "$want" "the start-up log has one line per discovered layer, in SPEC order"
like "$(grep 'local cache:' "$T/log")" "local cache: $A/cachelocal/dedupe" "cachelocal is the local cache"
ok $(grep -q 'auto: layer.*ayscache3' "$T/log"; echo $((! $?))) "a name that resolves to a closed port is not used"
is "$(grep 'auto: layer' "$T/log" | grep -Ev "ayscache1:|aysmaster2:|$A/")" "" "names that do not resolve are not used"
ok $(grep -q 'auto: layer.*aysmaster7' "$T/log"; echo $((! $?))) "a master whose port is closed is not used"
like "$(grep 'hosts answered the probe' "$T/log")" "auto: 2 of 22 hosts answered" "the probe found exactly the two open hosts"
diag "$(grep -o 'auto: 2 of 22 hosts answered.*' "$T/log")"

# A -root that does not exist is a usage error.
"$SUPERVISOR" -auto -root "$T/no-such-root" "$T/mnt-other" 2>"$T/noroot.err"
is "$?" 1 "-auto with a missing -root exits 1"
like "$(cat "$T/noroot.err")" "no-such-root" "... naming it"

# ---- 2. reads follow that order ------------------------------------------------------------------------
same=0
for f in local lanf master master5 lanh msth mf_vs_mh h_vs_mf; do
	cmp -s "$MNT/a/$f" "$T/src/$f" || { same=1; diag "$f differs or cannot be read"; }
done
ok $same "files from every discovered layer are byte-identical"
is "$(layer_of a/local)" "$A/cachelocal" "a blob in cachelocal is served from it"
is "$(layer_of a/lanf)" "$A/cachelan2" "a LAN cache folder comes before a master folder"
is "$(layer_of a/h_vs_mf)" "http://ayscache1:$CP/cache" "a LAN cache host comes before a master folder"
is "$(layer_of a/lanh)" "http://ayscache1:$CP/cache" "a LAN cache host comes before a master host"
is "$(layer_of a/mf_vs_mh)" "$A/master5" "a master folder comes before a master host"
is "$(layer_of a/msth)" "https://aysmaster2:$MP/master" "a master host serves over https, checked with -cafile"
is "$(layer_of a/master5)" "$A/master5" "master5 serves what only it has"
ok $([ -f "$(blob_path "$A/cachelocal" "$(h msth)")" ]; echo $?) "a blob from a master is written into cachelocal"
ok $([ ! -e "$(blob_path "$A/cachelan2" "$(h msth)")" ]; echo $?) \
	"a LAN cache folder the workers cannot write is used read-only"

# ---- 3. flists of ROOT/etc/ays/local --------------------------------------------------------------------
is "$(cat "$MNT/b/extra" | md5sum | cut -c1-32)" "$(h extra)" "a flist in a subfolder of etc/ays/local is mounted"
like "$(grep 'service ' "$T/log")" "service main: .*main.flist" "main.flist is mounted as service main"
like "$(grep 'service ' "$T/log")" "service more: .*sub/more.flist" "sub/more.flist is mounted as service more"

# ---- 4. a LAN cache that appears, one that stops, a read during a change ----------------------------------
nginx_start c4 "server { listen $NET.4:$CP; root $W/c4; }"
wait_log "auto: LAN cache http://ayscache4:$CP/cache appeared" 6
ok $? "a LAN cache started after the mount is discovered within a re-discovery interval"
cmp -s "$MNT/a/new" "$T/src/new"
ok $? "a blob only the new LAN cache has is read"
is "$(layer_of a/new)" "http://ayscache4:$CP/cache" "... from the new LAN cache"
nginx_stop c4
cmp -s "$MNT/a/both4" "$T/src/both4"
ok $? "just after a LAN cache stops, a read falls through to the master without an error"
is "$(layer_of a/both4)" "https://aysmaster2:$MP/master" "... and is served by the master"
wait_log "auto: LAN cache http://ayscache4:$CP/cache is gone" 6
ok $? "a LAN cache that stops is dropped at the next re-discovery"
cmp -s "$MNT/a/gone4" "$T/src/gone4"
ok $? "after it is dropped, reads go on from the master"
is "$(grep -c "ayscache4:$CP/cache appeared" "$T/log")" 1 "the appearance is one log line"
is "$(grep -c "ayscache4:$CP/cache is gone" "$T/log")" 1 "the disappearance is one log line"

# A 6 MB blob from ayscache1 at 1 MB/s; a LAN cache folder appears while it is read.
cat "$MNT/a/big" >"$T/big.out" 2>"$T/big.err" &
CAT=$!
sleep 0.3
mkdir "$A/cachelan7"
wait_log "auto: LAN cache folder $A/cachelan7 appeared" 6
ok $? "a new cache folder is discovered"
kill -0 $CAT 2>/dev/null
ok $? "... while the read of the big file is still running"
wait $CAT
ok $? "the read in progress completes"
cmp -s "$T/big.out" "$T/src/big"
ok $? "... with the right bytes"

# The fetcher dies: re-discoveries while it is restarted keep the hosts found last.
kill -KILL "$(worker_pid fetcher)"
wait_log "the fetcher is restarted" 5
sleep 4
ok $(grep -Eq "ayscache1:$CP/cache is gone|aysmaster2:$MP/master is gone" "$T/log"; echo $((! $?))) \
	"a fetcher restart does not drop the discovered hosts"
cmp -s "$MNT/a/rst" "$T/src/rst"
ok $? "after the restart, a LAN cache host still serves"
is "$(layer_of a/rst)" "http://ayscache1:$CP/cache" "... the discovered one"
mount_stop
is "$STOP_STATUS" 0 "the -auto mount stops cleanly"

# ---- 5. -auto with -config: discovered layers first, [[ays]] before discovered flists ------------------------
rmdir "$A/cachelan7"
cat >"$T/c2.toml" <<EOF
[main]
prefix = "/"
cache_dir = "$T/cache2"
flist_dir = "$T/flists"
[[ays]]
id = "svc"
[[cache]]
url = "http://ayscache1:$CP/cache"
[[store]]
url = "http://storehost:$SP/store"
EOF
mount_start "$T/mnt" -config "$T/c2.toml" "${AUTO[@]}" || bail "mount with -auto and -config failed"
is "$(grep -c "auto: layer .*ayscache1:$CP" "$T/log")" 1 "a configured layer that is discovered too is listed once"
got=$(sed -n 's/^.* indexer: auto: layer \([0-9]*\): \(.*\)$/\1 \2/p' "$T/log" | tail -2)
is "$got" "6 https://aysmaster2:$MP/master (discovered master)
7 http://storehost:$SP/store (configured)" "configured layers come after the discovered ones"
is "$(getfattr --only-values -n user.aysfs.ays "$MNT/conflict" 2>/dev/null)" svc \
	"a configured [[ays]] comes before the discovered flists"
cmp -s "$MNT/conflict" "$T/src/conf_c"
ok $? "... and its file is the one served"
ok $([ -f "$MNT/a/local" ] && [ -f "$MNT/b/extra" ]; echo $?) "the discovered flists are mounted too"
cmp -s "$MNT/c/svc" "$T/src/svc_c"
ok $? "the configured store (a host name) serves what only it has"
# rediscover is 60 s here: only a reload can find the new folder and flist this soon.
mkdir "$A/cachelan9"
printf '/d/late|%s|%s\n' "$(h master)" "$(stat -c %s "$T/src/master")" | write_flist "$R/etc/ays/local/late.flist"
kill -HUP "$SUP_PID"
wait_log "auto: LAN cache folder $A/cachelan9 appeared" 5
ok $? "a reload discovers again"
wait_log "tree generation 2" 5
cmp -s "$MNT/d/late" "$T/src/master"
ok $? "a flist added to etc/ays/local is mounted at the reload"
mount_stop
rmdir "$A/cachelan9"
rm "$R/etc/ays/local/late.flist"

# ---- 6. a [[store]] named by a host name, resolved through -resolv (no -auto) -------------------------------
cat >"$T/c3.toml" <<EOF
[main]
prefix = "/"
cache_dir = "$T/cache3"
flist_dir = "$T/flists"
[[ays]]
id = "svc"
[[store]]
url = "http://storehost:$SP/store"
EOF
printf '/c/svc|%s|%s\n' "$(h svc_c)" "$(stat -c %s "$T/src/svc_c")" | write_flist "$T/flists/svc.flist"
mount_start "$T/mnt" -config "$T/c3.toml" -resolv "$DNS_RESOLV" || bail "mount with a named store failed"
cmp -s "$MNT/c/svc" "$T/src/svc_c"
ok $? "a store named by a host name is resolved through -resolv and serves its files"
is "$(layer_of c/svc)" "http://storehost:$SP/store" "... under the URL as configured"
grep -q "storehost" "$T/dnsmasq.log"
ok $? "the name was asked of the DNS server of -resolv"
mount_stop

# ---- 7. no name answered at all: discovery stays within its deadline --------------------------------------------
BH=$NET.53
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 53))
open(sys.argv[2], "w").close()
while True: time.sleep(60)
' "$BH" "$T/blackhole.ready" &
BLACKHOLE_PID=$!
printf 'nameserver %s\n' "$BH" >"$T/blackhole.conf"
chmod 644 "$T/blackhole.conf"
for _ in $(seq 50); do [ -e "$T/blackhole.ready" ] && break; sleep 0.1; done
[ -e "$T/blackhole.ready" ] || bail "the silent DNS server does not start"
start=$(date +%s%N)
mount_start "$T/mnt" -l 5 -config "$T/c1.toml" -auto -root "$R" -resolv "$T/blackhole.conf" \
	-cache-port "$CP" -master-port "$MP" || bail "mount with an unanswering DNS server failed"
took=$((($(date +%s%N) - start) / 1000000))
# The first discovery also waits for the fetcher to start; the next ones (every 2 s here) do not.
wait_log "DEBUG indexer: auto: .* hosts answered the probe" 6
first=$(sed -n 's/.*INFO indexer: auto: .* hosts answered the probe, in \([0-9]*\) ms.*/\1/p' "$T/log" | head -1)
ms=$(sed -n 's/.*DEBUG indexer: auto: .* hosts answered the probe, in \([0-9]*\) ms.*/\1/p' "$T/log" | head -1)
diag "discovery with no DNS answer: ${ms:-?} ms (at start-up, with the fetcher starting: ${first:-?} ms; the whole mount: $took ms)"
ok $([ -n "$ms" ] && [ "$ms" -lt 1500 ]; echo $?) "discovery with no name answered takes under 1.5 s ($ms ms)"
ok $([ -n "$first" ] && [ "$first" -lt 3000 ]; echo $?) "... and under 3 s at start-up, the fetcher's start included ($first ms)"
like "$(grep 'hosts answered the probe' "$T/log")" "0 of 22" "... and no host is used"
grep -q 'auto: aysmaster9:.* is not used: no name lookup answer within 1000 ms' "$T/log"
ok $? "the names were not answered: the probes waited for their deadline"
got=$(sed -n 's/^.* indexer: auto: layer \([0-9]*\): \(.*\)$/\1 \2/p' "$T/log" | wc -l)
is "$got" 4 "the folders are still found"
cmp -s "$MNT/a/local" "$T/src/local"
ok $? "and files are served from them"
mount_stop

done_testing
