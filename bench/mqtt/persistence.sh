#!/usr/bin/env bash
# Broker persistence throughput (issue 15): QoS 1, 64 B, persistent v5 sessions (--session-expiry
# 3600, so every message goes through the log), the same `aiot bench mqtt` invocation against
# mosquitto (persistence true, autosave_interval 1) and `aiot broker` with broker.persistence.mode
# none, periodic (1000 ms) and every_ack, each on its own directory on the same disk. RUNS rounds of
# 1->1 and 10->10, the brokers in the opposite order every other round (so none and every_ack do
# not always get the same seconds of the minute). After each row, a probe on the same disk times
# 6,400-byte append + fdatasync for 1.5 s (the size of one publisher's group at 100 in flight):
# one publisher's every_ack rate cannot beat window / (mean fdatasync), printed as "bound".
# Prints each row with the load average, min / median / max of every_ack / none and periodic /
# mosquitto (ratios within a row: same minute, same generator), and the fdatasync histogram.
#   bench/mqtt/persistence.sh [aiot binary] [RUNS] [extra `aiot bench mqtt` args]
# Environment: WINDOW (messages the generator keeps in flight per publisher, default 1000, capped
# by each broker's Receive Maximum: aiot's default is 1000), DURATION (s per broker, default 3),
# THREADS (broker cores, default 2), BROKER_ARGS (extra --set for the aiot brokers, e.g.
# "--set broker.receive_maximum=100").
set -euo pipefail
AIOT=${1:-build/rel/src/cli/aiot}
RUNS=${2:-3}
shift $(($# > 2 ? 2 : $#)) || true
EXTRA=("$@")
WINDOW=${WINDOW:-1000}
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
# fdatasync probe: 6,400-byte appends + fdatasync for 1.5 s on the brokers' disk; one latency
# (seconds) per line into $dir/fsync.<run>.<n>.
probe() {
  python3 - "$dir/probe.log" "$1" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
buf, lat, end = b"x" * 6400, [], time.monotonic() + 1.5
while time.monotonic() < end:
    os.write(fd, buf)
    t = time.perf_counter(); os.fdatasync(fd); lat.append(time.perf_counter() - t)
os.close(fd)
os.truncate(sys.argv[1], 0)
open(sys.argv[2], "w").write("".join(f"{x:.6f}\n" for x in lat))
PY
}

for run in $(seq "$RUNS"); do
  order=("${urls[@]}")
  if ((run % 2 == 0)); then order=("${urls[3]}" "${urls[2]}" "${urls[1]}" "${urls[0]}"); fi
  url_args=()
  for u in "${order[@]}"; do url_args+=(--url "$u"); done
  for n in 1 10; do
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    "$AIOT" --log-level warn bench mqtt "${url_args[@]}" --qos 1 --size 64 --mode pairs --pubs "$n" \
      --subs "$n" --duration "$DURATION" --session-expiry 3600 --window "$WINDOW" "${EXTRA[@]}" --json \
      > "$dir/run$run.$n.json"
    probe "$dir/fsync.$run.$n"
    echo "$run $n $load" >> "$dir/rows"
  done
done

python3 - "$dir" "$WINDOW" "${urls[@]}" <<'PY'
import json, statistics, sys
d, window, urls = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
ratios, allfs = {}, []
print(f"window {window} per publisher; brokers in order mosquitto, none, periodic, every_ack in odd runs, reversed in even runs")
print("| run | load | loadavg (1/5/15 min) | mosquitto | aiot none | aiot periodic | aiot every_ack | every_ack / none | periodic / mosquitto | fdatasync p50 / mean / p90 ms | one publisher's ceiling: window / mean fdatasync |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for line in open(d + "/rows"):
    run, n, l1, l5, l15 = line.split()
    by_url = {r["url"]: r for r in json.load(open(f"{d}/run{run}.{n}.json"))}
    rows = [by_url[u] for u in urls]
    rate = [r["recv_rate"] for r in rows]
    lost = [r["expected"] - min(r["received"], r["expected"]) for r in rows]
    fs = sorted(float(x) for x in open(f"{d}/fsync.{run}.{n}"))
    allfs += fs
    mean = statistics.mean(fs)
    ea, pm = rate[3] / rate[1], rate[2] / rate[0]
    ratios.setdefault(n, []).append((ea, pm))
    cells = " | ".join(f"{r:,.0f}" + (f" (lost {x})" if x else "") for r, x in zip(rate, lost))
    print(f"| {run} | {n}→{n} | {l1} {l5} {l15} | {cells} | {ea:.2f}x | {pm:.1f}x | "
          f"{fs[len(fs)//2]*1e3:.1f} / {mean*1e3:.1f} / {fs[int(.9*(len(fs)-1))]*1e3:.1f} | {window/mean:,.0f} |")
for n, rs in ratios.items():
    ea = sorted(r[0] for r in rs); pm = sorted(r[1] for r in rs)
    print(f"{n}→{n}: every_ack / none min {ea[0]:.2f}x median {statistics.median(ea):.2f}x max {ea[-1]:.2f}x;"
          f" periodic / mosquitto min {pm[0]:.1f}x median {statistics.median(pm):.1f}x max {pm[-1]:.1f}x ({len(rs)} runs)")
allfs.sort()
hist = {}
for x in allfs:
    b = min(int(x * 1e3 // 2) * 2, 20)
    hist[b] = hist.get(b, 0) + 1
print(f"fdatasync of 6,400 B appends, all probes ({len(allfs)}): p50 {allfs[len(allfs)//2]*1e3:.1f} ms, "
      f"mean {statistics.mean(allfs)*1e3:.1f} ms, p90 {allfs[int(.9*(len(allfs)-1))]*1e3:.1f} ms, "
      f"p99 {allfs[int(.99*(len(allfs)-1))]*1e3:.1f} ms; ms: " +
      ", ".join(f"{b}-{b+2 if b < 20 else ''}: {c}" for b, c in sorted(hist.items())))
PY
