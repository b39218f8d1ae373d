#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs `aiot up` with a simulated fleet.
# Extra arguments go to `aiot up` (e.g. --simulate 200, --config aiot.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh --target aiot
args=("$@")
# By default: 50 simulated fans, a fifth of them developing faults, an hour of machine life per
# minute so that failures, alerts and actuation show within minutes.
((${#args[@]})) || args=(--simulate 50 --set fleet.time_scale=60)
exec build/rel/src/cli/aiot up "${args[@]}"
