#!/usr/bin/env bash
# cli_test.sh AIO - the aio program as a user meets it: exit codes, messages, output shapes.
# Run from the repository root by ctest (tests/cli.cmake).
set -u
AIO=$1
pass=0; fail=0
ok()   { pass=$((pass+1)); }
bad()  { fail=$((fail+1)); echo "FAIL: $*" >&2; }
expect() { # expect CODE PATTERN -- command...
  local code=$1 pat=$2; shift 3
  local out; out=$("$@" 2>&1); local rc=$?
  if [ "$rc" -ne "$code" ]; then bad "$* exited $rc, expected $code: $out"; return; fi
  if [ -n "$pat" ] && ! grep -qE -- "$pat" <<<"$out"; then bad "$* output lacks /$pat/: $out"; return; fi
  ok
}
REF=tests/data/ref/llama-f32.gguf
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

expect 2 "usage" -- "$AIO"
expect 2 "unknown command" -- "$AIO" frobnicate
expect 0 "architecture +llama" -- "$AIO" info "$REF"
expect 0 "architecture +qwen2" -- "$AIO" info tests/data/ref/qwen2-q4_0.gguf
expect 1 "cannot open|No such file" -- "$AIO" info "$TMP/missing.gguf"
expect 2 "expects an integer" -- "$AIO" run -m "$REF" -p hi -n many
expect 2 "unknown strategy" -- "$AIO" run -m "$REF" -p hi --strategy warp
expect 0 "generated: 8 tokens" -- "$AIO" run -m "$REF" -p "the cat" -n 8 --temp 0
# a prompt longer than the context is refused before any work
head -c 3000 /dev/zero | tr '\0' 'a' > "$TMP/long.txt"
expect 1 "context holds 64" -- "$AIO" run -m "$REF" -f "$TMP/long.txt" -n 4
# --json is one parseable object with the figures
out=$("$AIO" run -m "$REF" -p "the cat" -n 6 --temp 0 --json 2>/dev/null)
if node -e 'const j=JSON.parse(process.argv[1]); if(!(j.generated_tokens===6 && j.tokens.length===6 && j.decode.rounds>0 && "weight_bytes_read" in j)) process.exit(1)' "$out" 2>/dev/null \
   || python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["generated_tokens"]==6 and len(j["tokens"])==6' "$out" 2>/dev/null; then ok; else bad "run --json: $out"; fi
