#!/bin/sh
# A simulated fleet (default 1,000 devices at 1 msg/s each) next to a broker on this machine, once
# against Debian's mosquitto and once against aiot's own broker (`aiot broker`), in the same run:
# the fleet's figures (sim_fleet_load: msgs/s, simulator CPU and peak RSS) and the broker's CPU and
# peak RSS over the same window. Each broker runs on a free loopback port with one subscriber on
# fan/messages (mosquitto_sub), so every message is also delivered.
#   bench/sim/run_fleet_load.sh build/rel/bench/sim/sim_fleet_load [devices] [rate] [seconds] [extra flags]
# Env: AIOT=path/to/aiot (default: the aiot binary of the same build directory);
#      BROKERS="mosquitto aiot" (which brokers, in this order).
set -eu
BIN=${1:?path to sim_fleet_load}
DEVICES=${2:-1000}
RATE=${3:-1}
SECONDS_=${4:-60}
shift 4 2>/dev/null || shift $#
AIOT=${AIOT:-$(dirname "$BIN")/../../src/cli/aiot}
BROKERS=${BROKERS:-mosquitto aiot}
TICK=$(getconf CLK_TCK)
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 1 100); do
    if /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listening on $1" >&2
  return 1
}

echo "# $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start; $DEVICES devices x $RATE msg/s, ${SECONDS_} s window"
for BROKER in $BROKERS; do
  PORT=$(free_port)
  case $BROKER in
    mosquitto)
      printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_connections -1\nmax_queued_messages 100000\nlog_type error\n' \
        "$PORT" > "$DIR/m.conf"
      /usr/sbin/mosquitto -c "$DIR/m.conf" & BP=$!
      ;;
    aiot)
      [ -x "$AIOT" ] || { echo "no aiot binary at $AIOT (set AIOT=)" >&2; exit 1; }
      "$AIOT" broker --set "broker.listeners=[127.0.0.1:$PORT]" --log-level warn \
        > "$DIR/aiot.log" 2>&1 & BP=$!
      ;;
    *) echo "unknown broker $BROKER" >&2; exit 2 ;;
  esac
  wait_port "$PORT"
  mosquitto_sub -h 127.0.0.1 -p "$PORT" -t fan/messages > /dev/null & SP=$!
  sleep 1
  B0=$(awk '{print $14+$15}' /proc/$BP/stat); T0=$(date +%s.%N)
  FLEET=$("$BIN" --mqtt "tcp://127.0.0.1:$PORT" --devices "$DEVICES" --rate "$RATE" --duration "$SECONDS_" "$@")
  B1=$(awk '{print $14+$15}' /proc/$BP/stat); T1=$(date +%s.%N)
  RSS=$(awk '/VmHWM/ {print $2}' /proc/$BP/status)
  # The broker's window includes the fleet's connect and disconnect (slightly more than SECONDS_).
  CPU=$(awk -v b0="$B0" -v b1="$B1" -v t0="$T0" -v t1="$T1" -v hz="$TICK" 'BEGIN {printf "%.2f", 100*(b1-b0)/hz/(t1-t0)}')
  MB=$(awk -v kb="$RSS" 'BEGIN {printf "%.1f", kb/1024}')
  echo "{\"broker\":\"$BROKER\",\"fleet\":$FLEET,\"broker_cpu_percent\":$CPU,\"broker_max_rss_mb\":$MB}"
  kill $SP 2>/dev/null || true
  kill $BP
  wait $BP 2>/dev/null || true
  wait $SP 2>/dev/null || true
done
