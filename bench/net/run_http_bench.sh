#!/usr/bin/env bash
# wrk against the aiot HTTP server (bench/net/http_bench_server) and against nginx serving
# `return 200` on another loopback port, in the same run, and prints the ratio.
#
#   bench/net/run_http_bench.sh [path/to/http_bench_server]
# Env: DURATION (10s), CONNECTIONS (64), WRK_THREADS (2), ROUNDS (2), SERVER_THREADS (0 = cores),
#      TARGET (/healthz).
set -euo pipefail

BIN=${1:-build/rel/bench/net/http_bench_server}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
ROUNDS=${ROUNDS:-2}
SERVER_THREADS=${SERVER_THREADS:-0}
TARGET=${TARGET:-/healthz}
CORES=$(nproc)
NGINX_WORKERS=$([ "$SERVER_THREADS" = 0 ] && echo "$CORES" || echo "$SERVER_THREADS")

command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
[ -x "$BIN" ] || { echo "no $BIN (build target http_bench_server in a release build)" >&2; exit 1; }

work=$(mktemp -d)
aiot_pid=""
nginx_pid=""
cleanup() {
  [ -n "$aiot_pid" ] && kill "$aiot_pid" 2>/dev/null && wait "$aiot_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$BIN" --listen 127.0.0.1:0 --threads "$SERVER_THREADS" >"$work/aiot.out" 2>"$work/aiot.err" &
aiot_pid=$!
for _ in $(seq 100); do grep -q '^port ' "$work/aiot.out" 2>/dev/null && break; sleep 0.05; done
aiot_port=$(awk '/^port /{print $2}' "$work/aiot.out")
[ -n "$aiot_port" ] || { cat "$work/aiot.err" >&2; exit 1; }

nginx_port=""
if command -v nginx >/dev/null; then
  nginx_port=$(free_port)
  mkdir -p "$work/nginx"
  cat >"$work/nginx.conf" <<CONF
worker_processes $NGINX_WORKERS;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port reuseport;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
CONF
  nginx -c "$work/nginx.conf" -p "$work/nginx" &
  nginx_pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$nginx_port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
fi

run_wrk() {  # name port -> "rps p99"
  local out
  out=$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$2$TARGET")
  echo "$out" >"$work/$1.wrk"
  local rps p99
  rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  p99=$(awk '$1=="99%"{print $2}' <<<"$out")
  local non2xx
  non2xx=$(awk '/Non-2xx/{print $NF}' <<<"$out")
  [ -n "$non2xx" ] && echo "warning: $1 had $non2xx non-2xx answers" >&2
  echo "$rps $p99"
}

echo "# wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency http://127.0.0.1:PORT$TARGET ($CORES cores, server threads/workers: $NGINX_WORKERS)"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-8s %12s %10s\n' round server req/s p99
best_aiot=0
best_nginx=0
for round in $(seq "$ROUNDS"); do
  read -r a_rps a_p99 < <(run_wrk aiot "$aiot_port")
  printf '%-6s %-8s %12s %10s\n' "$round" aiot "$a_rps" "$a_p99"
  best_aiot=$(/usr/bin/python3 -c "print(max($best_aiot, $a_rps))")
  if [ -n "$nginx_port" ]; then
    read -r n_rps n_p99 < <(run_wrk nginx "$nginx_port")
    printf '%-6s %-8s %12s %10s\n' "$round" nginx "$n_rps" "$n_p99"
    best_nginx=$(/usr/bin/python3 -c "print(max($best_nginx, $n_rps))")
  fi
done
if [ -n "$nginx_port" ]; then
  /usr/bin/python3 -c "print(f'best aiot/nginx ratio: {$best_aiot/$best_nginx:.2f} ($best_aiot vs $best_nginx req/s)')"
fi
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
