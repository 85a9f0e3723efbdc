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
  AION_PROFILE="$TMP/profile.json" expect 0 "aio-small" -- "$AIO" pool
  AION_PROFILE="$TMP/profile.json" expect 2 "" -- "$AIO" run "x" --model
  AION_PROFILE="$TMP/profile.json" expect 1 "memory budget" -- "$AIO" run "x" --mem-budget 1
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
