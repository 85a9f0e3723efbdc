// tokenize_cli.mjs AIO VOCAB_DIR NAME - `aio tokenize` itself reproduces llama.cpp's vectors:
// every input of ggml-vocab-NAME.gguf.inp goes through the command (-f FILE --no-bos), and its
// one output line must equal the matching line of the .out file.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [aio, dir, name] = process.argv.slice(2);
const base = join(dir, `ggml-vocab-${name}.gguf`);
if (!existsSync(base) || !existsSync(base + ".inp")) { console.log(`${name}: no vectors, skipped`); process.exit(77); }
const inputs = readFileSync(base + ".inp", "utf8").split("\n__ggml_vocab_test__\n");
const expected = readFileSync(base + ".out", "utf8").split("\n");
const tmp = mkdtempSync(join(tmpdir(), "aion-tok-"));
let pass = 0, fail = 0;
inputs.forEach((text, i) => {
  if (i >= expected.length || (text === "" && i === inputs.length - 1)) return;
  const file = join(tmp, "in.txt");
  writeFileSync(file, text);
  const got = execFileSync(aio, ["tokenize", "-m", base, "-f", file, "--no-bos"], { encoding: "utf8" }).trim();
  if (got === expected[i].trim()) pass++;
  else { fail++; console.error(`${name} input ${i}: got [${got}] want [${expected[i].trim()}]`); }
});
rmSync(tmp, { recursive: true });
console.log(`${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);
