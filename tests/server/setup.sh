#!/usr/bin/env bash
# setup.sh - installs the official `openai` npm client for tests/server/openai_test.mjs.
# CI runs it once after installing nodejs + npm; the test skips (exit 77) without node_modules.
# The versions are pinned by package-lock.json, so `npm ci` would do the same; install keeps
# working when the lock file is absent.
set -euo pipefail
cd "$(dirname "$0")"
npm install --no-audit --no-fund
