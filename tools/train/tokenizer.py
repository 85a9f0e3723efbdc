#!/usr/bin/python3
"""tokenizer.py - train A-IO's one SentencePiece BPE tokenizer (vocab 4096), then
tokenize the corpus into uint16 streams per category/split (BOS doc EOS ...)."""
import argparse
import json
import os

import numpy as np
import sentencepiece as spm

SPECIALS = ["<probe>", "<label>", "<code>", "<math>", "<qa>", "<chat>"]
CATS = ["code", "math", "qa", "chat"]


def train(raw, out, vocab):
    spm.SentencePieceTrainer.train(
        input=os.path.join(raw, "spm_input.txt"), model_prefix=os.path.join(out, "aio"),
        model_type="bpe", vocab_size=vocab, byte_fallback=True, split_digits=True,
        user_defined_symbols=SPECIALS, allow_whitespace_only_pieces=True,
        remove_extra_whitespaces=False, normalization_rule_name="identity", add_dummy_prefix=True,
        character_coverage=0.9995, input_sentence_size=400000, shuffle_input_sentence=True,
        max_sentence_length=8192, num_threads=2, seed_sentencepiece_size=400000,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, train_extremely_large_corpus=False)


def encode_docs(sp, path):
    texts = [json.loads(l)["t"] for l in open(path)]
    ids = sp.encode(texts)
    n = sum(len(x) + 2 for x in ids)
    arr = np.empty(n, dtype=np.uint16)
    i = 0
    for x in ids:
        arr[i] = sp.bos_id(); arr[i + 1:i + 1 + len(x)] = x; arr[i + 1 + len(x)] = sp.eos_id()
        i += len(x) + 2
    return arr


def probe_ids(sp, prompt, cat):
    """BOS <probe> encode(prompt) <label> <cat> EOS: the engine must build the same sequence
    (prompt tokenized alone, with the usual dummy-prefix space)."""
    return ([sp.bos_id(), sp.piece_to_id("<probe>")] + sp.encode(prompt) +
            [sp.piece_to_id("<label>"), sp.piece_to_id("<" + cat + ">"), sp.eos_id()])


def tokenize(raw, out):
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, "aio.model"))
    stats = {}
    for cat in CATS:
        for split in ["train", "val"]:
            arr = encode_docs(sp, os.path.join(raw, "%s.%s.jsonl" % (cat, split)))
            arr.tofile(os.path.join(out, "%s.%s.bin" % (cat, split)))
            stats["%s.%s" % (cat, split)] = int(len(arr))
    seq = []
    for l in open(os.path.join(raw, "probe.train.jsonl")):
        r = json.loads(l)
        seq.extend(probe_ids(sp, r["p"], r["c"]))
    np.array(seq, dtype=np.uint16).tofile(os.path.join(out, "probe.train.bin"))
    stats["probe.train"] = len(seq)
    json.dump(stats, open(os.path.join(out, "tokens.json"), "w"), indent=1)
    print(stats)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", default="/work/train-data/raw")
    ap.add_argument("--out", default="/work/train-data/tok")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--keep-model", action="store_true",
                    help="re-tokenize with the existing aio.model (the shipped family's vocabulary)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    if not (a.keep_model and os.path.exists(os.path.join(a.out, "aio.model"))):
        train(a.raw, a.out, a.vocab)
    tokenize(a.raw, a.out)
