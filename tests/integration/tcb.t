#!/usr/bin/env bash
# The privileged core as the README publishes it: the count `make tcb` prints is the one the
# README gives, docs/TCB.md accounts for every file of it, and no binary has a call cycle between
# its files (`make cycles`: a module never calls back into one that calls it), and every function
# of the core's files is linked into root or the fuser (`make unlinked`: make tcb counts files
# whole, so a function they never call would be counted without being run), and no function of
# the core is over 80 lines, no file over 800: what an auditor reads in one sitting.
. "$(dirname "$0")/lib.sh"
t_setup

V=$(basename "$AYSFS_BUILD")
out=$(make -C "$TOP" -s V="$V" cycles 2>&1)
rc=$?
[ $rc = 0 ] || diag "$out"
is "$rc" 0 "no call cycle between the files of any binary"
out=$(make -C "$TOP" -s unlinked 2>&1)
rc=$?
[ $rc = 0 ] || diag "$out"
is "$rc" 0 "every function of the core's files is linked into root, the fuser or the debug fuser"
total=$(make -C "$TOP" -s tcb | grep -E '^[0-9]+$' | tail -1)
ok_cmd "make tcb prints a total" test -n "$total"
published=$(grep -o 'Now: \*\*[0-9,]*\*\*' "$TOP/README.md" | tr -dc '0-9')
is "$published" "$total" "the README publishes the count make tcb prints"
# docs/TCB.md says, file by file, why each line is there: a row for every file make tcb counts,
# with the figure it prints.
while read -r n f; do
	grep -qE "^\| \`$f\` \| $n \|" "$TOP/docs/TCB.md" || missing="${missing:-} $f($n)"
done < <(make -C "$TOP" -s tcb | grep -E '^ *[0-9]+ [a-z]+/[a-z_0-9]+\.[ch]$')
is "${missing:-}" "" "docs/TCB.md has a row, with its count, for every file of the core"
long=""
for f in $(make -C "$TOP" -s tcb | grep -oE '[a-z]+/[a-z_0-9]+\.[ch]$'); do
	[ "$(wc -l <"$TOP/$f")" -le 800 ] || long="$long $f"
	long="$long$(awk -v F="$f" '/^[a-z].*\(.*[^;]$/ { name = $0; start = NR }
		/^}/ && start { if (NR - start > 80) printf " %s:%d(%d lines)", F, start, NR - start; start = 0 }' "$TOP/$f")"
done
is "$long" "" "no function of the core over 80 lines, no file over 800"
done_testing
