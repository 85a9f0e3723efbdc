#!/usr/bin/env bash
# eval_test.sh AIO - the committed default family loads and `aio eval` on a slice of each task
# file reproduces the accuracies and chat perplexity recorded in models/EVAL.json (within the
# stated bounds: greedy decoding is deterministic, the bounds absorb another CPU's rounding).
set -u
AIO=$1
[ -f models/aio-small.gguf ] && [ -f models/aio-large.gguf ] && [ -f models/EVAL.json ] || { echo "no default family"; exit 77; }
command -v node >/dev/null || { echo "node absent"; exit 77; }
pass=0; fail=0
for m in aio-small aio-large; do
  out=$("$AIO" eval -m "models/$m.gguf" --limit 10 --json 2>/dev/null)
  if node -e '
    const got = JSON.parse(process.argv[1]), ref = JSON.parse(require("fs").readFileSync("models/EVAL.json"))[process.argv[2]];
    let bad = [];
    for (const c of ["code", "math", "qa"]) {
      const d = Math.abs(got.categories[c].accuracy - ref[c].accuracy);
      if (d > ref.accuracy_bound) bad.push(`${c} accuracy ${got.categories[c].accuracy} vs ${ref[c].accuracy}`);
    }
    const p = got.categories.chat.perplexity, r = ref.chat.perplexity;
    if (Math.abs(p - r) / r > ref.perplexity_bound) bad.push(`chat perplexity ${p} vs ${r}`);
    if (bad.length) { console.error(process.argv[2] + ": " + bad.join("; ")); process.exit(1); }
  ' "$out" "$m"; then pass=$((pass+1)); else fail=$((fail+1)); fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
