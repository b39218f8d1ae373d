#!/bin/sh
# Build stage of the Dockerfile: the aiot Debian package in /out/aiot.deb. With AIOT_DEB set (a .deb
# in the build context, e.g. from `cmake --build build/rel --target aiot_deb` or a cross build),
# that package is used as it is and nothing is compiled (deploy/README.md, "Container image").
set -eu
mkdir -p /out
if [ -n "${AIOT_DEB:-}" ]; then
  cp "/src/$AIOT_DEB" /out/aiot.deb
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q --no-install-recommends \
  build-essential cmake ninja-build pkg-config git file dpkg-dev ca-certificates nodejs npm \
  libboost-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libsimdjson-dev libspdlog-dev libfmt-dev \
  libcli11-dev libsqlite3-dev libeigen3-dev libkissfft-dev libflatbuffers-dev flatbuffers-compiler \
  librdkafka-dev prometheus-cpp-dev zlib1g-dev libxgboost-dev libjemalloc-dev
cd /src
(cd web && npm ci --no-audit --no-fund)
cmake --preset release -B /build -DAIOT_BUILD_TESTS=OFF -DAIOT_BUILD_BENCH=OFF -DAIOT_WERROR=OFF
cmake --build /build --target aiot -j "${JOBS:-$(nproc)}"
cmake --build /build --target aiot_deb
cp /build/package/aiot_*.deb /out/aiot.deb
