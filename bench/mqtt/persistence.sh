#!/usr/bin/env bash
# Broker persistence throughput (issue 15): QoS 1, 64 B, persistent v5 sessions (--session-expiry
# 3600, so every message goes through the log), the same `aiot bench mqtt` invocation against
# mosquitto (persistence true, autosave_interval 1) and `aiot broker` with broker.persistence.mode
# none, periodic (1000 ms) and every_ack, each on its own directory on the same disk. RUNS rounds of
# 1->1 and 10->10; prints each row, the load average, and min / median / max over the rounds of
# every_ack / none and periodic / mosquitto (ratios within a row: same minute, same generator).
#   bench/mqtt/persistence.sh [aiot binary] [RUNS] [extra `aiot bench mqtt` args, e.g. --window 1024]
# Environment: DURATION (s per broker, default 3), THREADS (broker cores, default 2),
# BROKER_ARGS (extra --set for the aiot brokers, e.g. "--set broker.receive_maximum=1024").
set -euo pipefail
AIOT=${1:-build/rel/src/cli/aiot}
RUNS=${2:-3}
shift $(($# > 2 ? 2 : $#)) || true
EXTRA=("$@")
DURATION=${DURATION:-3}
THREADS=${THREADS:-2}
read -r -a BROKER_EXTRA <<< "${BROKER_ARGS:-}"
dir=$(mktemp -d "${TMPDIR:-/var/tmp}/aiot-persist-bench-XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

mport=$(port)
mkdir -p "$dir/mosquitto"
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nautosave_interval 1\n' \
  "$mport" "$dir/mosquitto" > "$dir/mosq.conf"
/usr/sbin/mosquitto -c "$dir/mosq.conf" >/dev/null 2>&1 & pids+=($!)
urls=("tcp://127.0.0.1:$mport")
for mode in none periodic every_ack; do
  p=$(port)
  "$AIOT" --log-level warn --set "threads=$THREADS" broker --set "broker.listeners=[127.0.0.1:$p]" \
    --set broker.sys_interval=0 --set "broker.persistence.mode=$mode" \
    --set broker.persistence.interval_ms=1000 --set "broker.persistence.dir=$dir/$mode" \
    "${BROKER_EXTRA[@]}" & pids+=($!)
  urls+=("tcp://127.0.0.1:$p")
done
wait_port "$mport"
for u in "${urls[@]:1}"; do wait_port "${u##*:}"; done
url_args=()
for u in "${urls[@]}"; do url_args+=(--url "$u"); done

for run in $(seq "$RUNS"); do
  for n in 1 10; do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    "$AIOT" --log-level warn bench mqtt "${url_args[@]}" --qos 1 --size 64 --mode pairs --pubs "$n" \
      --subs "$n" --duration "$DURATION" --session-expiry 3600 "${EXTRA[@]}" --json \
      > "$dir/run$run.$n.json"
    echo "$run $n $load" >> "$dir/rows"
  done
done

python3 - "$dir" <<'PY'
import json, statistics, sys
d = sys.argv[1]
names = ["mosquitto", "none", "periodic", "every_ack"]
ratios = {}
print("| run | load | loadavg (1/5/15 min) | mosquitto | aiot none | aiot periodic | aiot every_ack | every_ack / none | periodic / mosquitto |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for line in open(d + "/rows"):
    run, n, l1, l5, l15 = line.split()
    rows = json.load(open(f"{d}/run{run}.{n}.json"))
    rate = [r["recv_rate"] for r in rows]
    lost = [r["expected"] - min(r["received"], r["expected"]) for r in rows]
    ea, pm = rate[3] / rate[1], rate[2] / rate[0]
    ratios.setdefault(n, []).append((ea, pm))
    cells = " | ".join(f"{r:,.0f}" + (f" (lost {x})" if x else "") for r, x in zip(rate, lost))
    print(f"| {run} | {n}→{n} | {l1} {l5} {l15} | {cells} | {ea:.2f}x | {pm:.1f}x |")
for n, rs in ratios.items():
    ea = sorted(r[0] for r in rs); pm = sorted(r[1] for r in rs)
    print(f"{n}→{n}: every_ack / none min {ea[0]:.2f}x median {statistics.median(ea):.2f}x max {ea[-1]:.2f}x;"
          f" periodic / mosquitto min {pm[0]:.1f}x median {statistics.median(pm):.1f}x max {pm[-1]:.1f}x ({len(rs)} runs)")
PY
