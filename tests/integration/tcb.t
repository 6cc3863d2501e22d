#!/usr/bin/env bash
# The privileged core as the README publishes it: the count `make tcb` prints is the one the
# README gives, docs/TCB.md accounts for every file of it, and no binary has a call cycle between
# its files (`make cycles`: a module never calls back into one that calls it).
. "$(dirname "$0")/lib.sh"
t_setup

V=$(basename "$AYSFS_BUILD")
out=$(make -C "$TOP" -s V="$V" cycles 2>&1)
rc=$?
[ $rc = 0 ] || diag "$out"
is "$rc" 0 "no call cycle between the files of any binary"
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
done_testing
