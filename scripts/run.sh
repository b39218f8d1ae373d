#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs `aiot up` with a simulated fleet.
# Extra arguments go to `aiot up` (e.g. --simulate 200, --config aiot.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh --target aiot
args=("$@")
# By default: 50 simulated fans, a fifth of them developing faults again and again (the devices
# ease a degrading machine to half load), 20 hours of machine life per minute so that failures,
# alerts and actuation show within a minute, and at 20 simulated hours (1 minute) a new machine
# type (healthy vibration x1.6): the serving model raises false alarms, the drift monitor notices,
# and once the new regime has labelled failures the pipeline retrains, promotes the challenger and
# rolls it out by itself (src/pipeline/README.md, "The simulate demo runs the loop"; test:
# AiotUp.DemoDefaultsRetrainPromoteAndRollOutOnDrift).
((${#args[@]})) || args=(--simulate 50 --set fleet.time_scale=1200 --regime "at=20h vibration_scale=1.6")
exec build/rel/src/cli/aiot up "${args[@]}"
