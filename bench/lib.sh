# bench/lib.sh — what the benchmarks share (sourced).
# shellcheck shell=bash

# store_toml CACHE_DIR FLIST_DIR STORE: the configuration of a mount of one local folder store
# (prefix "/", service "bench", as aysfs-pack STORE bench publishes it), on stdout.
store_toml() {
	cat <<EOF_TOML
[main]
id = "bench"
prefix = "/"
cache_dir = "$1"
flist_dir = "$2"

[[ays]]
id = "bench"

[[store]]
url = "$3"
EOF_TOML
}

# publish_tree DIR TREE PACK: a copy of TREE in DIR/src published with the aysfs-pack PACK into
# the local store DIR/store as service "bench" (DIR/flists for the mount's flist_dir).
publish_tree() {
	mkdir -p "$1/src" "$1/store" "$1/flists"
	chmod 755 "$1" "$1/store" "$1/flists"
	cp -a "$2" "$1/src/"
	"$3" -q "$1/src" "$1/store" bench
}

# mount_build BUILD DIR N: mount what publish_tree put in DIR at DIR/mN with the supervisor of
# BUILD (a cache of its own, DIR/cacheN; its log DIR/N.log), in the background until it serves;
# its pid in MOUNT_PID. Returns 1 (the log printed) when it does not serve within 30 s.
mount_build() {
	mkdir -p "$2/m$3"
	store_toml "$2/cache$3" "$2/flists" "$2/store" >"$2/$3.toml"
	setsid "$1/aysfs-supervisor" -config "$2/$3.toml" "$2/m$3" </dev/null >"$2/$3.log" 2>&1 &
	MOUNT_PID=$!
	for _ in $(seq 300); do grep -q "serving $2/m$3" "$2/$3.log" && return 0; sleep 0.1; done
	cat "$2/$3.log"
	return 1
}

# py_start DIR: the interpreter importing a dozen modules with DIR first on sys.path.
PY_MODULES="json, re, collections, typing, datetime, decimal, email, http.client, urllib.parse, logging, argparse, subprocess"
py_start() {
	/usr/bin/python3 -E -S -c "import sys; sys.path.insert(0,'$1'); import $PY_MODULES"
}
