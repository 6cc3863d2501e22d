#!/usr/bin/env bash
# The configuration file is parsed by aysfs-config, unprivileged, not by the supervisor (root):
# a file only root can read still works, warnings and errors name FILE:LINE, nothing hangs.
. "$(dirname "$0")/lib.sh"
t_setup

mkdir -p "$T/src" "$T/store"
random_file "$T/src/a" 5000
h=$(put_blob "$T/store" "$T/src/a")
printf '/a|%s|5000\n' "$h" | write_flist "$T/flists/s.flist"
store_config
printf 'surprise = 1\n' >>"$T/config.toml"
chmod 600 "$T/config.toml"

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
ok_cmd "a configuration only root can read is read (the supervisor hands over the open file)" \
	cmp "$T/src/a" "$T/mnt/a"
like "$(grep 'unknown key' "$T/log")" "^WARN config: $T/config.toml:[0-9]+: unknown key store.surprise" \
	"warnings come from aysfs-config and name FILE:LINE"
is "$(pgrep -P "$SUP_PID" -f aysfs-config | wc -l)" 0 "aysfs-config is gone once it has answered"

# A reload with a broken file keeps the tree, and says why.
cp "$T/config.toml" "$T/good.toml"
printf '[main]\nprefix = "/\n' >"$T/config.toml"
kill -HUP "$SUP_PID"
for _ in $(seq 50); do grep -q 'reload:' "$T/log" && break; sleep 0.1; done
like "$(grep 'reload:' "$T/log")" "reload: $T/config.toml:2:[0-9]+: .*the tree being served is kept" \
	"a reload with a syntax error names FILE:LINE:COLUMN and keeps the tree"
ok_cmd "... which is still served" cmp "$T/src/a" "$T/mnt/a"
mount_stop
is "$STOP_STATUS" 0 "the supervisor stops cleanly"

# Files that are not configurations: refused at once, with the reason.
mkfifo "$T/fifo.toml"
start=$(date +%s)
out=$(timeout 20 "$SUPERVISOR" -config "$T/fifo.toml" "$T/mnt" 2>&1); st=$?
is "$st" 1 "a FIFO as configuration exits 1"
like "$out" "$T/fifo.toml: not a regular file" "... saying why"
ok $(($(date +%s) - start > 5)) "... at once"
head -c 1100000 /dev/zero | tr '\0' '#' >"$T/big.toml"
out=$("$SUPERVISOR" -config "$T/big.toml" "$T/mnt" 2>&1); st=$?
is "$st" 1 "a configuration over 1 MiB exits 1"
like "$out" "big.toml: larger than 1048576 bytes" "... saying why"
done_testing
