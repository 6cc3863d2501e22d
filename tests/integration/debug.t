#!/usr/bin/env bash
# Debug mode (SPEC §7): files the filter matches are written on the mount and stored in a real
# Redis (debug:paths/files/log:MOUNT); everything else stays read-only.
. "$(dirname "$0")/lib.sh"
t_setup
command -v redis-server >/dev/null || bail "redis-server is needed (Debian's redis-server)"
command -v redis-cli >/dev/null || bail "redis-cli is needed (Debian's redis-tools)"
command -v vim >/dev/null || command -v vim.tiny >/dev/null || bail "vim is needed (vim-tiny)"
VIM=$(command -v vim || command -v vim.tiny)

RP=$(free_port)
redis_start() {
	redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
		--pidfile "$T/redis.pid" --dir "$T" --logfile "$T/redis.log" >/dev/null
	for _ in $(seq 50); do redis-cli -p "$RP" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
	bail "redis-server did not start"
}
redis_stop() {
	local pid
	pid=$(cat "$T/redis.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$T/redis.pid"
}
unix_stop() { [ -s "$T/redis-unix.pid" ] && kill "$(cat "$T/redis-unix.pid")" 2>/dev/null; }
trap 'redis_stop; unix_stop; _cleanup' EXIT
rcli() { redis-cli -p "$RP" "$@"; }

mkdir -p "$T/store/dedupe" "$T/src/app"
printf 'print("old")\n' >"$T/src/app/main.py"
printf 'def f():\n    return 1\n' >"$T/src/app/lib.py"
printf 'plain text\n' >"$T/src/app/readme.txt"
printf 'key: value\n' >"$T/src/app/conf.hrd"
{
	for f in main.py lib.py readme.txt conf.hrd; do
		printf '/app/%s|%s|%s\n' "$f" "$(put_blob "$T/store" "$T/src/app/$f")" "$(stat -c %s "$T/src/app/$f")"
	done
	echo '/app/sub||0|type=d'
} | write_flist "$T/flists/s.flist"
config() {      # config FILE DEBUG-SECTION…
	local f=$1
	shift
	printf '[main]\nid = "node1"\nprefix = "/"\nflist_dir = "%s"\ncache_dir = "%s"\n[[store]]\nurl = "%s"\n%s\n' \
		"$T/flists" "$T/cache" "$T/store" "$*" >"$f"
}
config "$T/config.toml" "[debug]
filter = ['.*\\.py', '.*\\.hrd']
redis = \"127.0.0.1:$RP\"
max_size = 65536"
redis_start
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(readlink /proc/$(worker_pid fuser)/exe)" "/aysfs-fuser-debug\$" \
	"a mount with [debug] is served by aysfs-fuser-debug, the fuser with write handlers"
M=$T/mnt
like "$(findmnt -n -o OPTIONS "$M")" '^rw,' "with [debug] the mount is read-write"

# errno CALL ARGS…: exits 0 when the call fails with that errno (python3: the errno itself).
pyerr() {
	python3 - "$@" <<'PY'
import errno, os, sys
want, call, args = sys.argv[1], sys.argv[2], sys.argv[3:]
try:
    if call == "create":
        os.close(os.open(args[0], os.O_WRONLY | os.O_CREAT, 0o644))
    elif call == "write":
        os.close(os.open(args[0], os.O_WRONLY))
    elif call == "big":
        with open(args[0], "wb") as f:
            f.write(b"x" * int(args[1]))
    else:
        getattr(os, call)(*args)
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
    sys.exit(0 if errno.errorcode.get(e.errno) == want else 2)
print("no error")
sys.exit(1)
PY
}
md5() { md5sum <"$1" | cut -c1-32; }

# ---- a new file, written by python3, read by another process -----------------------------------
python3 -c "open('$M/app/new.py', 'w').write('print(\"new file\")\n')"
is "$?" 0 "python3 creates and writes a new matching file"
is "$(cat "$M/app/new.py")" 'print("new file")' "another process reads the new content"
h=$(printf 'print("new file")\n' | md5sum | cut -c1-32)
is "$(rcli hget debug:paths:node1 /app/new.py)" "$h,18" "debug:paths:node1 maps the path to md5,size"
is "$(rcli hget debug:files:node1 "$h")" 'print("new file")' "debug:files:node1 holds the content under its md5"
like "$(rcli lrange debug:log:node1 -1 -1)" "^\[[0-9]+,\"/app/new.py\",\"$h\"\]$" \
	"debug:log:node1 has [epoch,\"path\",\"md5\"]"
like "$(ls "$M/app")" "new.py" "the new file is listed"
is "$(stat -c %s "$M/app/new.py")" 18 "stat: the size written"
now=$(date +%s)
mt=$(stat -c %Y "$M/app/new.py")
ok "$([ $((now - mt)) -le 5 ] && [ $((now - mt)) -ge -1 ]; echo $?)" "stat: the mtime of the write"

# ---- an existing file overwritten, appended to ------------------------------------------------
python3 -c "open('$M/app/main.py', 'w').write('print(\"overwritten\")\n')"
is "$(cat "$M/app/main.py")" 'print("overwritten")' "an existing file overwritten (O_TRUNC) reads back"
printf '# more\n' >>"$M/app/main.py"
is "$(cat "$M/app/main.py")" "$(printf 'print("overwritten")\n# more')" "appending to it keeps what was there"
is "$(stat -c %s "$M/app/main.py")" 28 "stat: the size after the append"
is "$(rcli hget debug:paths:node1 /app/main.py)" "$(md5 "$M/app/main.py"),28" "the append is stored too"
python3 -c "
import os
fd = os.open('$M/app/conf.hrd', os.O_RDWR)
os.pwrite(fd, b'KEY', 0)
os.fsync(fd)
print(open('$M/app/conf.hrd').read(), end='')
os.close(fd)" >"$T/out" 2>&1
is "$(cat "$T/out")" "KEY: value" "a write at an offset, fsync, and another open reads it at once"

# ---- editors: write-then-rename, vim ----------------------------------------------------------
printf 'def f():\n    return 2\n' >"$M/app/lib.py.tmp"
is "$?" 0 "an editor's temporary name may be created"
mv "$M/app/lib.py.tmp" "$M/app/lib.py"
is "$?" 0 "and renamed over a matching path"
is "$(cat "$M/app/lib.py")" "$(printf 'def f():\n    return 2')" "the renamed content reads back"
ok "$([ ! -e "$M/app/lib.py.tmp" ]; echo $?)" "the temporary name is gone"
is "$(rcli hget debug:paths:node1 /app/lib.py)" "$(md5 "$M/app/lib.py"),22" "the renamed path is stored"
is "$(rcli hexists debug:paths:node1 /app/lib.py.tmp)" 0 "the temporary name never reaches Redis"
"$VIM" -es -u NONE -c '%s/2/3/' -c 'wq' "$M/app/lib.py" </dev/null >"$T/vim.out" 2>&1
is "$?" 0 "vim -es saves a matching file"
is "$(cat "$M/app/lib.py")" "$(printf 'def f():\n    return 3')" "vim's save reads back"
is "$(rcli hget debug:paths:node1 /app/lib.py)" "$(md5 "$M/app/lib.py"),22" "vim's save is stored"
is "$(ls -a "$M/app" | grep -c -e '~$' -e '\.swp$' -e '^4913$')" 0 "vim leaves no temporary file behind"

sed -i 's/return 3/return 4/' "$M/app/lib.py" 2>"$T/sed.err"
is "$?$(cat "$T/sed.err")" 0 "sed -i (its temporary sedXXXXXX renamed over the file) saves a matching file"
is "$(cat "$M/app/lib.py")" "$(printf 'def f():\n    return 4')" "and sed's save reads back"

# ---- what stays read-only, the size limit ------------------------------------------------------
ok_cmd "create of a non-matching path: EROFS" pyerr EROFS create "$M/app/x.txt"
ok_cmd "writing a non-matching file: EROFS" pyerr EROFS write "$M/app/readme.txt"
ok_cmd "unlink of a non-matching file: EROFS" pyerr EROFS unlink "$M/app/readme.txt"
ok_cmd "mkdir: EROFS" pyerr EROFS mkdir "$M/app/d.py"
ok_cmd "rename onto a non-matching name: EROFS" pyerr EROFS rename "$M/app/new.py" "$M/app/new.txt"
ok_cmd "past max_size: EFBIG" pyerr EFBIG big "$M/app/big.py" 70000
is "$(cat "$M/app/readme.txt")" "plain text" "the read-only file is unchanged"

# ---- unlink ------------------------------------------------------------------------------------
printf 'x\n' >"$M/app/gone.py"
rm "$M/app/gone.py"
is "$?" 0 "a matching file can be removed"
ok "$([ ! -e "$M/app/gone.py" ]; echo $?)" "it is gone"
is "$(rcli hexists debug:paths:node1 /app/gone.py)" 0 "and gone from debug:paths"

python3 - "$M/app" >"$T/out" 2>&1 <<'PY'
import os, sys
d = sys.argv[1]
open(d + "/held.py", "w").write("first\n")
r = open(d + "/held.py")                        # a reader holds it
w = open(d + "/held.py.tmp", "w"); w.write("second\n"); w.close()
os.rename(d + "/held.py.tmp", d + "/held.py")   # saved over while read
a = r.read()
os.unlink(d + "/held.py")                      # and removed while still open
print(a.strip(), open(d + "/other.py", "w").write("x") and "ok", os.path.exists(d + "/held.py"))
r.close()
PY
is "$(cat "$T/out")" "first ok False" "a file saved over and removed while open: its reader keeps what it opened"

# ---- aysfs-ctl debug ----------------------------------------------------------------------------
out=$("$AYSFS_BUILD/aysfs-ctl" "$M" debug 2>&1)
like "$out" "^/app/lib.py $(md5 "$M/app/lib.py") 22 [0-9]{4}-[0-9]{2}-[0-9]{2}T" "aysfs-ctl debug: path, md5, size, time"
like "$out" "/app/new.py $h 18 " "aysfs-ctl debug lists every changed path"
like "$out" "/app/gone.py - removed " "and the removed ones"

# ---- a reload keeps the edits; a restarted debug worker or fuser takes up where the old one was ------
kill -HUP "$SUP_PID"
for _ in $(seq 50); do grep -q "serving .* entries (generation 2)" "$T/log" && break; sleep 0.1; done
is "$(cat "$M/app/new.py")" 'print("new file")' "after a reload, a new file is still there"
is "$(cat "$M/app/main.py")" "$(printf 'print("overwritten")\n# more')" "and an edited one keeps its content"
kill -KILL "$(worker_pid debug)"
for _ in $(seq 50); do [ "$(grep -c 'INFO debug: a new fuser is connected' "$T/log")" -ge 2 ] && break; sleep 0.1; done
printf 'after the debug worker died\n' >"$M/app/w.py"
is "$?" 0 "the debug worker killed: it is restarted, and writes work again"
is "$(cat "$M/app/w.py")" "after the debug worker died" "and read back"
kill -KILL "$(worker_pid fuser)"
for _ in $(seq 50); do [ "$(grep -c 'INFO debug: a new fuser is connected' "$T/log")" -ge 3 ] && break; sleep 0.1; done
is "$(cat "$M/app/w.py")" "after the debug worker died" "the fuser killed: the new one shows the edits"
printf 'after the fuser died\n' >"$M/app/w.py"
is "$(cat "$M/app/w.py")" "after the fuser died" "and writes work through it"

# ---- restart: the edits are read back from Redis --------------------------------------------------
mount_stop
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
is "$(cat "$M/app/main.py")" "$(printf 'print("overwritten")\n# more')" "after a restart, an edited file reads back"
is "$(cat "$M/app/new.py")" 'print("new file")' "after a restart, a new file reads back"
is "$(stat -c %s "$M/app/lib.py")" 22 "after a restart, stat has the stored size"
like "$(cat "$T/log")" "debug mode: [0-9]+ stored files shown" "the log says how many"

# ---- Redis stopped mid-write: EIO on close, the old content stays --------------------------------
before=$(cat "$M/app/new.py")
python3 - "$M/app/new.py" "$T/redis.pid" >"$T/out" 2>&1 <<'PY'
import errno, os, signal, sys, time
f = open(sys.argv[1], "w")
f.write("lost?\n")
os.kill(int(open(sys.argv[2]).read()), signal.SIGTERM)
time.sleep(1)
try:
    f.close()
    print("closed")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
is "$(cat "$T/out")" "EIO" "Redis stopped before close: close fails with EIO"
is "$(cat "$M/app/new.py")" "$before" "the previous content is intact"
like "$(cat "$T/log")" "ERROR debug: /app/new.py: not stored: Redis" "the log says why"
rm -f "$T/redis.pid"
redis_start
printf 'Redis is back\n' >"$M/app/new.py"
is "$?" 0 "Redis back: the next write reconnects and is stored"
is "$(rcli hget debug:paths:node1 /app/new.py)" "$(md5 "$M/app/new.py"),14" "in the new Redis"
redis_stop

# ---- Redis down at mount: read-only content served, writes EIO ------------------------------------
mount_stop
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(cat "$T/log")" "ERROR debug: redis 127.0.0.1:$RP cannot be reached" "Redis down at mount: logged"
is "$(cat "$M/app/readme.txt")" "plain text" "the tree is served"
ok_cmd "a write fails with EIO" pyerr EIO create "$M/app/another.py"
mount_stop

# ---- the older layout: [[debug]] debug_filter, redis.addr/port -----------------------------------
redis_start
config "$T/legacy.toml" "[[debug]]
debug_filter = ['\\.hrd\$']
redis.addr = \"127.0.0.1\"
redis.port = $RP"
mount_start "$T/mnt" -config "$T/legacy.toml" || bail "mount failed"
printf 'legacy: 1\n' >"$M/app/conf.hrd"
is "$?" 0 "[[debug]] debug_filter, redis.addr, redis.port: a matching file is written"
is "$(rcli hget debug:paths:node1 /app/conf.hrd)" "$(md5 "$M/app/conf.hrd"),10" "and stored"
ok_cmd "a path that filter does not match: EROFS" pyerr EROFS create "$M/app/x.py"

mount_stop

# ---- Redis on a Unix socket, with a password (AUTH) ----------------------------------------------
redis-server --port 0 --unixsocket "$T/redis.sock" --unixsocketperm 777 --requirepass s3cret \
	--save '' --appendonly no --daemonize yes --pidfile "$T/redis-unix.pid" --dir "$T" \
	--logfile "$T/redis-unix.log" >/dev/null
for _ in $(seq 50); do [ -S "$T/redis.sock" ] && break; sleep 0.1; done
config "$T/unix.toml" "[debug]
filter = ['.*\\.py']
redis = \"$T/redis.sock\"
redis_passwd = \"s3cret\""
mount_start "$T/mnt" -config "$T/unix.toml" || bail "mount failed"
printf 'over a socket\n' >"$M/app/sock.py"
is "$?" 0 "redis = a socket's path, redis_passwd: a matching file is written"
is "$(redis-cli -s "$T/redis.sock" -a s3cret --no-auth-warning hget debug:paths:node1 /app/sock.py)" \
	"$(md5 "$M/app/sock.py"),14" "and stored through the socket, after AUTH"
mount_stop
upid=$(cat "$T/redis-unix.pid")
kill "$upid"
for _ in $(seq 50); do kill -0 "$upid" 2>/dev/null || break; sleep 0.1; done
sed -i 's/s3cret"/wrong"/' "$T/unix.toml"
redis-server --port 0 --unixsocket "$T/redis.sock" --unixsocketperm 777 --requirepass s3cret \
	--save '' --appendonly no --daemonize yes --pidfile "$T/redis-unix.pid" --dir "$T" \
	--logfile "$T/redis-unix.log" >/dev/null
for _ in $(seq 50); do [ -S "$T/redis.sock" ] && break; sleep 0.1; done
mount_start "$T/mnt" -config "$T/unix.toml" || bail "mount failed"
like "$(cat "$T/log")" "ERROR debug: redis AUTH: " "a wrong password: Redis's refusal is logged"
ok_cmd "and writes fail with EIO" pyerr EIO create "$M/app/sock2.py"
mount_stop
kill "$(cat "$T/redis-unix.pid")"
mount_start "$T/mnt" -config "$T/legacy.toml" || bail "mount failed"

# ---- concurrency: 4 writers on different files, 1 reader each, 200 rounds ---------------------------
python3 - "$M/app" >"$T/conc" 2>&1 <<'PY'
import multiprocessing as mp, os, sys
d, rounds = sys.argv[1], 200
def body(w, i):
    return (("%d:%d:" % (w, i)) * (50 + (i * 37) % 400)).encode() + b"\n"
def writer(w):
    for i in range(rounds):
        with open("%s/c%d.hrd" % (d, w), "wb") as f:
            f.write(body(w, i))
def reader(w, bad):
    # Every read is one whole round's content, never an empty or half-written file (a reader
    # sees a commit or the one before), and rounds never go back.
    path, seen = "%s/c%d.hrd" % (d, w), -1
    while seen < rounds - 1:
        try:
            data = open(path, "rb").read()
        except FileNotFoundError:
            if seen >= 0:
                bad.value += 1
                return
            continue
        if not data and seen < 0:
            continue            # created, not yet committed
        head = data.split(b":")
        i = int(head[1]) if len(head) > 2 and head[1].isdigit() else -1
        if i < seen or data != body(w, i):
            bad.value += 1
            return
        seen = i
if __name__ == "__main__":
    bad = mp.Value("i", 0)
    ps = [mp.Process(target=writer, args=(w,)) for w in range(4)]
    ps += [mp.Process(target=reader, args=(w, bad)) for w in range(4)]
    for p in ps: p.start()
    for p in ps: p.join(120)
    lost = sum(open("%s/c%d.hrd" % (d, w), "rb").read() != body(w, rounds - 1) for w in range(4))
    print("mixed %d lost %d exit %s" % (bad.value, lost, ",".join(str(p.exitcode) for p in ps)))
PY
is "$(cat "$T/conc")" "mixed 0 lost 0 exit 0,0,0,0,0,0,0,0" "4 writers and 4 readers, 200 rounds: no mixed or lost content"
ok "$(for w in 0 1 2 3; do [ "$(rcli hget debug:paths:node1 /app/c$w.hrd | cut -d, -f1)" = "$(md5 "$M/app/c$w.hrd")" ] || exit 1; done; echo 0)" \
	"Redis holds each file's last round"
mount_stop

# ---- debug mode is decided at start-up: a reload that adds [debug] changes nothing -------------
config "$T/plain.toml" ""
mount_start "$T/mnt" -config "$T/plain.toml" || bail "mount failed"
out=$("$AYSFS_BUILD/aysfs-ctl" "$M" debug 2>&1); st=$?
is "$st:$out" "1:aysfs-ctl: ERROR: this mount has no [debug] section" "aysfs-ctl debug without [debug]: exit 1, saying so"
ok "$(pgrep -P "$SUP_PID" -f aysfs-debug >/dev/null; [ $? = 1 ]; echo $?)" "without [debug] no debug worker runs"
config "$T/plain.toml" "[debug]
filter = ['.*']
redis = \"127.0.0.1:$RP\""
kill -HUP "$SUP_PID"
sleep 1
kill -KILL "$(worker_pid fuser)"
for _ in $(seq 50); do grep -q "took the mount over" "$T/log" && break; sleep 0.1; done
is "$(cat "$M/app/readme.txt")" "plain text" "[debug] added at a reload, then the fuser restarted: the tree is served"
ok_cmd "and it stays read-only" pyerr EROFS create "$M/app/x.py"
like "$(findmnt -n -o OPTIONS "$M")" '^ro,' "the mount is still read-only"
mount_stop

# ---- a malformed filter: a configuration error naming file:line --------------------------------
config "$T/bad.toml" "[debug]
filter = ['(unclosed']"
"$SUPERVISOR" -config "$T/bad.toml" "$T/mnt" >"$T/bad.out" 2>&1
is "$?" 1 "a malformed filter: exit status 1"
like "$(cat "$T/bad.out")" "$T/bad.toml:[0-9]+:[0-9]+: debug.filter: \"\(unclosed\" is not a regular expression" \
	"the message names file:line"
done_testing
