#!/usr/bin/env bash
# Installs what aiot needs on Debian 12, and nothing when it is already there (idempotent, quick).
#   scripts/setup.sh          build dependencies only
#   scripts/setup.sh --test   also the test peers (mosquitto, paho, influxd, chromium, ...) and npm packages
#   scripts/setup.sh --image  also buildah and debootstrap, and the offline Debian 12 base image that
#                             tests/deploy builds the Dockerfile on (scripts/debian-base.sh, minutes once)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0 want_image=0
for arg in "$@"; do
  [[ "$arg" == "--test" ]] && want_test=1
  [[ "$arg" == "--image" ]] && want_image=1
done

build_pkgs=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev libssl-dev libyaml-cpp-dev nlohmann-json3-dev libsimdjson-dev libspdlog-dev libfmt-dev
  libcli11-dev libsqlite3-dev libeigen3-dev libkissfft-dev libflatbuffers-dev flatbuffers-compiler
  librdkafka-dev prometheus-cpp-dev zlib1g-dev libjemalloc-dev libgtest-dev libgmock-dev libbenchmark-dev libxgboost-dev
)
test_pkgs=(
  clang libclang-rt-14-dev curl sqlite3 mosquitto mosquitto-clients python3-paho-mqtt wrk nginx-light
  python3-sklearn python3-numpy influxdb kcat python3-confluent-kafka chromium python3-pyarmnn libarmnn-cpuref-backend22
  dpkg-dev file systemd
)
image_pkgs=(buildah debootstrap)

pkgs=("${build_pkgs[@]}")
((want_test)) && pkgs+=("${test_pkgs[@]}")
((want_image)) && pkgs+=("${image_pkgs[@]}")
# Node.js may come from elsewhere (a newer upstream build); only install Debian's when there is none.
if ! command -v npm >/dev/null 2>&1; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Debian starts these daemons on install; tests start their own instances on private ports.
  for svc in mosquitto influxdb nginx; do
    if command -v systemctl >/dev/null 2>&1; then $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
    $sudo service "$svc" stop >/dev/null 2>&1 || true
  done
fi

# npm packages: the dashboard's (uPlot) always, the browser tests' with --test; installed again only
# when package.json or the lock file changed.
npm_dirs=(web)
((want_test)) && npm_dirs+=(tests/e2e tests/argo tests/deploy tests/mqtt/ws)
if true; then
  for dir in "${npm_dirs[@]}"; do
    if [[ -f "$dir/package.json" ]]; then
      stamp="$dir/node_modules/.aiot-installed"
      if [[ ! -f "$stamp" || "$dir/package.json" -nt "$stamp" || ( -f "$dir/package-lock.json" && "$dir/package-lock.json" -nt "$stamp" ) ]]; then
        echo "setup: npm install in $dir"
        (cd "$dir" && if [[ -f package-lock.json ]]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi)
        touch "$stamp"
      fi
    fi
  done
fi

# The offline base image of the container image test (tests/deploy/image_test.sh).
if ((want_image)); then
  scripts/debian-base.sh
fi
