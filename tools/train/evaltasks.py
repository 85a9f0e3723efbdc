#!/usr/bin/python3
"""evaltasks.py - score GGUF models on bench/tasks with the PyTorch reference.

Per category: mean NLL of the answer tokens given the prompt, and greedy exact match
(all answer tokens are the argmax under teacher forcing == greedy decoding reproduces
the answer; math and qa answers follow a space: "A: 95"). Probe accuracy: BOS <probe>
prompt <label> -> argmax over <code> <math> <qa> <chat>. With two models, also the
greedy agreement of the first on the second's argmax tokens over held-out text
(a proxy for speculative-decoding acceptance).
usage: evaltasks.py MODEL.gguf [MODEL2.gguf] [--json out.json]"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export import model_from_gguf, DEFAULT_TOK  # noqa: E402

CATS = ["code", "math", "qa", "chat"]
TASKS = os.path.join(HERE, "..", "..", "bench", "tasks")


def load_tasks(sp):
    out = {}
    for c in CATS:
        rows = [json.loads(l) for l in open(os.path.join(TASKS, c + ".jsonl"))]
        items = []
        for r in rows:
            sep = " " if c in ("math", "qa") else ""
            p = [sp.bos_id()] + sp.encode(r["prompt"])
            full = [sp.bos_id()] + sp.encode(r["prompt"] + sep + r["answer"])
            if full[:len(p)] != p:
                continue
            full = full[-512:]
            n_ans = len(full) - len(p) if len(full) - len(p) < len(full) else len(full) - 1
            items.append((full, n_ans, r))
        out[c] = items
    return out


@torch.no_grad()
def score(model, tasks, sp):
    res = {}
    for c, items in tasks.items():
        nll, ntok, exact = 0.0, 0, 0
        for full, n_ans, r in items:
            x = torch.tensor([full])
            lg = model(x[:, :-1])[0].float()
            tgt = x[0, 1:]
            lg, tgt = lg[-n_ans:], tgt[-n_ans:]
            nll += F.cross_entropy(lg, tgt, reduction="sum").item()
            ntok += n_ans
            exact += int(bool((lg.argmax(-1) == tgt).all()))
        res[c] = {"n": len(items), "answer_nll_per_token": round(nll / max(1, ntok), 4),
                  "greedy_exact": round(exact / max(1, len(items)), 4)}
    labels = [sp.piece_to_id("<%s>" % c) for c in CATS]
    correct, total = 0, 0
    for c, items in tasks.items():
        for _, _, r in items:
            ids = ([sp.bos_id(), sp.piece_to_id("<probe>")] + sp.encode(r["prompt"]) + [sp.piece_to_id("<label>")])[-512:]
            lg = model(torch.tensor([ids]))[0, -1].float()
            correct += int(CATS[int(lg[labels].argmax())] == c)
            total += 1
    res["probe_acc"] = round(correct / total, 4)
    return res


@torch.no_grad()
def agreement(m1, m2, n=6):
    out = {}
    for c in CATS:
        arr = np.fromfile("/work/train-data/tok/%s.val.bin" % c, dtype=np.uint16)
        rng = np.random.default_rng(3)
        offs = rng.integers(0, len(arr) - 513, size=n)
        x = torch.from_numpy(np.stack([arr[o:o + 512] for o in offs]).astype(np.int64))
        a = m1(x).argmax(-1)
        b = m2(x).argmax(-1)
        out[c] = round(float((a == b).float().mean()), 4)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--tok", default=DEFAULT_TOK)
    ap.add_argument("--json", default="")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=a.tok)
    tasks = load_tasks(sp)
    report = {}
    ms = []
    for path in a.models:
        m, _ = model_from_gguf(path)
        ms.append(m)
        report[os.path.basename(path)] = score(m, tasks, sp)
        print(os.path.basename(path), json.dumps(report[os.path.basename(path)]), flush=True)
    if len(ms) == 2:
        report["greedy_agreement_first_vs_second"] = agreement(ms[0], ms[1])
        print("agreement", json.dumps(report["greedy_agreement_first_vs_second"]))
    if a.json:
        json.dump(report, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
