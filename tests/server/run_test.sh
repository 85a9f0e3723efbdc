#!/usr/bin/env bash
# run_test.sh AIO [MODEL] - `aio serve` end to end, as ctest server_openai runs it.
#
# Starts the real binary on a free loopback port (--port 0; the port is read from its
# "listening on" line), checks a few answers with curl (health, the API key, a bad body),
# runs the official OpenAI Node client against it (openai_test.mjs), then sends SIGTERM
# while a request is in flight: that request must still be answered in full and the server
# must exit 0. The server is killed on every way out (trap). Exit 77 (skipped) when the
# model or tests/server/node_modules is missing; the curl part has run by then.
set -u
AIO=${1:?usage: run_test.sh AIO [MODEL]}
MODEL=${2:-models/aio-small.gguf}
HERE=$(cd "$(dirname "$0")" && pwd)
KEY=test-key
[ -f "$MODEL" ] || { echo "SKIP: $MODEL not found"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl not installed"; exit 77; }

LOG=$(mktemp)
OUT=$(mktemp)
"$AIO" serve -m "$MODEL" --port 0 -t 2 --parallel 4 --api-key "$KEY" >"$LOG" 2>&1 &
PID=$!
cleanup() {
  kill -KILL "$PID" 2>/dev/null
  rm -f "$LOG" "$OUT"
}
trap cleanup EXIT

PORT=
for _ in $(seq 1 100); do
  PORT=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$LOG")
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$PORT" ]; then
  echo "FAIL: the server did not start"; cat "$LOG"; exit 1
fi
echo "server on port $PORT (pid $PID)"
URL=http://127.0.0.1:$PORT
fail=0

# expect STATUS METHOD PATH [curl args...]: the HTTP status of one request.
expect() {
  local want=$1 method=$2 path=$3
  shift 3
  local got
  got=$(curl -s -o "$OUT" -w '%{http_code}' --max-time 30 -X "$method" "$URL$path" "$@")
  if [ "$got" = "$want" ]; then echo "ok - $method $path -> $got"
  else echo "FAIL - $method $path -> $got (want $want): $(head -c 300 "$OUT")"; fail=1; fi
}
AUTH=(-H "Authorization: Bearer $KEY")
JSON=(-H "Content-Type: application/json")
expect 200 GET /health
expect 401 GET /v1/models
expect 401 GET /v1/models -H "Authorization: Bearer wrong-key"
expect 200 GET /v1/models "${AUTH[@]}"
NAME=$(sed -n 's/.*"data":\[{"id":"\([^"]*\)".*/\1/p' "$OUT") # the served model's name
expect 400 POST /v1/completions "${AUTH[@]}" "${JSON[@]}" -d '{"model": "auto", "prompt": '
expect 400 POST /v1/completions "${AUTH[@]}" "${JSON[@]}" -d '{"model": "auto", "prompt": "hi", "max_tokens": "many"}'
expect 404 POST /v1/completions "${AUTH[@]}" "${JSON[@]}" -d '{"model": "nope", "prompt": "hi"}'
head -c 2000000 /dev/zero | tr '\0' ' ' >"$OUT.big"
expect 413 POST /v1/completions "${AUTH[@]}" "${JSON[@]}" --data-binary @"$OUT.big"
rm -f "$OUT.big"
expect 200 GET /metrics "${AUTH[@]}"

skipped=0
if [ -d "$HERE/node_modules/openai" ] && command -v node >/dev/null; then
  AIO_PORT=$PORT AIO_MODEL=$NAME AIO_API_KEY=$KEY timeout 120 node "$HERE/openai_test.mjs" || fail=1
else
  echo "SKIP: tests/server/node_modules missing (run tests/server/setup.sh): OpenAI client part not run"
  skipped=1
fi

# Drain: a request in flight when SIGTERM arrives is still answered, then the server exits 0.
curl -s -o "$OUT" -w '%{http_code}' --max-time 60 "${AUTH[@]}" "${JSON[@]}" "$URL/v1/completions" \
  -d '{"model": "auto", "prompt": "def main():", "max_tokens": 400, "temperature": 0}' >"$OUT.code" &
CURL=$!
for _ in $(seq 1 50); do # until the request is running
  curl -s --max-time 5 "${AUTH[@]}" "$URL/metrics" | grep -q '^aio_active_slots{.*} [1-9]' && break
  sleep 0.02
done
kill -TERM "$PID"
wait "$CURL"
code=$(cat "$OUT.code"); rm -f "$OUT.code"
if [ "$code" = 200 ] && grep -q '"finish_reason"' "$OUT"; then echo "ok - the request in flight at SIGTERM was answered"
else echo "FAIL - request in flight at SIGTERM: $code $(head -c 300 "$OUT")"; fail=1; fi
rc=
for _ in $(seq 1 150); do
  if ! kill -0 "$PID" 2>/dev/null; then wait "$PID"; rc=$?; break; fi
  sleep 0.1
done
if [ "$rc" = 0 ]; then echo "ok - the server drained and exited 0"
else echo "FAIL - server exit status '${rc:-still running}'"; cat "$LOG"; fail=1; fi

[ "$fail" = 0 ] || exit 1
[ "$skipped" = 0 ] || exit 77
echo "all passed"
