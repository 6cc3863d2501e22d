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
# What each binary links on its own, as the README and docs/TCB.md give it ("`aysfs-fuser` alone
# ... is N lines", "root's alone are N", "N lines are both's"): every such figure is make tcb's.
fuser_alone=$(make -C "$TOP" -s tcb | sed -n 's/^aysfs-fuser alone: //p')
root_alone=$(make -C "$TOP" -s tcb | sed -n 's/^aysfs-supervisor alone: //p')
both=$((fuser_alone + root_alone - total))
stale=""
for d in README.md docs/TCB.md; do
	text=$(tr '\n' ' ' <"$TOP/$d" | tr -s ' ')
	for pair in "\`aysfs-fuser\` alone[^.]*? is \K[0-9,]+(?= lines):$fuser_alone" \
		"root's alone are \K[0-9,]+:$root_alone" "\K[0-9,]+(?= lines are both's):$both"; do
		want=${pair##*:}
		found=$(grep -oP "${pair%:*}" <<<"$text" | tr -d ,)
		[ -n "$found" ] || stale="$stale $d:none(${pair%:*})"
		for n in $found; do [ "$n" = "$want" ] || stale="$stale $d:$n(not $want)"; done
	done
done
is "$stale" "" "the README and docs/TCB.md give each binary's own lines as make tcb prints them"
# docs/TCB-LINES.md goes further, function by function: a row for every function of those files
# and for each file's lines outside its functions, with the figure `make tcb-lines` prints, and no
# row for what is no longer there.
doc=$(awk '/^### `/ { f = $2; gsub(/`/, "", f) }
	/^\| `[A-Za-z_0-9]+` \| [0-9]+ \|/ && f { n = $2; gsub(/[`|]/, "", n); printf "%s %s %s\n", $4, f, n }
	/^\| \(outside functions\) \| [0-9]+ \|/ && f { printf "%s %s -\n", $5, f }' "$TOP/docs/TCB-LINES.md")
rows=$(make -C "$TOP" -s tcb-lines | awk '{ print $1, $2, $3 }')
out=$(diff <(sort <<<"$rows") <(sort <<<"$doc"))
[ -z "$out" ] || diag "$out"
is "$out" "" "docs/TCB-LINES.md has a row, with its count, for every function of the core and no other"
long=""
for f in $(make -C "$TOP" -s tcb | grep -oE '[a-z]+/[a-z_0-9]+\.[ch]$'); do
	[ "$(wc -l <"$TOP/$f")" -le 800 ] || long="$long $f"
	long="$long$(awk -v F="$f" '/^[a-z].*\(.*[^;]$/ { name = $0; start = NR }
		/^}/ && start { if (NR - start > 80) printf " %s:%d(%d lines)", F, start, NR - start; start = 0 }' "$TOP/$f")"
done
is "$long" "" "no function of the core over 80 lines, no file over 800"
done_testing
