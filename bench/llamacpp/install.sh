#!/usr/bin/env bash
# install.sh [DIR] - installs llama.cpp for bench.mjs outside the repository: node-llama-cpp 3.22.1
# with its prebuilt Linux x64 CPU libraries (@node-llama-cpp/linux-x64), versions and the whole
# dependency tree pinned by deps/package-lock.json. Prints the node_modules folder to pass as
# --modules. DIR defaults to $AIO_LLAMACPP_DIR, else ~/.cache/aion/llamacpp.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-${AIO_LLAMACPP_DIR:-$HOME/.cache/aion/llamacpp}}
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "install.sh: the pinned binaries are for Linux x86-64 only" >&2
    exit 1
fi
mkdir -p "$dir"
cp "$here/deps/package.json" "$here/deps/package-lock.json" "$dir/"
cd "$dir"
# --omit=optional: none of the CUDA / Vulkan / other-platform packages (the CPU one is a direct
#   dependency, so it stays).
# --ignore-scripts and NODE_LLAMA_CPP_SKIP_DOWNLOAD: node-llama-cpp's postinstall never tries to
#   download or compile llama.cpp; bench.mjs also calls getLlama with build: "never".
# npm install rather than npm ci: the registry serves some other-platform packages only at older
#   versions, they are missing from the lock, and npm ci refuses a lock that lacks them.
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true npm install --ignore-scripts --omit=optional --no-audit --no-fund >&2
test -f node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node
echo "$dir/node_modules"
