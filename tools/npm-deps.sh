#!/usr/bin/env bash
# npm-deps.sh — the npm packages the tests need, pinned, into build/npm (not installed globally):
# s3rver, the S3 implementation of tests/integration/s3.t. Needs npm (tools/deps.sh installs it).
set -eu
cd "$(dirname "$0")/.."
S3RVER_VERSION=3.7.1
dir=build/npm
if [ -x "$dir/node_modules/.bin/s3rver" ] &&
   [ "$(node -p 'require("./'"$dir"'/node_modules/s3rver/package.json").version' 2>/dev/null)" = "$S3RVER_VERSION" ]; then
	exit 0
fi
command -v npm >/dev/null || { echo "npm-deps: npm is missing (tools/deps.sh installs it)" >&2; exit 1; }
mkdir -p "$dir"
echo "npm-deps: installing s3rver@$S3RVER_VERSION into $dir"
npm install --no-audit --no-fund --no-save --prefix "$dir" "s3rver@$S3RVER_VERSION" >/dev/null
