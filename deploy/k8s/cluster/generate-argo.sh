#!/usr/bin/env bash
# Regenerates deploy/k8s/cluster/argo/ from `aiot pipeline export --argo` (the pipeline's one
# definition, src/pipeline). tests/deploy checks that the committed files equal this output.
#   deploy/k8s/cluster/generate-argo.sh [path/to/aiot]   (default build/rel/src/cli/aiot)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
aiot="${1:-$here/../../../build/rel/src/cli/aiot}"
out="${2:-$here/argo}"
rm -rf "$out"
# since_event off: the Sensor passes the drift event's model (without @version) only. With it on, the Sensor would also
# pass the event's time as `since`, but it submits at once (Argo has no counterpart of the
# runner's triggers.drift.delay_s / min_new_positives), and a run started at the event finds few
# rows since it (docs/deployment.md).
"$aiot" --set pipeline.triggers.drift.since_event=false pipeline export --argo "$out" --namespace aiot --image aiot:0.1.0 --schedule "0 3 * * *" \
  --kafka aiot-kafka-kafka-bootstrap.aiot.svc:9092 --kafka-topic aiot-drift >/dev/null
