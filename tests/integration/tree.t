#!/usr/bin/env bash
# The mounted tree has the shape, sizes, modes, links, empty directories and xattrs of its flists,
# with `prefix` mapping flist paths to the mountpoint.
. "$(dirname "$0")/lib.sh"
t_setup

write_flist "$T/flists/base.flist" <<'FL'
# a comment, then a blank line

/opt/app/bin/tool|8a3e5e03a10ecc3601a1f14fbc371019|4857
/opt/app/etc/app.conf|76f87551c60336da45c379f38625144B|1553|mode=0644|mtime=1600000000
/opt/app/bin/python3||0|type=l|link=python3.11
/opt/app/bin/abs||0|type=l|link=/etc/hostname
/opt/app/empty-dir||0|type=d|mode=0700
/opt/app/zero||0
/opt/app/big|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855|9000000000
/opt/app/with%7Cpipe%25pct|8a3e5e03a10ecc3601a1f14fbc371019|3
/opt/app/x|8a3e5e03a10ecc3601a1f14fbc371019|5|color=blue
/usr/bin/outside|8a3e5e03a10ecc3601a1f14fbc371019|1
/optional/not-under-prefix|8a3e5e03a10ecc3601a1f14fbc371019|1
FL
cat >"$T/config.toml" <<EOF2
[main]
prefix = "/opt"
flist_dir = "$T/flists"
cache_dir = "$T/cache"
EOF2

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
M=$T/mnt

is "$(stat -c %F "$M/app/bin/tool")" "regular file" "a listed file is a regular file"
is "$(stat -c %s "$M/app/bin/tool")" 4857 "its size is the flist's"
is "$(stat -c %a:%U:%G "$M/app/bin/tool")" 555:root:root "default mode 0555, owner root"
is "$(stat -c %a:%Y "$M/app/etc/app.conf")" 644:1600000000 "mode= and mtime= fields"
is "$(readlink "$M/app/bin/python3")" python3.11 "relative symlink target"
is "$(readlink "$M/app/bin/abs")" /etc/hostname "absolute symlink target"
is "$(stat -c %F:%a "$M/app/empty-dir")" directory:700 "empty directory with its mode"
is "$(ls -A "$M/app/empty-dir" | wc -l)" 0 "the empty directory is empty"
is "$(stat -c %s "$M/app/zero")" 0 "empty file"
is "$(cat "$M/app/zero" | wc -c)" 0 "an empty file reads as empty"
is "$(stat -c %s "$M/app/big")" 9000000000 "sizes above 4 GiB"
ok_cmd "percent-encoded name decoded" test -f "$M/app/with|pipe%pct"
is "$(stat -c %s "$M/app/x")" 5 "an entry with an unknown key still mounts"
is "$(ls "$M")" app "only entries under the prefix appear, by whole components"
is "$(stat -c %F:%a "$M/app")" directory:555 "implied directory"
is "$(ls "$M/app" | tr '\n' ' ')" "big bin empty-dir etc with|pipe%pct x zero " "listing in name order"
is "$(find "$M" | wc -l)" 13 "find sees every entry"
is "$(stat -c %h "$M/app")" 5 "directory link count is 2 + subdirectories"
is "$(getfattr --only-values -n user.aysfs.hash "$M/app/etc/app.conf" 2>/dev/null)" \
	76f87551c60336da45c379f38625144b "xattr user.aysfs.hash, lower case"
is "$(getfattr --only-values -n user.aysfs.ays "$M/app/bin/tool" 2>/dev/null)" base "xattr user.aysfs.ays"
like "$(getfattr -d "$M/app/bin/tool" 2>/dev/null)" 'user.aysfs.hash=.*' "listxattr names the hash"
like "$(stat -f -c %T "$M")" 'fuse' "statfs answers"
# 2 + 1 + 2197266 + 1 + 1 blocks of 4 KiB: counted at the first statfs, kept for the next
is "$(stat -f -c %b "$M")" 2197271 "statfs: the 4 KiB blocks of every file"
is "$(stat -f -c %b:%f "$M")" 2197271:2197271 "the same again, all of them free"
like "$(findmnt -n -o OPTIONS --mountpoint "$M")" '(^|,)ro,nosuid,nodev' "mounted ro,nosuid,nodev"
like "$(findmnt -n -o OPTIONS --mountpoint "$M")" 'allow_other' "mounted allow_other"
like "$(findmnt -n -o OPTIONS --mountpoint "$M")" 'default_permissions' "mounted default_permissions"
ok_cmd "another user can list the tree" su nobody -s /bin/sh -c "ls $M/app/bin"
like "$(cat "$T/log")" 'base.flist: 2 entries outside the prefix were skipped' "one warning counts entries outside the prefix"
like "$(cat "$T/log")" "unknown keys were ignored \(first: 'color'" "one warning for unknown keys"

mount_stop
is "$STOP_STATUS" 0 "SIGTERM: exit 0"
is_mounted "$M"
ok $((! $?)) "SIGTERM: no mount left behind"
done_testing
