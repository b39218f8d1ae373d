#!/usr/bin/env bash
# The container image built from the repository's Dockerfile, offline: the Debian 12 base comes from
# scripts/debian-base.sh (debootstrap, no registry), the aiot .deb from CPack of this build (the
# Dockerfile's AIOT_DEB: compiling inside the build stage takes an hour on this machine's two cores).
# Checks the image's configuration (user, ports, healthcheck, entrypoint, volume), then runs
# `aiot up` in a container of it and its HEALTHCHECK command, which must answer, and the dashboard.
#   image_test.sh BUILD_DIR SOURCE_DIR
# Exit 0: passed; 1: failed; 77: buildah or the base image missing (scripts/setup.sh --image).
set -uo pipefail
build="$1"; src="$2"
base="${AIOT_IMAGE_BASE:-localhost/debian:12-aiot-base}"
skip() {
  if [[ "${AIOT_REQUIRE_IMAGE:-0}" == 1 ]]; then echo "FAIL: $*"; exit 1; fi
  echo "SKIP: $*"; exit 77
}
command -v buildah >/dev/null || skip "buildah not installed (scripts/setup.sh --image)"
buildah inspect --type image "$base" >/dev/null 2>&1 ||
  skip "no base image $base (scripts/debian-base.sh makes it offline with debootstrap)"

failures=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
work="$(mktemp -d /var/tmp/aiot-image-test.XXXXXX)"
tag="localhost/aiot-test:$$"
ctr=""
cleanup() {
  [[ -n "$ctr" ]] && buildah rm "$ctr" >/dev/null 2>&1
  buildah rmi -f "$tag" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# The build context: the Dockerfile, the container files, the .deb (not the whole tree: with
# AIOT_DEB nothing is compiled, so the sources are not needed).
mkdir -p "$work/context/deploy"
cp "$src/Dockerfile" "$work/context/"
cp -r "$src/deploy/container" "$work/context/deploy/"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/package" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log"; fail "cpack"; exit 1; }
deb="$(basename "$(ls "$work"/package/aiot_*.deb)")"
cp "$work/package/$deb" "$work/context/"

if buildah bud --isolation chroot --format docker --layers=false -f "$work/context/Dockerfile" \
     --build-arg BUILD_BASE="$base" --build-arg BASE="$base" --build-arg AIOT_DEB="$deb" \
     -t "$tag" "$work/context" >"$work/bud.log" 2>&1; then
  ok "buildah bud builds the Dockerfile ($deb on $base)"
else
  tail -30 "$work/bud.log"; fail "buildah bud"; exit 1
fi

# buildah keeps HEALTHCHECK only in the Docker image format (--format docker above).
buildah inspect --type image "$tag" >"$work/inspect.json"
image_field() {  # what, python expression over the image's Docker config `c`, expected value
  local got
  got="$(python3 -c "import json,sys; c=json.load(open(sys.argv[1]))['Docker']['config']; print($2)" "$work/inspect.json" 2>&1)"
  if [[ "$got" == "$3" ]]; then ok "image: $1"; else fail "image: $1: got $got, want $3"; fi
}
image_field "user 10001" "c.get('User')" "10001:10001"
image_field "EXPOSE 1883 and 8080" "sorted(c.get('ExposedPorts', {}))" "['1883/tcp', '8080/tcp']"
image_field "entrypoint aiot, cmd up" "c.get('Entrypoint'), c.get('Cmd')" "['/usr/bin/aiot'] ['up']"
image_field "volume /var/lib/aiot" "sorted(c.get('Volumes') or {})" "['/var/lib/aiot']"
image_field "AIOT_CONFIG" "[e for e in c.get('Env', []) if e.startswith('AIOT_')]" "['AIOT_CONFIG=/etc/aiot/aiot.yaml']"
image_field "HEALTHCHECK on /healthz" "c['Healthcheck']['Test'][0], '/healthz' in c['Healthcheck']['Test'][1]" "CMD-SHELL True"
healthcmd="$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['Docker']['config']['Healthcheck']['Test'][1])" "$work/inspect.json" 2>/dev/null)"
[[ -n "$healthcmd" ]] || { fail "no HEALTHCHECK command"; exit 1; }

# Run it. chroot isolation shares the host's network: a free port instead of 8080 and 1883, and
# the HEALTHCHECK command run with that port.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ctr="$(buildah from "$tag")"
buildah run --isolation chroot --user 10001:10001 \
  --env AIOT_HTTP_LISTEN="127.0.0.1:$port" --env 'AIOT_BROKER_LISTENERS=127.0.0.1:0' \
  --env AIOT_BOOTSTRAP_ENABLED=false "$ctr" -- /usr/bin/aiot up >"$work/aiot.log" 2>&1 &
runner=$!
healthy=0
for _ in $(seq 1 300); do  # up to 60 s, polling the health check itself
  if buildah run --isolation chroot "$ctr" -- sh -c "${healthcmd//8080/$port}" >/dev/null 2>&1; then
    healthy=1; break
  fi
  kill -0 "$runner" 2>/dev/null || break
  sleep 0.2
done
if ((healthy)); then ok "the HEALTHCHECK command succeeds against the running container"; else
  cat "$work/aiot.log"; fail "HEALTHCHECK never succeeded"; fi
if buildah run --isolation chroot "$ctr" -- sh -c "${healthcmd//8080/$((port + 1))}" >/dev/null 2>&1; then
  fail "the HEALTHCHECK command succeeds against a port nothing listens on"
else
  ok "the HEALTHCHECK command fails against a port nothing listens on"
fi
if curl -fsS "http://127.0.0.1:$port/ui/" | grep -q "<html"; then ok "dashboard served from the image"; else
  fail "dashboard"; fi
if grep -q "dashboard at /ui/ from /usr/share/aiot/web" "$work/aiot.log"; then ok "web assets from /usr/share/aiot/web"; else
  fail "web assets not from /usr/share/aiot/web"; fi
kill -TERM "$runner" 2>/dev/null
wait "$runner" 2>/dev/null
((failures == 0)) && echo "all passed" || echo "$failures failed"
exit $((failures > 0))
