#!/usr/bin/env bash
# The manual pages: each passes mandoc's checker (-T lint, warnings and up) and renders with man -l
# without a message; make install puts them (and aysfs.8 for the program's other name) under
# MANDIR, make uninstall takes them away; aysfs.toml(5) and docs/CONFIG.md name every key that
# config/config.c reads.
. "$(dirname "$0")/lib.sh"
t_setup
command -v mandoc >/dev/null || bail "mandoc is needed"
command -v man >/dev/null || bail "man is needed (man-db)"
PAGES="aysfs-supervisor.8 aysfs-ctl.8 aysfs-pack.1 aysfs.toml.5"

for p in $PAGES; do
	f=$TOP/docs/man/$p
	out=$(mandoc -T lint -W warning "$f" 2>&1); st=$?
	is "$st:$out" "0:" "$p: mandoc -T lint finds nothing (warnings and up)"
	out=$(MANWIDTH=80 man -l "$f" 2>"$T/err"); st=$?
	is "$st:$(cat "$T/err")" "0:" "$p: man -l renders it without a message"
	name=${p%.*}
	like "$out" "^${name^^}\(${p##*.}\)" "... with its title"
	like "$out" "NAME
 +$name " "... and its NAME"
done

# Every key of the key tables: main_keys, and the names the mapping functions compare keys with.
keys=$( { sed -n 's/^\t{ "\([a-z_]*\)", K_.*/\1/p' "$TOP/config/config.c"
	grep -o 'strcmp([a-z>-]*, "[a-z_]*")' "$TOP/config/config.c" | sed 's/.*"\(.*\)")$/\1/'; } )
keys=$(printf '%s\n' $keys | sort -u)
ok $([ "$(printf '%s\n' $keys | wc -l)" -ge 25 ]; echo $?) "the key tables name $(printf '%s\n' $keys | wc -l) keys"
for k in $keys; do
	grep -q "\b$k\b" "$TOP/docs/man/aysfs.toml.5" && grep -q "\`[^\`]*\b$k\b" "$TOP/docs/CONFIG.md"
	ok $? "key $k is in aysfs.toml(5) and docs/CONFIG.md"
done

R=$T/root
make -C "$TOP" -s V="${AYSFS_BUILD##*/}" install DESTDIR="$R" PREFIX=/usr/local >"$T/install.log" 2>&1 ||
	bail "make install: $(cat "$T/install.log")"
for p in $PAGES; do
	ok_cmd "make install puts $p in share/man/man${p##*.}" test -f "$R/usr/local/share/man/man${p##*.}/$p"
done
is "$(readlink "$R/usr/local/share/man/man8/aysfs.8")" "aysfs-supervisor.8" "and aysfs.8 for the program's other name"
make -C "$TOP" -s V="${AYSFS_BUILD##*/}" uninstall DESTDIR="$R" PREFIX=/usr/local >"$T/uninstall.log" 2>&1
is "$(find "$R/usr/local/share/man" -type f -o -type l | wc -l)" 0 "make uninstall takes them away"
done_testing
