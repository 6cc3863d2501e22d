#!/usr/bin/env bash
# Every modifying call on the mount fails with EROFS.
. "$(dirname "$0")/lib.sh"
t_setup

write_flist "$T/flists/s.flist" <<'FL'
/f|8a3e5e03a10ecc3601a1f14fbc371019|10
/empty||0
/d/g|8a3e5e03a10ecc3601a1f14fbc371019|10
FL
printf '[main]\nprefix = "/"\nflist_dir = "%s"\ncache_dir = "%s"\n' "$T/flists" "$T/cache" >"$T/config.toml"
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
like "$(readlink /proc/$(worker_pid fuser)/exe)" "/aysfs-fuser\$" \
	"without [debug] the fuser is aysfs-fuser, which has no write handler at all"
ok $(! nm "$AYSFS_BUILD/aysfs-fuser" | grep -q " T debug_connect"; echo $?) \
	"aysfs-fuser holds none of debug mode's code"
M=$T/mnt

# erofs CALL… : runs python so that the errno itself is checked, not a shell's message.
erofs() {
	python3 - "$@" <<'PY'
import errno, os, sys
call, args = sys.argv[1], sys.argv[2:]
try:
    if call == "write":
        os.open(args[0], os.O_WRONLY)
    elif call == "append":
        os.open(args[0], os.O_WRONLY | os.O_APPEND)
    elif call == "create":
        os.open(args[0], os.O_WRONLY | os.O_CREAT, 0o644)
    elif call == "truncate":
        os.truncate(args[0], 0)
    else:
        getattr(os, call)(*[int(a, 8) if a.startswith("0o") else int(a) if a.isdigit() else a for a in args])
except OSError as e:
    sys.exit(0 if e.errno == errno.EROFS else 2)
sys.exit(1)
PY
}

ok_cmd "open for writing: EROFS" erofs write "$M/f"
ok_cmd "open for appending: EROFS" erofs append "$M/empty"
ok_cmd "create: EROFS" erofs create "$M/new"
ok_cmd "unlink: EROFS" erofs unlink "$M/f"
ok_cmd "mkdir: EROFS" erofs mkdir "$M/newdir"
ok_cmd "rmdir: EROFS" erofs rmdir "$M/d"
ok_cmd "rename: EROFS" erofs rename "$M/f" "$M/g"
ok_cmd "chmod: EROFS" erofs chmod "$M/f" 0o777
ok_cmd "chown: EROFS" erofs chown "$M/f" 1 1
ok_cmd "truncate: EROFS" erofs truncate "$M/f"
ok_cmd "symlink: EROFS" erofs symlink /etc "$M/l"
ok_cmd "link: EROFS" erofs link "$M/f" "$M/f2"
ok_cmd "utime: EROFS" erofs utime "$M/f"
ok_cmd "setxattr: EROFS" python3 -c "
import errno, os, sys
try: os.setxattr('$M/f', 'user.x', b'1')
except OSError as e: sys.exit(0 if e.errno == errno.EROFS else 1)
sys.exit(1)"
ok_cmd "the tree is unchanged" test -f "$M/f" -a ! -e "$M/new" -a ! -e "$M/g"
mount_stop
done_testing
