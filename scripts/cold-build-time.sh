#!/usr/bin/env bash
# usage: scripts/cold-build-time.sh REV OUTDIR — a fresh clone of this repository at REV, built and tested
# with ccache disabled; wall and CPU seconds per phase of scripts/test.sh land in OUTDIR/times.txt.
set -uo pipefail
rev=$1; out=$2
rm -rf "$out"; git clone -q "${AIOT_REPO:-$(cd "$(dirname "$0")/.." && pwd)}" "$out"; cd "$out"; git checkout -q "$rev"
export CCACHE_DISABLE=1 CI=true
T() { local name=$1; shift; /usr/bin/time -f "$name wall %e user %U sys %S" -a -o "$out/times.txt" "$@"; }
T setup scripts/setup.sh --test >/dev/null 2>&1
T build scripts/build.sh >build.log 2>&1; echo "build rc $?"
AIOT_REQUIRE_PEERS=1 T ctest ctest --test-dir build/rel -j 3 --timeout 600 >ctest.log 2>&1; echo "ctest rc $?"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
T fuzzconf cmake --preset fuzz -B build/fuzz >/dev/null
T fuzzbuild cmake --build build/fuzz --target aiot_fuzz_all >fuzzbuild.log 2>&1; echo "fuzzbuild rc $?"
T fuzz ctest --test-dir build/fuzz -j 2 -L fuzz >fuzz.log 2>&1; echo "fuzz rc $?"
echo "rev $(git rev-parse --short HEAD)"; cat times.txt
tail -3 ctest.log
