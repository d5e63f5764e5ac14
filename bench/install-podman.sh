#!/bin/sh
# Install Debian's podman (and conmon, its monitor) for bench/run.py, only when missing.
# The benchmark compares husk with podman on the same host, same runtime and same
# busybox rootfs; Debian 12 ships podman 4.3.1 with crun 1.8.1 and conmon 2.1.6.
set -eu
if command -v podman >/dev/null 2>&1 && command -v conmon >/dev/null 2>&1; then
    podman --version
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-podman.sh: run as root (apt-get install podman)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends podman conmon crun runc
podman --version
