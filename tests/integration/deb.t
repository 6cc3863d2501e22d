#!/usr/bin/env bash
# make deb: the package passes lintian without an error, installs with dpkg --root into a folder
# of its own (the users made by postinst, /etc/aysfs/config.toml a conffile), and the installed
# aysfs-supervisor runs there: -v, then a real mount whose workers it finds in /usr/libexec/aysfs
# (the libexec folder compiled in for PREFIX=/usr). dpkg -r keeps the configuration, dpkg -P takes
# it, /etc/aysfs and the default cache away; nothing of the package is left.
#
# The root: dpkg --root runs the maintainer scripts chrooted into it, so it needs a shell,
# adduser (perl), getent and the libraries, and a package database in which the dependencies are
# installed. No debootstrap (nor a Debian mirror) is at hand here, so the root is a fresh folder
# whose /usr and /etc are overlays with this system's as their lower, read-only layer, and whose
# database is a copy of this system's: everything dpkg and the scripts write lands in the test's
# folder, and this system is left as it was (checked). The whole test runs in a mount namespace
# of its own, so the overlays vanish with it.
if [ -z "${AYSFS_DEB_NS:-}" ]; then
	AYSFS_DEB_NS=1 exec unshare -m --propagation private -- "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
t_setup
for c in dpkg-deb dpkg-shlibdeps lintian adduser; do
	command -v "$c" >/dev/null || bail "$c is needed (tools/deps.sh)"
done

make -C "$TOP" -s deb >"$T/deb.log" 2>&1 || bail "make deb: $(tail -20 "$T/deb.log")"
DEB=$TOP/$(sed -n 's/^deb: //p' "$T/deb.log")
ok_cmd "make deb builds $(basename "$DEB")" test -f "$DEB"
lint=$(lintian "$DEB" 2>/dev/null)
is "$(printf '%s\n' "$lint" | grep -c '^E:')" 0 "lintian finds no error"
[ -n "$lint" ] && printf '%s\n' "$lint" | sed 's/^/# lintian: /'
ctl=$(dpkg-deb -f "$DEB" Depends)
like "$ctl" "libfuse3-3.*adduser" "Depends: the libraries (dpkg-shlibdeps) and adduser"
is "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles)" "/etc/aysfs/config.toml" "/etc/aysfs/config.toml is a conffile"
list=$(dpkg-deb -c "$DEB" | awk '{ print $6 }')
for f in usr/sbin/aysfs-supervisor usr/sbin/aysfs usr/sbin/aysfs-ctl usr/bin/aysfs-pack \
	usr/libexec/aysfs/aysfs-fuser usr/libexec/aysfs/aysfs-indexer usr/libexec/aysfs/aysfs-fetcher \
	usr/libexec/aysfs/aysfs-status usr/libexec/aysfs/aysfs-debug usr/libexec/aysfs/aysfs-fuser-debug \
	usr/libexec/aysfs/aysfs-config lib/systemd/system/aysfs.service lib/systemd/system/aysfs@.service \
	usr/share/man/man8/aysfs-supervisor.8.gz usr/share/man/man8/aysfs-ctl.8.gz \
	usr/share/man/man1/aysfs-pack.1.gz usr/share/man/man5/aysfs.toml.5.gz usr/share/doc/aysfs/copyright; do
	printf '%s\n' "$list" | grep -qx "./$f"; ok $? "the package holds /$f"
done

# ---- the root --------------------------------------------------------------------------------------
R=$T/root
# The mounts go before the folder does.
deb_cleanup() {
	local m
	for m in "$R/mnt/t" "$R/proc" "$R/usr" "$R/etc"; do
		mountpoint -q "$m" 2>/dev/null && umount -l "$m"
	done
	_cleanup
}
trap deb_cleanup EXIT
mkdir -p "$R"/{usr,etc,dev,proc,run,tmp,mnt,srv} "$R"/var/{cache,log} "$R"/var/lib/dpkg/{info,updates} \
	"$T"/upper/{usr,etc} "$T"/work/{usr,etc}
for l in bin sbin lib lib64; do ln -s "usr/$l" "$R/$l"; done
chmod 1777 "$R/tmp"
for d in usr etc; do
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$T/upper/$d,workdir=$T/work/$d" "$R/$d" ||
		bail "cannot make the overlay of /$d"
done
# Device nodes of its own (never a bind of /dev: the folder is removed at the end).
mknod -m 0666 "$R/dev/null" c 1 3; mknod -m 0666 "$R/dev/zero" c 1 5
mknod -m 0666 "$R/dev/urandom" c 1 9; mknod -m 0666 "$R/dev/fuse" c 10 229
mount -t proc proc "$R/proc"
cp /var/lib/dpkg/status "$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
# As a fresh system: no aysfs users yet, no /etc/aysfs (this system may have both from make install).
sed -i -e '/^aysfs:/d' -e '/^aysfs-fetch:/d' -e '/^aysfs-status:/d' "$R"/etc/{passwd,group,shadow,gshadow}
rm -rf "$R/etc/aysfs"
host_sum=$(cat /etc/passwd /etc/group /var/lib/dpkg/status | md5sum)

