#!/usr/bin/env bash
# Makes the Debian 12 base image for building the Dockerfile without a container registry: a minimal
# root file system from Debian's own packages (debootstrap), imported into buildah's local storage.
# Idempotent: nothing happens when the image exists.
#   scripts/debian-base.sh [IMAGE]     default localhost/debian:12-aiot-base
# Needs root, buildah and debootstrap (scripts/setup.sh --image installs them).
set -euo pipefail
image="${1:-localhost/debian:12-aiot-base}"
if buildah inspect --type image "$image" >/dev/null 2>&1; then
  echo "debian-base: $image exists"
  exit 0
fi
work="$(mktemp -d /var/tmp/aiot-debian-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "debian-base: debootstrap bookworm into $work/rootfs"
debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log"; exit 1; }
# apt's lists are fetched again by the image's build; keep the base small.
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin
ctr="$(buildah from scratch)"
mnt="$(buildah mount "$ctr")"
cp -a "$work/rootfs/." "$mnt/"
buildah umount "$ctr" >/dev/null
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash "$ctr"
buildah commit --rm "$ctr" "$image" >/dev/null
echo "debian-base: $image"