# strategies are lossless from the command line too
a=$("$AIO" run -m "$REF" -p "the cat the cat the" -n 20 --temp 0 --json 2>/dev/null | grep -o '"tokens":\[[^]]*\]')
b=$("$AIO" run -m "$REF" -p "the cat the cat the" -n 20 --temp 0 --json --strategy lookup 2>/dev/null | grep -o '"tokens":\[[^]]*\]')
c=$("$AIO" run -m "$REF" -p "the cat the cat the" -n 20 --temp 0 --json --strategy spec --draft tests/data/ref/llama-q8_0.gguf 2>/dev/null | grep -o '"tokens":\[[^]]*\]')
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ]; then ok; else bad "ar/lookup/spec differ: $a | $b | $c"; fi
# an f16 KV cache from the command line: lossless strategies hold with it too; a bad type is a usage error
expect 2 "--kv expects f32 or f16" -- "$AIO" run -m "$REF" -p hi --kv f8
k1=$("$AIO" run -m "$REF" -p "the cat the cat the" -n 20 --temp 0 --json --kv f16 2>/dev/null | grep -o '"tokens":\[[^]]*\]')
k2=$("$AIO" run -m "$REF" -p "the cat the cat the" -n 20 --temp 0 --json --kv f16 --strategy lookup 2>/dev/null | grep -o '"tokens":\[[^]]*\]')
if [ -n "$k1" ] && [ "$k1" = "$k2" ]; then ok; else bad "--kv f16: ar/lookup differ: $k1 | $k2"; fi
# same seed, same output
s1=$("$AIO" run -m "$REF" -p "the" -n 12 --temp 1 --seed 5 --json 2>/dev/null | grep -o '"tokens":\[[^]]*\]')
s2=$("$AIO" run -m "$REF" -p "the" -n 12 --temp 1 --seed 5 --json 2>/dev/null | grep -o '"tokens":\[[^]]*\]')
[ -n "$s1" ] && [ "$s1" = "$s2" ] && ok || bad "seeded sampling not reproducible"
# perplexity runs and prints an estimate
for i in $(seq 40); do echo "the cat sat on the mat and the dog ran"; done > "$TMP/text.txt"
if "$AIO" serve --help 2>&1 | grep -q chat-template; then expect 1 "unknown chat template frob" -- "$AIO" serve -m "$REF" --port 0 --chat-template frob; fi
expect 0 "Final estimate: PPL = [0-9.]+" -- "$AIO" perplexity -m "$REF" -f "$TMP/text.txt" -c 32
# the embedded family: aio run with no model produces text
if [ -f models/aio-small.gguf ] && [ -f models/aio-large.gguf ]; then
  AION_PROFILE="$TMP/profile.json" expect 0 "routed to aio-" -- "$AIO" run "def add(a, b):" -n 16
  AION_PROFILE="$TMP/profile.json" expect 0 "KV budget" -- "$AIO" pool
  AION_PROFILE="$TMP/profile.json" expect 2 "" -- "$AIO" run "x" --model
  AION_PROFILE="$TMP/profile.json" expect 1 "memory budget" -- "$AIO" run "x" --mem-budget 1
  # calibration writes a profile keyed by machine and model file, for both members
  expect 0 "" -- "$AIO" calibrate --profile "$TMP/calib.json" -t 2
  n=$(grep -o 'aio-small.gguf\|aio-large.gguf' "$TMP/calib.json" 2>/dev/null | sort -u | wc -l)
  [ "$n" -eq 2 ] && ok || bad "calibrate: profile lacks a member: $(head -c 300 "$TMP/calib.json")"
  # an f16 KV cache gets curves of its own beside the f32 ones; an unknown type is a usage error
  expect 0 "KV cache f16" -- "$AIO" calibrate --profile "$TMP/calib.json" -t 2 --kv f16
  n16=$(grep -c 'aio-[a-z]*.gguf | [0-9]* | [0-9]* | kv f16"' "$TMP/calib.json")
  n32=$(grep -c 'aio-[a-z]*.gguf | [0-9]* | [0-9]*"' "$TMP/calib.json")
  [ "$n16" -eq 2 ] && [ "$n32" -eq 2 ] && ok || bad "calibrate --kv f16: $n16 f16 and $n32 f32 entries, expected 2 and 2"
  expect 2 "expects f32 or f16" -- "$AIO" calibrate --profile "$TMP/calib.json" --kv f8
  # the probe names the category of a labelled prompt
  expect 0 "^math \(confidence" -- "$AIO" probe -p "Q: 37+58=? A:"
  # an orchestrated request's --json reports the route and its costs; a pinned one keeps its strategy
  out=$(AION_PROFILE="$TMP/calib.json" "$AIO" run "Q: What is the Debian package zsh? A:" -n 8 --json 2>/dev/null)
  if node -e 'const j=JSON.parse(process.argv[1]); for (const k of ["model","category","confidence","strategy_phases","probe_ms","route_ms","switch_ms","weight_bytes_read"]) if (!(k in j)) { console.error("missing " + k); process.exit(1); } if (j.category !== "qa" || j.model !== "aio-large") process.exit(1)' "$out"; then ok; else bad "orchestrated run --json: $out"; fi
  out=$(AION_PROFILE="$TMP/calib.json" "$AIO" run "def add(a, b):" -n 8 --model aio-large --strategy lookup --json 2>/dev/null)
  if node -e 'const j=JSON.parse(process.argv[1]); if (j.model !== "aio-large" || j.strategy !== "lookup") process.exit(1)' "$out"; then ok; else bad "pinned run --json: $out"; fi
  # the mixed workload: six configurations, a trace line per request each, table, JSON and the Pareto plot
  expect 0 "\| aio-policy \|" -- env AION_PROFILE="$TMP/calib.json" "$AIO" bench mixed -n 8 --max-new 8 --trace "$TMP/trace.jsonl" --out "$TMP/mixed"
  out=$(AION_PROFILE="$TMP/calib.json" "$AIO" bench mixed -n 8 --max-new 8 --json --out "$TMP/mixed" 2>/dev/null)
  if node -e 'const j=JSON.parse(process.argv[1]); const c=["static-small","static-large","large+lookup","large+spec","paper-policy","aio-policy"]; for (const k of c) { const r=j[k] || (j.configs||{})[k]; if (!r || !(r.tokens_per_second > 0) || !("overall_accuracy" in r) || !("probe_overhead_share" in r)) { console.error("bad " + k); process.exit(1); } }' "$out"; then ok; else bad "bench mixed --json: $(head -c 400 <<<"$out")"; fi
  [ "$(wc -l < "$TMP/trace.jsonl")" -eq 48 ] && ok || bad "bench mixed trace: $(wc -l < "$TMP/trace.jsonl") lines, expected 6 x 8"
  [ -s "$TMP/mixed/mixed.md" ] && [ -s "$TMP/mixed/mixed.dat" ] && ok || bad "bench mixed wrote no table/plot data: $(ls "$TMP/mixed")"
  if command -v gnuplot >/dev/null; then [ -s "$TMP/mixed/mixed.png" ] && ok || bad "bench mixed: no plot"; fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
