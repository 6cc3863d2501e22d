#!/usr/bin/env bash
# Extended attributes: for every kind of entry (a file not cached yet, a file whose blob the mount
# holds, an empty file, a folder, a symlink), `getfattr -d -m -` lists exactly the attributes that
# can be read, and each one listed reads: listxattr and getxattr agree. user.aysfs.layer appears
# once the file has been opened (and names the layer); a symlink has none (the kernel answers
# user.* attributes of symlinks itself).
. "$(dirname "$0")/lib.sh"
t_setup

mkdir -p "$T/store" "$T/src"
echo "cold" >"$T/src/cold"
echo "warm" >"$T/src/warm"
hc=$(put_blob "$T/store" "$T/src/cold")
hw=$(put_blob "$T/store" "$T/src/warm")
write_flist "$T/flists/svc.flist" <<EOF
/dir/cold|$hc|5
/dir/warm|$hw|5
/dir/empty||0
/dir/link||0|type=l|link=warm
/emptydir||0|type=d
EOF
chmod -R a+rX "$T/store"
store_config
mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
M=$T/mnt
cat "$M/dir/warm" >/dev/null

# names ENTRY: what listxattr gives, sorted, on one line (-h: the entry itself, not a link's target).
names() { getfattr -h -m - "$M/$1" 2>/dev/null | grep -v '^#' | grep . | sort | tr '\n' ' '; }
# readable ENTRY: each listed name reads (getxattr succeeds); prints the ones that do not.
unreadable() {
	local n bad=
	for n in $(names "$1"); do
		getfattr -h --only-values -n "$n" "$M/$1" >/dev/null 2>&1 || bad="$bad $n"
	done
	echo "${bad# }"
}
# dump ENTRY: getfattr -d -m - (what an operator types): names and values.
dump() { getfattr -h -d -m - "$M/$1" 2>/dev/null | grep -v '^#' | grep . | sort | tr '\n' ' '; }

is "$(names dir/cold)" "user.aysfs.ays user.aysfs.hash " "a file not opened yet: ays and hash"
is "$(names dir/warm)" "user.aysfs.ays user.aysfs.hash user.aysfs.layer " \
	"a file whose blob the mount holds: ays, hash and layer"
is "$(dump dir/warm)" "user.aysfs.ays=\"svc\" user.aysfs.hash=\"$hw\" user.aysfs.layer=\"$T/store\" " \
	"getfattr -d -m - shows all three with their values"
is "$(names dir/empty)" "user.aysfs.ays " "an empty file (no blob): ays only"
is "$(names dir)" "user.aysfs.ays " "a folder: ays"
is "$(names emptydir)" "user.aysfs.ays " "an empty folder: ays"
is "$(names dir/link)" "" "a symlink: nothing listed"
for e in dir/cold dir/warm dir/empty dir emptydir dir/link; do
	is "$(unreadable $e)" "" "$e: every attribute listed can be read"
done
ok_cmd "a symlink's user.aysfs.ays is not there either" \
	test -z "$(getfattr -h --only-values -n user.aysfs.ays "$M/dir/link" 2>/dev/null)"
cat "$M/dir/cold" >/dev/null
is "$(names dir/cold)" "user.aysfs.ays user.aysfs.hash user.aysfs.layer " "once opened, the layer is listed too"
is "$(unreadable dir/cold)" "" "and reads"
mount_stop
is "$STOP_STATUS" 0 "clean stop"
done_testing
