#!/usr/bin/env bash
# Configures (once) and builds aiot in build/rel with ccache. Extra arguments go to cmake --build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD"
export CCACHE_COMPILERCHECK=content
# -g embeds the build directory; without this every clone in a new directory misses the cache.
export CCACHE_NOHASHDIR=1
build=${AIOT_BUILD_DIR:-build/rel}
if [[ ! -f "$build/build.ninja" ]]; then
  cmake --preset release -B "$build" >/dev/null
fi
cmake --build "$build" "$@"
