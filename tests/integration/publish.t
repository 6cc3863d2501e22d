#!/usr/bin/env bash
# Publish a tree with aysfs-pack, mount it: every file reads byte-identical to its source, and
# modes, mtimes, symlinks and empty directories match. Both hashes, and brotli blobs.
. "$(dirname "$0")/lib.sh"
t_setup

S=$T/src
mkdir -p "$S/bin" "$S/lib/pkg/sub" "$S/empty" "$S/share"
random_file "$S/lib/pkg/data.bin" 2500000
random_file "$S/lib/pkg/sub/small" 17
: >"$S/lib/pkg/__init__.py"
printf '#!/bin/sh\necho published and mounted\n' >"$S/bin/run"
chmod 755 "$S/bin/run"
chmod 600 "$S/share" 2>/dev/null; chmod 755 "$S/share"
printf 'secret-ish\n' >"$S/share/ro-file"; chmod 0640 "$S/share/ro-file"
printf 'pipe' >"$S/share/odd|name%here"
ln -s ../lib/pkg/data.bin "$S/bin/data-link"
ln -s /etc/hostname "$S/bin/abs-link"
touch -d @1600000000 "$S/lib/pkg/sub/small"
# A real tree too: a slice of the system's Python library.
cp -a /usr/lib/python3.11/json /usr/lib/python3.11/email "$S/lib/" 2>/dev/null

# compare SRC MNT: prints the differences (nothing when identical).
compare() {
	# A directory's size is the filesystem's own business; everything else must match.
	list() {
		(cd "$1" && { find . -mindepth 1 -type d -printf '%y %m %T@ %p\n'
			      find . ! -type d -printf '%y %m %s %T@ %l %p\n'; } | sed 's/\.[0-9]* / /' | sort)
	}
	list "$1" >"$T/want"
	list "$2" >"$T/got"
	diff "$T/want" "$T/got" | grep -v '^[0-9]' | head
	(cd "$1" && find . -type f -exec sha256sum {} + | sort -k2) >"$T/want.sum"
	(cd "$2" && find . -type f -exec sha256sum {} + | sort -k2) >"$T/got.sum"
	diff "$T/want.sum" "$T/got.sum" | head
}

n=0
for variant in "md5" "sha256" "md5 -bro"; do
	n=$((n + 1))
	hash=${variant%% *}; extra=${variant#"$hash"}
	"$AYSFS_BUILD/aysfs-pack" -q -hash "$hash" $extra -prefix /opt/app "$S" "$T/store$n" app
	ok $? "aysfs-pack ($variant) publishes the tree"
	cat >"$T/config$n.toml" <<EOF2
[main]
prefix = "/opt/app"
flist_dir = "$T/none"
cache_dir = "$T/cache$n"
[[ays]]
id = "app"
[[store]]
url = "$T/store$n"
EOF2
	mount_start "$T/mnt" -config "$T/config$n.toml" || bail "mount failed"
	diffs=$(compare "$S" "$T/mnt")
	is "$diffs" "" "$variant: every file byte-identical; types, modes, sizes, mtimes and links match"
	is "$("$T/mnt/bin/run")" "published and mounted" "$variant: a published program runs from the mount"
	is "$(getfattr --only-values -n user.aysfs.hash "$T/mnt/lib/pkg/sub/small" 2>/dev/null | wc -c)" \
		$([ "$hash" = md5 ] && echo 32 || echo 64) "$variant: the hash xattr has the right length"
	mount_stop
	is "$STOP_STATUS" 0 "$variant: clean stop"
done
done_testing
