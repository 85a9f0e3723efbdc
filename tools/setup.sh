#!/usr/bin/env bash
# setup.sh - install what A-IO needs on a fresh Debian machine and build it (Release) into build/.
# Used by the README's first command and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if ! dpkg -s cmake gcc pkg-config libcjson-dev libmicrohttpd-dev >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq build-essential cmake pkg-config \
    libcjson-dev libmicrohttpd-dev >/dev/null
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
