#!/usr/bin/env bash
# eval_test.sh AIO - the committed default family loads and `aio eval` on a slice of each task
# file reproduces the accuracies and chat perplexity recorded in models/EVAL.json (within the
# stated bounds: greedy decoding is deterministic, the bounds absorb another CPU's rounding),
# and the slice shows the family's point: the large model knows what the small one does not
# (qa recall and math at least 0.2 above it) and is the better language model (chat perplexity).
set -u
AIO=$1
[ -f models/aio-small.gguf ] && [ -f models/aio-large.gguf ] && [ -f models/EVAL.json ] || { echo "no default family"; exit 77; }
command -v node >/dev/null || { echo "node absent"; exit 77; }
pass=0; fail=0
declare -A got
for m in aio-small aio-large; do
  out=$("$AIO" eval -m "models/$m.gguf" --limit 20 --json 2>/dev/null)
  got[$m]=$out
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
if node -e '
  const s = JSON.parse(process.argv[1]).categories, l = JSON.parse(process.argv[2]).categories;
  const bad = [];
  if (!(l.qa.accuracy >= s.qa.accuracy + 0.2)) bad.push(`qa: large ${l.qa.accuracy} vs small ${s.qa.accuracy}`);
  if (!(l.math.accuracy >= s.math.accuracy + 0.2)) bad.push(`math: large ${l.math.accuracy} vs small ${s.math.accuracy}`);
  if (!(l.chat.perplexity < s.chat.perplexity)) bad.push(`chat perplexity: large ${l.chat.perplexity} vs small ${s.chat.perplexity}`);
  if (bad.length) { console.error("no scaling paradox on the slice: " + bad.join("; ")); process.exit(1); }
' "${got[aio-small]}" "${got[aio-large]}"; then pass=$((pass+1)); else fail=$((fail+1)); fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
