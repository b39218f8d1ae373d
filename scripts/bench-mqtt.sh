#!/usr/bin/env bash
# aiot's MQTT broker vs Debian's mosquitto, same run, same load (`aiot bench mqtt`), plus resident
# memory with N idle connections. Prints a markdown table with ratios (aiot / mosquitto).
#   scripts/bench-mqtt.sh [--duration S] [--idle N] [--quick] [--tls]
# --tls: both brokers listen with TLS only (a certificate made with openssl here), the generator
# connects with mqtts:// (aiot's TLS client) and the idle connections are TLS connections.
# Env: AIOT=path/to/aiot (default build/rel/src/cli/aiot).
set -euo pipefail
cd "$(dirname "$0")/.."

AIOT=${AIOT:-build/rel/src/cli/aiot}
duration=3
idle=10000
quick=0
tls=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --tls) tls=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "$AIOT" ]] || { echo "build aiot first ($AIOT)" >&2; exit 1; }
command -v mosquitto >/dev/null || MOSQUITTO=/usr/sbin/mosquitto
MOSQUITTO=${MOSQUITTO:-$(command -v mosquitto)}

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

scheme=tcp
tls_bench=()
if ((tls)); then
  scheme=mqtts
  (cd "$work" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
      -out ca.pem -days 2 -subj /CN=bench-ca &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key \
      -out server.csr -subj /CN=localhost &&
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext &&
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
      -days 2 -extfile server.ext) >/dev/null 2>&1 || { echo "openssl failed" >&2; exit 1; }
  chmod 644 "$work"/*.key "$work"/*.pem  # mosquitto may drop to its own user
  chmod 755 "$work"
  tls_bench=(--cafile "$work/ca.pem")
fi

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do
    if /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listening on $1" >&2; return 1
}

# Starts both brokers on fresh ports (sets mport/aport/mpid/apid).
start_brokers() {
  mport=$(free_port)
  aport=$(free_port)
  # set_tcp_nodelay: as aiot does on every connection (mosquitto's default keeps Nagle on, which
  # delays small QoS 1 packets, over TLS most).
  cat > "$work/mosquitto.conf" <<CONF
listener $mport 127.0.0.1
allow_anonymous true
max_connections -1
set_tcp_nodelay true
CONF
  tls_set=()
  if ((tls)); then
    printf 'certfile %s\nkeyfile %s\n' "$work/server.pem" "$work/server.key" >>"$work/mosquitto.conf"
    tls_set=(--set broker.tls.cert="$work/server.pem" --set broker.tls.key="$work/server.key")
  fi
  "$MOSQUITTO" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
  mpid=$!; pids+=("$mpid")
  "$AIOT" broker --set "broker.listeners=[$scheme://127.0.0.1:$aport]" \
    --set broker.max_connections=0 "${tls_set[@]}" --log-level warn >"$work/aiot.log" 2>&1 &
  apid=$!; pids+=("$apid")
  wait_port "$mport"
  wait_port "$aport"
}
stop_brokers() {
  kill "$mpid" "$apid" 2>/dev/null || true
  wait "$mpid" "$apid" 2>/dev/null || true
}
start_brokers

mosq_version=$( ("$MOSQUITTO" -h 2>/dev/null || true) | head -1 | sed "s/.*version \([0-9.]*\).*/\1/")
echo "# aiot broker vs mosquitto $mosq_version$( ((tls)) && echo ", both over TLS (mqtts://)") ($(nproc) cores, load avg $(cut -d' ' -f1 /proc/loadavg) at start)"
echo

# name|aiot bench mqtt arguments (max rate: each publisher keeps a window of 128 in flight)
loads=(
  "QoS 0, 64 B, 1→1|--mode pairs --pubs 1 --subs 1 --qos 0 --size 64 --rate max"
  "QoS 0, 1 KiB, 1→1|--mode pairs --pubs 1 --subs 1 --qos 0 --size 1024 --rate max"
  "QoS 1, 64 B, 1→1|--mode pairs --pubs 1 --subs 1 --qos 1 --size 64 --rate max"
  "QoS 1, 1 KiB, 1→1|--mode pairs --pubs 1 --subs 1 --qos 1 --size 1024 --rate max"
  "QoS 0, 64 B, 10→10|--mode pairs --pubs 10 --subs 10 --qos 0 --size 64 --rate max"
  "QoS 1, 64 B, 10→10|--mode pairs --pubs 10 --subs 10 --qos 1 --size 64 --rate max"
  "QoS 1, 1 KiB, 10→10|--mode pairs --pubs 10 --subs 10 --qos 1 --size 1024 --rate max"
  "QoS 0, 64 B, 1→100|--mode fanout --pubs 1 --subs 100 --qos 0 --size 64 --rate max"
  "QoS 1, 64 B, 1→100|--mode fanout --pubs 1 --subs 100 --qos 1 --size 64 --rate max"
  "QoS 1, 1 KiB, 1→100|--mode fanout --pubs 1 --subs 100 --qos 1 --size 1024 --rate max"
  "QoS 0, 1 KiB, 10→10|--mode pairs --pubs 10 --subs 10 --qos 0 --size 1024 --rate max"
  "QoS 0, 1 KiB, 1→100|--mode fanout --pubs 1 --subs 100 --qos 0 --size 1024 --rate max"
  # Fixed rates (no queueing): latency of the brokers themselves.
  "QoS 1, 64 B, 1→1 at 5,000 msg/s|--mode pairs --pubs 1 --subs 1 --qos 1 --size 64 --rate 5000"
  "QoS 1, 64 B, 10→10 at 10×1,000 msg/s|--mode pairs --pubs 10 --subs 10 --qos 1 --size 64 --rate 1000"
)
((quick)) && loads=("${loads[0]}" "${loads[2]}" "${loads[8]}")

echo "| load | mosquitto msgs/s | aiot msgs/s | ratio | mosquitto p99 ms | aiot p99 ms | p99 ratio | loss m/a |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for entry in "${loads[@]}"; do
  name=${entry%%|*}
  args=${entry#*|}
  # shellcheck disable=SC2086
  if ! "$AIOT" bench mqtt --url "$scheme://127.0.0.1:$mport" --url "$scheme://127.0.0.1:$aport" \
      "${tls_bench[@]}" --duration "$duration" $args --json --log-level warn >"$work/run.json" 2>"$work/run.err"; then
    echo "| $name | failed: $(tail -1 "$work/run.err") |"
    continue
  fi
  /usr/bin/python3 - "$name" "$work/run.json" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
m, a = json.load(open(path))
ratio = a["recv_rate"] / m["recv_rate"] if m["recv_rate"] else float("nan")
p99m, p99a = m["latency_ns"]["p99"] / 1e6, a["latency_ns"]["p99"] / 1e6
pr = p99a / p99m if p99m else float("nan")
print(f"| {name} | {m['recv_rate']:,.0f} | {a['recv_rate']:,.0f} | {ratio:.2f}x | {p99m:.2f} | {p99a:.2f} | {pr:.2f} | {m['loss']:.3f}/{a['loss']:.3f} |")
PY
done

# Resident memory with idle connections (MQTT 3.1.1 CONNECT, keep alive 600 s, then nothing),
# on freshly started brokers: after the loads above, freed heap would absorb the connections.
stop_brokers
start_brokers
cat > "$work/idle.py" <<'PY'
import socket, ssl, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
ca = sys.argv[3] if len(sys.argv) > 3 else ""
ctx = ssl.create_default_context(cafile=ca) if ca else None
socks = []
for i in range(n):
    # Spread over 127.0.0.x sources so ephemeral ports never run out.
    s = socket.socket()
    s.bind(("127.0.0.%d" % (2 + i % 200), 0))
    s.connect(("127.0.0.1", port))
    if ctx:
        s = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    cid = b"idle-%06d" % i
    body = b"\x00\x04MQTT\x04\x02\x02\x58" + len(cid).to_bytes(2, "big") + cid
    s.sendall(bytes([0x10, len(body)]) + body)
    socks.append(s)
for s in socks:
    ack = s.recv(4)
    assert ack[:2] == b"\x20\x02" and ack[3] == 0, ack
print("ready", flush=True)
sys.stdin.read()
PY
rss_kb() {
  if [[ -r /proc/$1/status ]]; then awk '/VmRSS/{print $2}' "/proc/$1/status"; else
    echo "broker $1 is gone; its log:" >&2; tail -5 "$work"/*.log >&2; echo 0; fi
}
echo
echo "| $idle idle $( ((tls)) && echo "TLS ")connections | mosquitto | aiot | ratio |"
echo "|---|---:|---:|---:|"
declare -A before after
for b in mosquitto aiot; do
  if [[ $b == mosquitto ]]; then pid=$mpid; port=$mport; else pid=$apid; port=$aport; fi
  before[$b]=$(rss_kb "$pid")
  mkfifo "$work/hold.$b"
  /usr/bin/python3 "$work/idle.py" "$port" "$idle" $( ((tls)) && echo "$work/ca.pem") <"$work/hold.$b" >"$work/idle.$b" 2>&1 &
  hpid=$!; pids+=("$hpid")
  exec {fd}>"$work/hold.$b"
  for _ in $(seq 600); do grep -q ready "$work/idle.$b" 2>/dev/null && break; sleep 0.2; done
  grep -q ready "$work/idle.$b" || { echo "idle clients failed: $(cat "$work/idle.$b")" >&2; }
  sleep 1
  after[$b]=$(rss_kb "$pid")
  exec {fd}>&-
  wait "$hpid" 2>/dev/null || true
done
/usr/bin/python3 - "${before[mosquitto]}" "${after[mosquitto]}" "${before[aiot]}" "${after[aiot]}" "$idle" <<'PY'
import sys
mb, ma, ab, aa, n = map(int, sys.argv[1:])
if not ma or not aa:
    print("| resident memory | failed | failed | |")
    sys.exit(0)
print(f"| resident memory (MiB) | {ma/1024:.1f} | {aa/1024:.1f} | {aa/ma:.2f}x |")
pm, pa = (ma - mb) * 1024 / n, (aa - ab) * 1024 / n
print(f"| bytes per idle connection | {pm:,.0f} | {pa:,.0f} | {pa/pm if pm else float('nan'):.2f}x |")
PY
