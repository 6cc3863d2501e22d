#!/usr/bin/env bash
# deps.sh — install what building and testing aysfs needs, when it is missing (Debian 12, as root).
set -eu
pkgs=(
	gcc make pkg-config              # the build
	clang libclang-rt-14-dev         # fuzz harnesses (libFuzzer) and the sanitizer runtimes
	libfuse3-dev fuse3               # the fuser speaks to the kernel through libfuse 3
	libseccomp-dev libcap-ng-dev     # the workers' allow-lists and privilege drop
	libcurl4-openssl-dev libc-ares-dev  # the fetcher: transfers and name resolution
	libssl-dev libbrotli-dev         # the indexer: hashes, and brotli blobs
	libxxhash-dev                    # the indexer: the stored index image's checksum (XXH3)
	libhiredis-dev                   # aysfs-debug: debug mode's Redis client (SPEC §7)
	perl attr python3 util-linux procps brotli  # tests: prove, getfattr, errno checks, findmnt, pgrep, .bro blobs
	nginx-light openssl              # tests: a real HTTP(S) store on 127.0.0.1, a throwaway CA
	dnsmasq-base                     # tests: a real DNS server on a loopback address for -resolv and -auto
	redis-server redis-tools vim-tiny  # tests: debug mode against a real Redis on 127.0.0.1; an editor's save
	openssh-server openssh-client    # tests: a real sshd on 127.0.0.1 for sftp:// layers, ssh-keygen
	systemd                          # tests: systemd-analyze verify of the units (no systemd need run)
	mandoc man-db                    # tests: the manual pages checked (mandoc -T lint) and rendered (man -l)
	python3-botocore s3cmd           # tests: s3rver's SigV4 gate (s3gate.py), a second S3 client
	squid                            # tests: a real shared HTTP cache in front of a store
	lintian dpkg-dev                 # make deb: dpkg-shlibdeps for its Depends, lintian to check it
	prometheus                       # tests: promtool check metrics on -pprof's /metrics
	chromium                         # tests: headless Chromium renders -pprof's status page
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
# npm installs s3rver (tools/npm-deps.sh). Debian's package only where no npm is there: a machine
# with Node.js from elsewhere has its own npm, which Debian's conflicts with.
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} = 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages (run as root to install them): ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