out=$(dpkg --root="$R" -i "$DEB" 2>&1); st=$?
is "$st" 0 "dpkg --root installs it"
[ "$st" = 0 ] || printf '%s\n' "$out" | sed 's/^/#   /'
is "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status}' aysfs)" "install ok installed" "and records it installed"
for u in aysfs aysfs-fetch aysfs-status; do
	uid=$(awk -F: -v u="$u" '$1 == u { print $3 }' "$R/etc/passwd")
	ok $([ -n "$uid" ] && [ "$uid" -lt 1000 ]; echo $?) "postinst made the system user $u (uid $uid)"
done
like "$(awk -F: '$1 == "aysfs" { print $6 ":" $7 }' "$R/etc/passwd")" "^/nonexistent:.*nologin$" "... with no home and no shell"
ok_cmd "the configuration is in place" test -f "$R/etc/aysfs/config.toml"
is "$(chroot "$R" /usr/sbin/aysfs-supervisor -v 2>&1)" "aysfs $(sed -n 's/^VERSION *:= *//p' "$TOP/Makefile")" \
	"the installed aysfs-supervisor -v prints the version"
like "$(chroot "$R" man -w aysfs-supervisor 2>&1)" "/usr/share/man/man8/aysfs-supervisor.8.gz" "man finds its page"

# A mount made by the installed supervisor: it starts the installed workers from /usr/libexec/aysfs.
echo "served by the package" >"$R/srv/hello"
h=$(put_blob "$R/srv/store" "$R/srv/hello")
mkdir -p "$R/srv/flists" "$R/mnt/t"
echo "/hello|$h|$(stat -c %s "$R/srv/hello")" >"$R/srv/flists/s.flist"
chmod -R a+rX "$R/srv"
printf '[main]\nprefix = "/"\nflist_dir = "/srv/flists"\n[[store]]\nurl = "/srv/store"\n' >"$R/srv/c.toml"
chroot "$R" /usr/sbin/aysfs-supervisor -config /srv/c.toml /mnt/t 2>"$T/root.log" &
pid=$!
for _ in $(seq 100); do grep -q "serving /mnt/t" "$T/root.log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
is "$(cat "$R/mnt/t/hello" 2>&1)" "served by the package" "the installed supervisor serves a tree through its installed workers"
is "$(chroot "$R" stat -c %U /var/cache/aysfs 2>&1)" "aysfs" "its default cache is the package's aysfs user's"
kill -TERM $pid; wait $pid; st=$?
is "$st" 0 "and stops cleanly"
[ "$st" = 0 ] || sed 's/^/#   /' "$T/root.log"

# ---- remove, purge ---------------------------------------------------------------------------------
echo '# changed by the operator' >>"$R/etc/aysfs/config.toml"
out=$(dpkg --root="$R" -r aysfs 2>&1); st=$?
is "$st" 0 "dpkg -r removes it"
ok_cmd "the programs are gone" test ! -e "$R/usr/sbin/aysfs-supervisor" -a ! -e "$R/usr/libexec/aysfs"
ok_cmd "the configuration stays (a conffile)" grep -q 'changed by the operator' "$R/etc/aysfs/config.toml"
is "$(dpkg-query --admindir="$R/var/lib/dpkg" -W -f='${Status}' aysfs)" "deinstall ok config-files" "dpkg records only its configuration"
out=$(dpkg --root="$R" -P aysfs 2>&1); st=$?
is "$st" 0 "dpkg -P purges it"
ok_cmd "the configuration and /etc/aysfs are gone" test ! -e "$R/etc/aysfs"
ok_cmd "the default cache and state are gone" test ! -e "$R/var/cache/aysfs" -a ! -e "$R/var/lib/aysfs"
dpkg-query --admindir="$R/var/lib/dpkg" -W aysfs >/dev/null 2>&1
ok $((! $?)) "dpkg knows it no more"
left=$(find "$T/upper" "$R/var" -name "*aysfs*" ! -path "$R/var/lib/dpkg/*" -printf "%P\n"); is "$left" "" "no file of the package is left"
ok_cmd "the users stay (files they own may remain, e.g. a configured cache)" grep -q '^aysfs:' "$R/etc/passwd"
is "$(cat /etc/passwd /etc/group /var/lib/dpkg/status | md5sum)" "$host_sum" "this system's users and package database are untouched"
done_testing
