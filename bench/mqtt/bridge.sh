#!/usr/bin/env bash
# Out-direction bridge throughput: N QoS 1 messages published (mosquitto_pub -l, one connection)
# to a local broker that bridges `b/#` out at QoS 1 to a remote mosquitto, timed until a
# mosquitto_sub on the remote has all N. Local broker: aiot (`aiot broker`, broker.bridge, with
# its store-and-forward buffer on disk, fsync interval) vs mosquitto (its own bridge, in memory),
# same run, same generator, same remote. With B=2, two bridges fan the same messages out to two
# remote mosquittos (a site to a central broker and a backup): aiot with broker.bridges (two items,
# a buffer each), mosquitto with two `connection` blocks; timed until both remotes have all N.
#   bench/mqtt/bridge.sh [aiot binary] [N] [B: 1 or 2 bridges]
set -euo pipefail
AIOT=${1:-build/rel/src/cli/aiot}
N=${2:-20000}
B=${3:-1}
dir=$(mktemp -d /tmp/aiot-bridge-bench-XXXXXX)
chmod 0777 "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; return 1; }

remotes=()
for i in $(seq "$B"); do
  r=$(port)
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$r" > "$dir/remote$i.conf"
  /usr/sbin/mosquitto -c "$dir/remote$i.conf" >/dev/null 2>&1 & pids+=($!)
  wait_port "$r"
  remotes+=("$r")
done
remote=${remotes[0]}
seq 1 "$N" | sed 's/^/msg-/' > "$dir/lines"

run() {  # name local_port
  local name=$1 lport=$2 subs=() i=0
  for r in "${remotes[@]}"; do
    i=$((i + 1))
    mosquitto_sub -h 127.0.0.1 -p "$r" -q 1 -t b/x -C "$N" > "$dir/got.$name.$i" & subs+=($!)
  done
  sleep 0.5  # (benchmark script, not a test: let the subscriptions settle)
  local t0=$(date +%s.%N)
  mosquitto_pub -h 127.0.0.1 -p "$lport" -q 1 -t b/x -l < "$dir/lines"
  wait "${subs[@]}"
  local t1=$(date +%s.%N)
  local got=$(cat "$dir"/got."$name".* | wc -l)
  local ordered=yes
  for f in "$dir"/got."$name".*; do cmp -s "$f" "$dir/lines" || ordered=no; done
  python3 -c "print('$name: $N messages to $B remote(s), %d received, in order: $ordered, %.2f s, %.0f msg/s' % ($got, $t1-$t0, $N/($t1-$t0)))"
}
# Publishes probes to the local broker at $1 until every remote has one (the bridges are up).
probe() {
  local probes=()
  for r in "${remotes[@]}"; do
    mosquitto_sub -h 127.0.0.1 -p "$r" -q 1 -t 'b/#' -C 1 >/dev/null & probes+=($!)
  done
  for _ in $(seq 100); do
    local alive=0
    for p in "${probes[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    mosquitto_pub -h 127.0.0.1 -p "$1" -q 1 -t b/probe -m p; sleep 0.1
  done
  wait "${probes[@]}" || true
}

# aiot with broker.bridge (B=1) or broker.bridges (a list of B).
aport=$(port)
if [ "$B" = 1 ]; then
  bridges=(--set "broker.bridge.url=mqtt://127.0.0.1:$remote" --set 'broker.bridge.topics=["b/# out 1"]'
    --set "broker.bridge.buffer.dir=$dir/buffer")
else
  items=""
  i=0
  for r in "${remotes[@]}"; do
    i=$((i + 1))
    items+="${items:+, }{name: r$i, url: \"mqtt://127.0.0.1:$r\", topics: [\"b/# out 1\"], buffer: {dir: \"$dir/buffer$i\"}}"
  done
  bridges=(--set "broker.bridges=[$items]")
fi
"$AIOT" --log-level warn --set "broker.listeners=[127.0.0.1:$aport]" "${bridges[@]}" broker & pids+=($!)
wait_port "$aport"
probe "$aport"
run aiot "$aport"

# mosquitto with its own bridge.
mport=$(port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' "$mport" > "$dir/local.conf"
i=0
for r in "${remotes[@]}"; do
  i=$((i + 1))
  printf 'connection b%s\naddress 127.0.0.1:%s\ntopic b/# out 1\n' "$i" "$r" >> "$dir/local.conf"
done
/usr/sbin/mosquitto -c "$dir/local.conf" >/dev/null 2>&1 & pids+=($!)
wait_port "$mport"
probe "$mport"
run mosquitto "$mport"
