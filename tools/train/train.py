#!/usr/bin/python3
"""train.py - train one A-IO model member (small or large) on the tokenized corpus.

Resumable: checkpoints (model + optimizer + step + elapsed time) every --ckpt-every
seconds to OUT/ckpt.pt; rerunning the same command continues from there.
Learning-rate schedule: linear warmup, cosine to 10%. Progress is step/--steps when
--steps is given (fully reproducible), otherwise trained-seconds/--budget (the run
stops when its time budget is spent; the step count reached is logged).
Logs: OUT/train.log (text) and OUT/eval.jsonl (held-out loss per category, probe accuracy).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Config, PRESETS, Transformer  # noqa: E402

CATS = ["code", "math", "qa", "chat"]
MIX = {"code": 0.42, "math": 0.15, "qa": 0.26, "chat": 0.11, "probe": 0.06}
PROBE_LABELS = ["<code>", "<math>", "<qa>", "<chat>"]


def status(msg):
    with open("/work/train-data/STATUS.txt", "a") as f:
        f.write(time.strftime("%H:%M:%S ") + msg + "\n")


class Data:
    def __init__(self, tok):
        self.train = {c: np.fromfile(os.path.join(tok, c + ".train.bin"), dtype=np.uint16) for c in CATS}
        self.train["probe"] = np.fromfile(os.path.join(tok, "probe.train.bin"), dtype=np.uint16)
        self.val = {c: np.fromfile(os.path.join(tok, c + ".val.bin"), dtype=np.uint16) for c in CATS}

    def batch(self, step, seed, bs, T):
        rng = np.random.default_rng([seed, step])
        names = list(MIX)
        p = np.array([MIX[n] for n in names])
        cats = rng.choice(len(names), size=bs, p=p / p.sum())
        xs = np.empty((bs, T + 1), dtype=np.int64)
        for i, c in enumerate(cats):
            s = self.train[names[c]]
            o = rng.integers(0, len(s) - T - 1)
            xs[i] = s[o:o + T + 1]
        x = torch.from_numpy(xs)
        return x[:, :-1], x[:, 1:]


def val_windows(arr, n, T, seed):
    rng = np.random.default_rng(seed)
    n = min(n, max(1, (len(arr) - 1) // T))
    offs = rng.choice((len(arr) - T - 1), size=n, replace=False)
    return torch.from_numpy(np.stack([arr[o:o + T + 1] for o in offs]).astype(np.int64))


def load_probe_val(raw, sp_path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=sp_path)
    rows = [json.loads(l) for l in open(os.path.join(raw, "probe.val.jsonl"))]
    seqs = [[sp.bos_id(), sp.piece_to_id("<probe>")] + sp.encode(r["p"]) + [sp.piece_to_id("<label>")] for r in rows]
    labels = [sp.piece_to_id(x) for x in PROBE_LABELS]
    gold = [PROBE_LABELS.index("<" + r["c"] + ">") for r in rows]
    return seqs, labels, gold, [r["c"] for r in rows]


@torch.no_grad()
def evaluate(model, vals, probe, T):
    model.eval()
    out = {}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for name, w in vals.items():
            tot = 0.0
            for i in range(0, len(w), 8):
                b = w[i:i + 8]
                logits = model(b[:, :-1]).float()
                tot += F.cross_entropy(logits.reshape(-1, logits.size(-1)), b[:, 1:].reshape(-1),
                                       reduction="sum").item()
            out[name] = round(tot / (w.size(0) * (w.size(1) - 1)), 4)
        seqs, labels, gold, cats = probe
        correct = {c: [0, 0] for c in CATS}
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        for i in range(0, len(order), 32):
            idx = order[i:i + 32]
            L = min(T, max(len(seqs[j]) for j in idx))
            x = torch.zeros((len(idx), L), dtype=torch.long)
            last = []
            for r, j in enumerate(idx):
                s = seqs[j][-L:] if len(seqs[j]) > L else seqs[j]
                x[r, :len(s)] = torch.tensor(s)
                last.append(len(s) - 1)
            logits = model(x).float()
            for r, j in enumerate(idx):
                pred = int(torch.argmax(logits[r, last[r], labels]))
                correct[cats[j]][1] += 1
                correct[cats[j]][0] += int(pred == gold[j])
        out["probe_acc"] = {c: round(a / max(1, n), 3) for c, (a, n) in correct.items()}
    model.train()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", required=True, choices=list(PRESETS))
    ap.add_argument("--out", required=True)
    ap.add_argument("--tok", default="/work/train-data/tok")
    ap.add_argument("--raw", default="/work/train-data/raw")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bs", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--steps", type=int, default=0, help="fixed step count (reproducible schedule)")
    ap.add_argument("--budget", type=float, default=900, help="training seconds when --steps is 0")
    ap.add_argument("--ckpt-every", type=float, default=180)
    ap.add_argument("--eval-every", type=float, default=240)
    ap.add_argument("--export-at", type=float, nargs="*", default=[], help="progress fractions to export GGUF")
    ap.add_argument("--export-path", default="")
    ap.add_argument("--name", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mix", default="", help="category weights, e.g. code=0.3,math=0.25 (others keep theirs)")
    ap.add_argument("--init", default="", help="start from these weights (model.pt) with a fresh optimizer/schedule")
    a = ap.parse_args()

    for kv in filter(None, a.mix.split(",")):
        k, v = kv.split("=")
        if k not in MIX:
            sys.exit("--mix: unknown category " + k)
        MIX[k] = float(v)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    cfg = PRESETS[a.preset]
    T = cfg.ctx
    model = Transformer(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    nodecay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    step, elapsed, tokens, done_exports = 0, 0.0, 0, []
    ck = os.path.join(a.out, "ckpt.pt")
    if a.init and not os.path.exists(ck):
        model.load_state_dict(torch.load(a.init)["model"])
        print("initialised from " + a.init, flush=True)
    if os.path.exists(ck):
        st = torch.load(ck)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, elapsed, tokens = st["step"], st["elapsed"], st["tokens"]
        done_exports = st.get("done_exports", [])
        if st.get("steps_fixed"):
            a.steps = st["steps_fixed"]
        print("resumed at step %d (%.0fs)" % (step, elapsed), flush=True)
    log = open(os.path.join(a.out, "train.log"), "a")
    evlog = open(os.path.join(a.out, "eval.jsonl"), "a")

    def P(msg):
        print(msg, flush=True)
        log.write(msg + "\n"); log.flush()

    P("config %s params %d args %s" % (json.dumps(cfg.to_dict()), model.n_params(), vars(a)))
    data = Data(a.tok)
    vals = {c: val_windows(data.val[c], 8, T, 7) for c in CATS}
    vals["qa_trainfacts"] = val_windows(data.train["qa"], 8, T, 8)
    probe = load_probe_val(a.raw, os.path.join(a.tok, "aio.model"))

    def save():
        st = {"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed,
              "tokens": tokens, "cfg": cfg.to_dict(), "done_exports": done_exports,
              "steps_fixed": a.steps}
        torch.save(st, ck + ".tmp")
        os.replace(ck + ".tmp", ck)
        torch.save({"model": model.state_dict(), "cfg": cfg.to_dict(), "step": step, "tokens": tokens},
                   os.path.join(a.out, "model.pt.tmp"))
        os.replace(os.path.join(a.out, "model.pt.tmp"), os.path.join(a.out, "model.pt"))

    def progress():
        return step / a.steps if a.steps else elapsed / a.budget

    def do_export(tag):
        if not a.export_path:
            return
        import export
        export.export_model(model, a.export_path, a.name or ("aio-" + a.preset), os.path.join(a.tok, "aio.model"))
        status("%s exported %s at step %d (%s)" % (a.name, a.export_path, step, tag))
        P("exported %s at step %d" % (a.export_path, step))

    last_ck = last_ev = time.time()
    t_log = time.time(); tok_log = 0
    model.train()
    while progress() < 1.0:
        t0 = time.time()
        p = progress()
        if step < a.warmup:
            lr = a.lr * (step + 1) / a.warmup
        else:
            lr = a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = data.batch(step, a.seed, a.bs, T)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, cfg.vocab), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += x.numel()
        tok_log += x.numel()
        elapsed += time.time() - t0
        if step % 20 == 0:
            now = time.time()
            P("step %d loss %.4f lr %.2e tok/s %.0f elapsed %.0fs tokens %d progress %.3f" %
              (step, loss.item(), lr, tok_log / (now - t_log), elapsed, tokens, progress()))
            t_log, tok_log = now, 0
        now = time.time()
        if now - last_ev > a.eval_every:
            ev = evaluate(model, vals, probe, T)
            ev.update(step=step, tokens=tokens, elapsed=round(elapsed))
            evlog.write(json.dumps(ev) + "\n"); evlog.flush()
            P("eval " + json.dumps(ev))
            last_ev = time.time()
        for f in a.export_at:
            if progress() >= f and f not in done_exports:
                done_exports.append(f)
                do_export("progress %.2f" % f)
        if time.time() - last_ck > a.ckpt_every:
            save()
            last_ck = time.time()
            status("%s step %d elapsed %.0fs loss %.3f" % (a.name or a.preset, step, elapsed, loss.item()))
    save()
    ev = evaluate(model, vals, probe, T)
    ev.update(step=step, tokens=tokens, elapsed=round(elapsed), final=True)
    evlog.write(json.dumps(ev) + "\n"); evlog.flush()
    P("final " + json.dumps(ev))
    do_export("final")
    open(os.path.join(a.out, "DONE"), "w").write(json.dumps(ev) + "\n")


if __name__ == "__main__":
    main()
