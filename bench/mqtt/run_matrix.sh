#!/bin/sh
# MQTT broker comparison: the same `aiot bench mqtt` load against Debian's mosquitto and aiot's
# broker (`aiot broker`), both started here on free loopback ports, in the same run.
#
#   bench/mqtt/run_matrix.sh [path/to/aiot]          # default build/rel/src/cli/aiot
#   DURATION=5 RATE=max NO_AIOT_BROKER=1 bench/mqtt/run_matrix.sh ...
#
# Matrix (from the broker issue): QoS 0 and 1; 64 B and 1 KiB; 1->1, 10->10 (pairs) and 1->100
# fan-out. Prints one table per cell: a row per broker, the ratio column is recv msgs/s relative
# to mosquitto (first row).
set -eu
AIOT=${1:-build/rel/src/cli/aiot}
DURATION=${DURATION:-5}
RATE=${RATE:-max}
EXTRA=${EXTRA:-}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close(); sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

tmp=$(mktemp -d)
chmod 777 "$tmp"
MPORT=$(free_port)
cat > "$tmp/mosquitto.conf" <<CONF
listener $MPORT 127.0.0.1
allow_anonymous true
persistence false
log_dest none
CONF
/usr/sbin/mosquitto -c "$tmp/mosquitto.conf" &
MPID=$!
APID=
URLS="--url tcp://127.0.0.1:$MPORT"
if [ "${NO_AIOT_BROKER:-0}" != 1 ]; then
  APORT=$(free_port)
  "$AIOT" broker --log-level warn --set "broker.listeners=[127.0.0.1:$APORT]" &
  APID=$!
  URLS="$URLS --url tcp://127.0.0.1:$APORT"
fi
trap 'kill $MPID $APID 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
wait_port "$MPORT"
[ -n "$APID" ] && wait_port "$APORT"

echo "# $(date -u +%FT%TZ) $(uname -m) $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# mosquitto $(/usr/sbin/mosquitto -h 2>/dev/null | head -1 | sed 's/.*version //')"
for qos in 0 1; do
  for size in 64 1024; do
    for shape in "pairs 1 1" "pairs 10 10" "fanout 1 100"; do
      set -- $shape
      echo "## qos=$qos size=$size mode=$1 pubs=$2 subs=$3 rate=$RATE duration=${DURATION}s"
      # shellcheck disable=SC2086
      "$AIOT" bench mqtt $URLS --mode "$1" --pubs "$2" --subs "$3" --qos "$qos" --size "$size" \
        --rate "$RATE" --duration "$DURATION" $EXTRA || echo "(failed)"
    done
  done
done
