#!/usr/bin/env bash
# Out-direction bridge throughput: N QoS 1 messages published (mosquitto_pub -l, one connection)
# to a local broker that bridges `b/#` out at QoS 1 to a remote mosquitto, timed until a
# mosquitto_sub on the remote has all N. Local broker: aiot (`aiot broker`, broker.bridge, with
# its store-and-forward buffer on disk, fsync interval) vs mosquitto (its own bridge, in memory),
# same run, same generator, same remote.
#   bench/mqtt/bridge.sh [aiot binary] [N]
set -euo pipefail
AIOT=${1:-build/rel/src/cli/aiot}
N=${2:-20000}
dir=$(mktemp -d /tmp/aiot-bridge-bench-XXXXXX)
chmod 0777 "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

remote=$(port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$remote" > "$dir/remote.conf"
/usr/sbin/mosquitto -c "$dir/remote.conf" >/dev/null 2>&1 & pids+=($!)
wait_port "$remote"
seq 1 "$N" | sed 's/^/msg-/' > "$dir/lines"

run() {  # name local_port
  local name=$1 lport=$2
  mosquitto_sub -h 127.0.0.1 -p "$remote" -q 1 -t b/x -C "$N" > "$dir/got.$name" & local sub=$!
  sleep 0.5  # (benchmark script, not a test: let the subscription settle)
  local t0=$(date +%s.%N)
  mosquitto_pub -h 127.0.0.1 -p "$lport" -q 1 -t b/x -l < "$dir/lines"
  wait "$sub"
  local t1=$(date +%s.%N)
  local got=$(wc -l < "$dir/got.$name")
  python3 -c "print('$name: $N messages, %d received, %.2f s, %.0f msg/s' % ($got, $t1-$t0, $N/($t1-$t0)))"
}

# aiot with broker.bridge.
aport=$(port)
"$AIOT" --log-level warn --set "broker.listeners=[127.0.0.1:$aport]" \
  --set "broker.bridge.url=mqtt://127.0.0.1:$remote" --set 'broker.bridge.topics=["b/# out 1"]' \
  --set "broker.bridge.buffer.dir=$dir/buffer" broker & pids+=($!)
wait_port "$aport"
# The bridge is up once a probe crosses.
mosquitto_sub -h 127.0.0.1 -p "$remote" -q 1 -t 'b/#' -C 1 >/dev/null & probe=$!
for _ in $(seq 100); do kill -0 $probe 2>/dev/null || break; mosquitto_pub -h 127.0.0.1 -p "$aport" -q 1 -t b/probe -m p; sleep 0.1; done
wait $probe || true
run aiot "$aport"

# mosquitto with its own bridge.
mport=$(port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nconnection b\naddress 127.0.0.1:%s\ntopic b/# out 1\n' "$mport" "$remote" > "$dir/local.conf"
/usr/sbin/mosquitto -c "$dir/local.conf" >/dev/null 2>&1 & pids+=($!)
wait_port "$mport"
mosquitto_sub -h 127.0.0.1 -p "$remote" -q 1 -t 'b/#' -C 1 >/dev/null & probe=$!
for _ in $(seq 100); do kill -0 $probe 2>/dev/null || break; mosquitto_pub -h 127.0.0.1 -p "$mport" -q 1 -t b/probe -m p; sleep 0.1; done
wait $probe || true
run mosquitto "$mport"
