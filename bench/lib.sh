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
