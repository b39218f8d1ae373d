#!/usr/bin/env bash
# Cross-builds aiot for arm64 with Debian's g++-aarch64-linux-gnu and arm64 multiarch -dev packages,
# and runs the unit tests under qemu-user-static (cmake/toolchain-aarch64.cmake). Build in
# build/arm64 (ccache shared with the native build).
#   scripts/cross-arm64.sh                      the aiot binary and every unit test executable
#                                               (*_unit_tests), then ctest -L unit under qemu
#   scripts/cross-arm64.sh --target ml_unit_tests [-- ctest args]   one target (and its tests)
#   scripts/cross-arm64.sh --setup-only         install the toolchain and packages, build nothing
#   JOBS=1 nice -n 19 scripts/cross-arm64.sh    on a shared machine: compile jobs (default 2); the
#                                               build keeps going past a failed target (-k 0) and
#                                               the tests of what built run anyway
# The arm64 .deb: cmake --build build/arm64 --target aiot_deb (aiot_<version>_arm64.deb), usable with
# the Dockerfile's AIOT_DEB for a linux/arm64 image without emulated compiling.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=() ctest_args=() setup_only=0
while (($#)); do
  case "$1" in
    --target) targets+=("$2"); shift 2 ;;
    --setup-only) setup_only=1; shift ;;
    --) shift; ctest_args=("$@"); break ;;
    *) echo "usage: $0 [--target T]... [--setup-only] [-- ctest args]" >&2; exit 2 ;;
  esac
done

# Libraries aiot links, as arm64 packages installed beside the amd64 ones (Multi-Arch: same; the
# headers-only packages and host tools stay amd64: scripts/setup.sh).
arm64_pkgs=(
  libssl-dev libspdlog-dev libfmt-dev libsqlite3-dev libflatbuffers-dev librdkafka-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev libboost-dev libkissfft-dev
  libyaml-cpp0.7 libsimdjson14 libprometheus-cpp-core1.0 libjemalloc2
)
# These -dev packages are not Multi-Arch: same in Debian 12: installing the arm64 one REMOVES the
# amd64 one (and breaks the native build). They are unpacked into a sysroot instead
# (build/arm64-sysroot, searched by cmake/toolchain-aarch64.cmake); their headers are the same.
# Their CMake files name the shared libraries relative to the sysroot: those are unpacked too.
# libjemalloc-dev (AIOT_MALLOC=jemalloc, cmake/malloc.cmake) is not Multi-Arch: same either; its
# library libjemalloc2 is (installed as arm64 too, for qemu's loader).
# libxgboost0 needs libdmlc0 (not installed as arm64: without it the link of anything using
# aiot_ml_gbdt, e.g. ml_unit_tests, fails with undefined dmlc:: references).
sysroot_pkgs=(libyaml-cpp-dev libsimdjson-dev prometheus-cpp-dev libyaml-cpp0.7 libsimdjson14
  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libprometheus-cpp-push1.0 libxgboost-dev
  libxgboost0 libdmlc0 libjemalloc-dev libjemalloc2)
host_pkgs=(g++-aarch64-linux-gnu qemu-user-static)
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
scripts/setup.sh
missing=()
for p in "${host_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
for p in "${arm64_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p:arm64" 2>/dev/null | grep -q "ok installed" || missing+=("$p:arm64")
done
if ((${#missing[@]})); then
  echo "cross-arm64: installing ${missing[*]}"
  dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
sysroot="$PWD/build/arm64-sysroot"
# .complete holds the package list it was made from: a changed list makes it again.
if [[ "$(cat "$sysroot/.complete" 2>/dev/null)" != "${sysroot_pkgs[*]}" ]]; then
  rm -rf "$sysroot" && mkdir -p "$sysroot/debs"
  (cd "$sysroot/debs" && apt-get download "${sysroot_pkgs[@]/%/:arm64}")
  for deb in "$sysroot"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
  echo "${sysroot_pkgs[*]}" >"$sysroot/.complete"
fi
((setup_only)) && exit 0

export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1 CCACHE_COMPILERCHECK=content
build=build/arm64
if [[ ! -f "$build/build.ninja" ]]; then
  cmake --preset release -B "$build" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchain-aarch64.cmake" >/dev/null
fi
jobs=${JOBS:-2}
if ((${#targets[@]} == 0)); then
  # Not `all` (integration tests, benchmarks, fuzz drivers): the binary and the unit tests.
  mapfile -t targets < <(sed -n 's/^build \([a-z0-9_]*_unit_tests\): phony.*/\1/p' "$build/build.ninja" | sort -u)
  targets=(aiot "${targets[@]}")
fi
echo "cross-arm64: building ${targets[*]} (-j$jobs)"
build_status=0
cmake --build "$build" -j"$jobs" --target "${targets[@]}" -- -k 0 || build_status=$?
# ctest -L unit lists the tests of every unit executable: those that did not build fail as
# "Not Run"; the exit status says whether everything built and passed.
ctest --test-dir "$build" -L unit -j"$jobs" --output-on-failure "${ctest_args[@]}" || exit $?
exit "$build_status"
