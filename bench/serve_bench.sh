#!/usr/bin/env bash
# serve_bench.sh - what continuous batching buys: `aio serve` under concurrent load.
#
#   bench/serve_bench.sh [-m MODEL.gguf] [--aio PATH] [--levels "1 2 4 8 16"] [--max-tokens N]
#                        [--requests-per-stream N] [-t THREADS] [--json]
#
# Runs the server twice on a free loopback port - batched (--parallel = the highest level) and
# one at a time (--parallel 1) - and drives each with bench/serve_load.mjs at every concurrency
# level: C streams, each sending requests back to back (C x requests-per-stream requests in all,
# greedy, max-tokens each). Prints output tokens/s and p50/p99 latency per level and mode, and
# the batched speedup over one stream; --json prints one JSON object instead. The servers are
# killed on every way out. Default model: models/aio-large.gguf.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AIO=$ROOT/build/aio
MODEL=$ROOT/models/aio-large.gguf
LEVELS="1 2 4 8 16"
MAX_TOKENS=64
PER_STREAM=2
THREADS=0
JSON=0
while [ $# -gt 0 ]; do
  case $1 in
    -m|--model) MODEL=$2; shift ;;
    --aio) AIO=$2; shift ;;
    --levels) LEVELS=$2; shift ;;
    --max-tokens) MAX_TOKENS=$2; shift ;;
    --requests-per-stream) PER_STREAM=$2; shift ;;
    -t|--threads) THREADS=$2; shift ;;
    --json) JSON=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "serve_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$AIO" ] || { echo "serve_bench.sh: $AIO not built (cmake --build build)" >&2; exit 1; }
[ -f "$MODEL" ] || { echo "serve_bench.sh: $MODEL not found" >&2; exit 1; }
command -v node >/dev/null && command -v curl >/dev/null || { echo "serve_bench.sh: needs node (18+) and curl" >&2; exit 1; }
MAX_LEVEL=$(for l in $LEVELS; do echo "$l"; done | sort -n | tail -1)

PID=
LOG=$(mktemp)
cleanup() {
  [ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
  rm -f "$LOG"
}
trap cleanup EXIT

start_server() { # $1: slots
  : >"$LOG"
  "$AIO" serve -m "$MODEL" --port 0 -t "$THREADS" --parallel "$1" --max-queue 256 --quiet >"$LOG" 2>&1 &
  PID=$!
  PORT=
  for _ in $(seq 1 300); do
    PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG")
    if [ -n "$PORT" ]; then # the served model's name, as requests must give it
      NAME=$(curl -s "http://127.0.0.1:$PORT/v1/models" | sed -n 's/.*"data":\[{"id":"\([^"]*\)".*/\1/p')
      return 0
    fi
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "serve_bench.sh: the server did not start:" >&2
  cat "$LOG" >&2
  exit 1
}

stop_server() {
  kill -TERM "$PID"
  wait "$PID" || true
  PID=
}

RESULTS=()
for mode in batched single; do
  slots=$([ "$mode" = batched ] && echo "$MAX_LEVEL" || echo 1)
  start_server "$slots"
  # One short request first so that page faults and thread start-up are not measured.
  node "$ROOT/bench/serve_load.mjs" --url "http://127.0.0.1:$PORT" --model "$NAME" --concurrency 1 \
    --requests 1 --max-tokens 8 >/dev/null
  for c in $LEVELS; do
    line=$(node "$ROOT/bench/serve_load.mjs" --url "http://127.0.0.1:$PORT" --model "$NAME" --concurrency "$c" \
      --requests $((c * PER_STREAM)) --max-tokens "$MAX_TOKENS")
    RESULTS+=("{\"mode\":\"$mode\",\"slots\":$slots,${line#\{}")
    [ "$JSON" = 1 ] || echo "$mode $line" >&2
  done
  stop_server
done

ALL=$(IFS=,; echo "[${RESULTS[*]}]")
node - "$ALL" "$NAME" "$MAX_TOKENS" "$JSON" <<'EOF'
const [all, model, maxTokens, json] = process.argv.slice(2);
const rows = JSON.parse(all);
const base = rows.find((r) => r.mode === 'batched' && r.concurrency === 1);
const tps = (mode, c) => (rows.find((r) => r.mode === mode && r.concurrency === c) || {}).tokens_per_second;
for (const r of rows) r.speedup_vs_1_stream = base ? +(r.tokens_per_second / base.tokens_per_second).toFixed(2) : null;
if (json === '1') {
  console.log(JSON.stringify({ bench: 'serve', model, max_tokens: +maxTokens, results: rows }));
} else {
  console.log(`aio serve, model ${model}, ${maxTokens} tokens per request (greedy), streams sending back to back\n`);
  console.log('| mode | slots | streams | requests | output tok/s | x 1 stream | p50 latency s | p99 latency s | p50 TTFT s |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(`| ${r.mode} | ${r.slots} | ${r.concurrency} | ${r.requests} | ${r.tokens_per_second} | ` +
      `${r.speedup_vs_1_stream} | ${r.latency_p50} | ${r.latency_p99} | ${r.ttft_p50} |`);
  const b8 = tps('batched', 8), s8 = tps('single', 8);
  if (b8 && base) console.log(`\nbatched, 8 streams: ${(b8 / base.tokens_per_second).toFixed(2)}x the tokens/s of 1 stream` +
    (s8 ? `; ${(b8 / s8).toFixed(2)}x one-at-a-time serving at 8 streams` : ''));
}
EOF
