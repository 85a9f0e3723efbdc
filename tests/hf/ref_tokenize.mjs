// ref_tokenize.mjs - the Hugging Face reference ids for test_convert's tokenizer comparison.
//
// Usage: node tests/hf/ref_tokenize.mjs TOKENIZER_DIR < strings.json > ids.json
// Loads TOKENIZER_DIR/tokenizer.json (+ tokenizer_config.json) with @lenml/tokenizers
// (transformers.js's tokenizers, no network), reads a JSON array of strings on stdin and
// prints one JSON array of token-id arrays: each string encoded without added BOS/EOS
// (add_special_tokens: false), special tokens in the text matched as Hugging Face does.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

const dir = process.argv[2];
if (!dir) {
  process.stderr.write("usage: node ref_tokenize.mjs TOKENIZER_DIR < strings.json\n");
  process.exit(2);
}
const readJson = (file) => JSON.parse(readFileSync(join(dir, file), "utf8"));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: readJson("tokenizer.json"),
  tokenizerConfig: existsSync(join(dir, "tokenizer_config.json")) ? readJson("tokenizer_config.json") : {},
});
const texts = JSON.parse(readFileSync(0, "utf8"));
const ids = texts.map((t) => Array.from(tokenizer.encode(t, { add_special_tokens: false })));
process.stdout.write(JSON.stringify(ids) + "\n");
