#!/usr/bin/env bash
# Exploratory fuzzing, for finding new bugs (scripts/test.sh runs each target briefly and
# deterministically instead): builds the fuzz tree (clang, libFuzzer, ASan + UBSan) and runs every
# fuzz target, or those matching REGEX, for M minutes each, two at a time, with a seed from the
# clock. What a run finds is kept in build/fuzz/fuzz-corpus/<target>/ and is where the next run
# starts; a crashing input is written as build/fuzz/src/<module>/crash-<sha1> (add it to the
# target's seed corpus with the fix).
#   scripts/fuzz.sh [--minutes M] [REGEX]     e.g. scripts/fuzz.sh --minutes 30 mqtt
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=10
regex=.
while [[ $# -gt 0 ]]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) regex=$1; shift ;;
  esac
done
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
if [[ ! -f build/fuzz/build.ninja ]]; then
  cmake --preset fuzz -B build/fuzz >/dev/null
fi
cmake --build build/fuzz --target aiot_fuzz_all
AIOT_FUZZ_SECONDS=$((minutes * 60)) ctest --test-dir build/fuzz -j 2 --output-on-failure -L fuzz -R "$regex"
