#!/usr/bin/env bash
# Several services: the union of their trees, the first configured wins a clash (the warning names
# the first path that clashed and the service that has it), and a malformed flist is rejected with
# file:line while the others still mount.
. "$(dirname "$0")/lib.sh"
t_setup

write_flist "$T/flists/first.flist" <<'FL'
/srv/shared/a|8a3e5e03a10ecc3601a1f14fbc371019|1
/srv/same|8a3e5e03a10ecc3601a1f14fbc371019|11
/srv/x|8a3e5e03a10ecc3601a1f14fbc371019|1
FL
write_flist "$T/flists/second.flist" <<'FL'
/srv/shared/b|76f87551c60336da45c379f38625144b|2
/srv/same|76f87551c60336da45c379f38625144b|22
/srv/x/below|76f87551c60336da45c379f38625144b|2
FL
write_flist "$T/flists/broken.flist" <<'FL'
/srv/broken-a|8a3e5e03a10ecc3601a1f14fbc371019|1
/srv/broken-b|8a3e5e03a10ecc3601a1f14fbc371019|12x
FL
write_flist "$T/elsewhere/third.flist" <<'FL'
/srv/third|8a3e5e03a10ecc3601a1f14fbc371019|3
FL
cat >"$T/config.toml" <<EOF2
[main]
prefix = "/srv"
flist_dir = "$T/flists"
cache_dir = "$T/cache"

[[ays]]
id = "first"
[[ays]]
id = "broken"
[[ays]]
id = "second"
[[ays]]
id = "third"
flist = "$T/elsewhere/third.flist"
[[ays]]
id = "missing"
EOF2

mount_start "$T/mnt" -config "$T/config.toml" || bail "mount failed"
M=$T/mnt
ok_cmd "directories of two services merge (first's file)" test -f "$M/shared/a"
ok_cmd "directories of two services merge (second's file)" test -f "$M/shared/b"
is "$(stat -c %s "$M/same")" 11 "the same path in two services: the first configured wins"
is "$(getfattr --only-values -n user.aysfs.ays "$M/same" 2>/dev/null)" first "and its xattr names the first"
is "$(stat -c %F "$M/x")" "regular file" "a file beats a later directory"
ok_cmd "what is below the loser is skipped" test ! -e "$M/x/below"
ok_cmd "a flist given with flist= is used" test -f "$M/third"
ok_cmd "nothing of a malformed flist is mounted" test ! -e "$M/broken-a"
like "$(cat "$T/log")" "$T/flists/broken.flist:2: .*size.*service broken is not mounted" \
	"the malformed flist is named with file:line"
like "$(cat "$T/log")" "second.flist: 2 entries clash with earlier services and were skipped, the first /srv/same \(line 2; service first has it\)" \
	"one warning counts the clashes and names the first, and the service that has it"
like "$(cat "$T/log")" "service missing: no flist" "a service without a flist is named"
mount_stop
is "$STOP_STATUS" 0 "clean stop"

# With no [[ays]], every *.flist below flist_dir is mounted, in byte order of paths.
mkdir -p "$T/scan/sub"
printf '/p/a|8a3e5e03a10ecc3601a1f14fbc371019|1\n' | write_flist "$T/scan/b.flist"
printf '/p/a|76f87551c60336da45c379f38625144b|2\n/p/c||0\n' | write_flist "$T/scan/A.flist"
printf '/p/d||0|type=d\n' | write_flist "$T/scan/sub/z.flist"
cat >"$T/scan.toml" <<EOF2
[main]
prefix = "/p"
flist_dir = "$T/scan"
cache_dir = "$T/cache"
EOF2
mount_start "$T/mnt" -config "$T/scan.toml" || bail "mount failed"
is "$(ls "$M" | tr '\n' ' ')" "a c d " "every flist of flist_dir, recursively"
is "$(stat -c %s "$M/a")" 2 "byte order of paths decides who wins (A.flist before b.flist)"
is "$(getfattr --only-values -n user.aysfs.ays "$M/a" 2>/dev/null)" A "service id is the file name"
like "$(cat "$T/log")" "b.flist: 1 entry clashes with an earlier service and was skipped: /p/a \(line 1; service A has it\)" \
	"a single clash is named, in the singular"
mount_stop
done_testing
