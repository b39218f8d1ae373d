#!/bin/sh
# 1,000 simulated devices at 1 msg/s each next to a broker on this machine: the fleet's figures
# (sim_fleet_load) and the broker's CPU and memory over the same window.
#   bench/sim/run_fleet_load.sh build/rel/bench/sim/sim_fleet_load [devices] [rate] [seconds] [extra flags]
# The broker is Debian's mosquitto on a free loopback port, with one subscriber on fan/messages.
set -eu
BIN=${1:?path to sim_fleet_load}
DEVICES=${2:-1000}
RATE=${3:-1}
SECONDS_=${4:-60}
shift 4 2>/dev/null || shift $#
DIR=$(mktemp -d)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nlog_type error\n' "$PORT" > "$DIR/m.conf"
/usr/sbin/mosquitto -c "$DIR/m.conf" & MP=$!
sleep 1
mosquitto_sub -h 127.0.0.1 -p "$PORT" -t fan/messages > /dev/null & SP=$!
TICK=$(getconf CLK_TCK)
B0=$(awk '{print $14+$15}' /proc/$MP/stat); T0=$(date +%s.%N)
"$BIN" --mqtt "tcp://127.0.0.1:$PORT" --devices "$DEVICES" --rate "$RATE" --duration "$SECONDS_" "$@"
B1=$(awk '{print $14+$15}' /proc/$MP/stat); T1=$(date +%s.%N)
RSS=$(awk '/VmHWM/ {print $2}' /proc/$MP/status)
echo "{\"broker\":\"mosquitto\",\"cpu_percent\":$(echo "100*($B1-$B0)/$TICK/($T1-$T0)" | bc -l | cut -c1-5),\"max_rss_mb\":$(echo "$RSS/1024" | bc -l | cut -c1-5)}"
kill $SP $MP
wait $MP 2>/dev/null || true
rm -rf "$DIR"
