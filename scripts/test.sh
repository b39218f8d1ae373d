#!/usr/bin/env bash
# Every test: installs what is missing, builds once (ccache), runs the unit, integration and e2e
# tests in parallel with ctest, then each fuzz target for a fixed number of executions with a fixed seed
# (clang, libFuzzer; deterministic, about 10 s each; scripts/fuzz.sh explores for longer).
#   scripts/test.sh [ctest args...]    e.g. scripts/test.sh -L unit
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh
jobs=$(( $(nproc) + 1 ))
# setup.sh --test installed every peer the tests use: a test that finds one missing fails
# instead of skipping (tests/support/testing.h), so a missing install step cannot pass as green.
export AIOT_REQUIRE_PEERS=1
status=0
# No retries: a test that passes only on a second try is a defect to fix, not to hide.
ctest --test-dir build/rel -j "$jobs" --output-on-failure --timeout 600 "$@" || status=$?

if [[ $# -eq 0 && "${AIOT_SKIP_FUZZ:-0}" != 1 ]]; then
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
  if [[ ! -f build/fuzz/build.ninja ]]; then
    cmake --preset fuzz -B build/fuzz >/dev/null
  fi
  cmake --build build/fuzz --target aiot_fuzz_all
  ctest --test-dir build/fuzz -j 2 --output-on-failure -L fuzz || status=$?
fi
exit $status
