#!/usr/bin/python3
"""export.py - write a trained A-IO member as GGUF v3 (llama architecture, all F32,
tied embeddings: no output.weight) with the SentencePiece tokenizer embedded, then
verify it: re-read with tools/gguf.Reader, rebuild the torch model from the file and
compare logits, and run an independent numpy llama forward on the file's tensors.

usage: export.py CKPT(model.pt) OUT.gguf NAME [--tok aio.model] [--ref OUT.json] [--verify-only]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
import gguf  # noqa: E402  (tools/gguf.py)
from model import Config, Transformer  # noqa: E402

DEFAULT_TOK = "/work/train-data/tok/aio.model"
SPECIALS = ["<probe>", "<label>", "<code>", "<math>", "<qa>", "<chat>"]


def tokenizer_kv(w, sp_path):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=sp_path)
    n = sp.get_piece_size()
    toks, scores, types = [], [], []
    for i in range(n):
        p = sp.id_to_piece(i)
        toks.append(p)
        scores.append(sp.get_score(i))
        if sp.is_unknown(i):
            t = 2
        elif sp.is_control(i):
            t = 3
        elif sp.is_byte(i):
            t = 6
        elif p in SPECIALS:
            t = 4
        elif sp.is_unused(i):
            t = 5
        else:
            t = 1
        types.append(t)
    w.add("tokenizer.ggml.model", gguf.STRING, "llama")
    w.add_array("tokenizer.ggml.tokens", gguf.STRING, toks)
    w.add_array("tokenizer.ggml.scores", gguf.FLOAT32, scores)
    w.add_array("tokenizer.ggml.token_type", gguf.INT32, types)
    w.add("tokenizer.ggml.bos_token_id", gguf.UINT32, sp.bos_id())
    w.add("tokenizer.ggml.eos_token_id", gguf.UINT32, sp.eos_id())
    w.add("tokenizer.ggml.unknown_token_id", gguf.UINT32, sp.unk_id())
    w.add("tokenizer.ggml.add_bos_token", gguf.BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", gguf.BOOL, False)
    w.add("tokenizer.ggml.add_space_prefix", gguf.BOOL, True)
    # A-IO probe: BOS <probe> tokenize(prompt) <label> -> argmax over the label tokens
    w.add("aio.probe.prefix_token_id", gguf.UINT32, sp.piece_to_id("<probe>"))
    w.add("aio.probe.label_token_id", gguf.UINT32, sp.piece_to_id("<label>"))
    w.add_array("aio.probe.categories", gguf.STRING, ["code", "math", "qa", "chat"])
    w.add_array("aio.probe.category_token_ids", gguf.UINT32,
                [sp.piece_to_id("<%s>" % c) for c in ["code", "math", "qa", "chat"]])


def export_model(model, path, name, sp_path=DEFAULT_TOK, meta=None):
    cfg = model.cfg
    w = gguf.Writer()
    w.add("general.architecture", gguf.STRING, "llama")
    w.add("general.name", gguf.STRING, name)
    w.add("general.file_type", gguf.UINT32, 0)  # ALL_F32
    w.add("llama.vocab_size", gguf.UINT32, cfg.vocab)
    w.add("llama.context_length", gguf.UINT32, cfg.ctx)
    w.add("llama.embedding_length", gguf.UINT32, cfg.dim)
    w.add("llama.block_count", gguf.UINT32, cfg.n_layers)
    w.add("llama.feed_forward_length", gguf.UINT32, cfg.ffn)
    w.add("llama.attention.head_count", gguf.UINT32, cfg.n_heads)
    w.add("llama.attention.head_count_kv", gguf.UINT32, cfg.n_kv)
    w.add("llama.rope.freq_base", gguf.FLOAT32, float(cfg.rope_base))
    w.add("llama.rope.dimension_count", gguf.UINT32, cfg.head_dim)
    w.add("llama.attention.layer_norm_rms_epsilon", gguf.FLOAT32, float(cfg.eps))
    for k, v in (meta or {}).items():
        w.add("aio.train." + k, gguf.UINT64, int(v))
    tokenizer_kv(w, sp_path)
    sd = {k: v.detach().float().cpu().numpy() for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["tok_emb.weight"])
    names = [("attn_norm", "attn_norm.weight"), ("attn_q", "wq.weight"), ("attn_k", "wk.weight"),
             ("attn_v", "wv.weight"), ("attn_output", "wo.weight"), ("ffn_norm", "ffn_norm.weight"),
             ("ffn_gate", "w_gate.weight"), ("ffn_up", "w_up.weight"), ("ffn_down", "w_down.weight")]
    for i in range(cfg.n_layers):
        for g, t in names:
            w.add_tensor("blk.%d.%s.weight" % (i, g), sd["layers.%d.%s" % (i, t)])
    w.add_tensor("output_norm.weight", sd["norm.weight"])
    tmp = path + ".tmp"
    w.write(tmp)
    os.replace(tmp, path)


def model_from_gguf(path):
    r = gguf.Reader(path)
    kv = r.kv
    cfg = Config(vocab=len(kv["tokenizer.ggml.tokens"]), dim=kv["llama.embedding_length"],
                 n_layers=kv["llama.block_count"], n_heads=kv["llama.attention.head_count"],
                 n_kv=kv["llama.attention.head_count_kv"], ffn=kv["llama.feed_forward_length"],
                 ctx=kv["llama.context_length"], eps=kv["llama.attention.layer_norm_rms_epsilon"],
                 rope_base=kv["llama.rope.freq_base"])
    m = Transformer(cfg)
    sd = {"tok_emb.weight": r.tensor("token_embd.weight"), "norm.weight": r.tensor("output_norm.weight")}
    rev = {"attn_norm": "attn_norm.weight", "attn_q": "wq.weight", "attn_k": "wk.weight", "attn_v": "wv.weight",
           "attn_output": "wo.weight", "ffn_norm": "ffn_norm.weight", "ffn_gate": "w_gate.weight",
           "ffn_up": "w_up.weight", "ffn_down": "w_down.weight"}
    for i in range(cfg.n_layers):
        for g, t in rev.items():
            sd["layers.%d.%s" % (i, t)] = r.tensor("blk.%d.%s.weight" % (i, g))
    m.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()})
    m.eval()
    return m, r


def numpy_forward(r, ids):
    """Independent llama forward straight from GGUF tensors (float64), as the C engine computes it."""
    kv = r.kv
    L, H, KV = kv["llama.block_count"], kv["llama.attention.head_count"], kv["llama.attention.head_count_kv"]
    eps, base = kv["llama.attention.layer_norm_rms_epsilon"], kv["llama.rope.freq_base"]
    W = lambda n: r.tensor(n).astype(np.float64)  # noqa: E731
    E = W("token_embd.weight")
    x = E[ids]
    T, D = x.shape
    hd = D // H
    pos = np.arange(T)[:, None]
    theta = pos * base ** (-np.arange(0, hd, 2) / hd)[None, :]
    cos, sin = np.cos(theta), np.sin(theta)

    def rms(v, w):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps) * w

    def rope(v):  # (T, nh, hd): adjacent pairs
        v = v.copy()
        a, b = v[..., 0::2].copy(), v[..., 1::2].copy()
        v[..., 0::2] = a * cos[:, None, :] - b * sin[:, None, :]
        v[..., 1::2] = a * sin[:, None, :] + b * cos[:, None, :]
        return v

    for l in range(L):
        p = "blk.%d." % l
        h = rms(x, W(p + "attn_norm.weight"))
        q = rope((h @ W(p + "attn_q.weight").T).reshape(T, H, hd))
        k = rope((h @ W(p + "attn_k.weight").T).reshape(T, KV, hd))
        v = (h @ W(p + "attn_v.weight").T).reshape(T, KV, hd)
        o = np.zeros((T, H, hd))
        for hh in range(H):
            kh = hh // (H // KV)
            s = q[:, hh] @ k[:, kh].T / np.sqrt(hd)
            s = s + np.triu(np.full((T, T), -np.inf), 1)
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            o[:, hh] = s @ v[:, kh]
        x = x + o.reshape(T, D) @ W(p + "attn_output.weight").T
        h = rms(x, W(p + "ffn_norm.weight"))
        g = h @ W(p + "ffn_gate.weight").T
        u = h @ W(p + "ffn_up.weight").T
        x = x + ((g / (1 + np.exp(-g))) * u) @ W(p + "ffn_down.weight").T
    x = rms(x, W("output_norm.weight"))
    out = W("output.weight") if "output.weight" in r.infos else E
    return x @ out.T


def verify(model, path, sp_path=DEFAULT_TOK, ref=None):
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=sp_path)
    m2, r = model_from_gguf(path)
    prompts = ["def fibonacci(n):\n    if n < 2:\n", "Q: 37+58=? A:", "Q: What is the Debian package zsh? A:",
               "A penny saved is"]
    model = model.float().eval()
    report = {"file": path, "bytes": os.path.getsize(path), "prompts": []}
    maxdiff = 0.0
    with torch.no_grad():
        for p in prompts:
            ids = [sp.bos_id()] + sp.encode(p)
            a = model(torch.tensor([ids]))[0].numpy()
            b = m2(torch.tensor([ids]))[0].numpy()
            c = numpy_forward(r, np.array(ids))
            assert np.array_equal(a, b), "torch logits differ after GGUF round trip"
            d = float(np.abs(a - c).max())
            maxdiff = max(maxdiff, d)
            assert d < 1e-3 * max(1.0, float(np.abs(c).max())), "numpy llama forward differs: %g" % d
            # greedy continuation (reference for the C engine)
            seq = list(ids)
            for _ in range(24):
                lg = m2(torch.tensor([seq]))[0, -1]
                seq.append(int(lg.argmax()))
            report["prompts"].append({"prompt": p, "ids": ids, "last_logits_top5": [
                [int(i), float(a[-1][i])] for i in np.argsort(-a[-1])[:5]],
                "greedy_ids": seq[len(ids):], "greedy_text": sp.decode(seq[len(ids):])})
    report["max_abs_diff_numpy_vs_torch"] = maxdiff
    if ref:
        os.makedirs(os.path.dirname(ref), exist_ok=True)
        json.dump(report, open(ref, "w"), indent=1)
    return report


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("out")
    ap.add_argument("name")
    ap.add_argument("--tok", default=DEFAULT_TOK)
    ap.add_argument("--ref", default="")
    ap.add_argument("--verify-only", action="store_true", help="only verify OUT.gguf (CKPT ignored)")
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    if a.verify_only:
        model, _ = model_from_gguf(a.out)
        rep = verify(model, a.out, a.tok, a.ref or None)
        print(json.dumps({"file": rep["file"], "maxdiff": rep["max_abs_diff_numpy_vs_torch"],
                          "greedy": [(p["prompt"], p["greedy_text"]) for p in rep["prompts"]]}, indent=1))
        return
    st = torch.load(a.ckpt)
    model = Transformer(Config(**st["cfg"]))
    model.load_state_dict(st["model"])
    export_model(model, a.out, a.name, a.tok, meta={"step": st.get("step", 0), "tokens": st.get("tokens", 0)})
    rep = verify(model, a.out, a.tok, a.ref or None)
    print(json.dumps({"file": rep["file"], "bytes": rep["bytes"], "maxdiff": rep["max_abs_diff_numpy_vs_torch"],
                      "greedy": [(p["prompt"], p["greedy_text"]) for p in rep["prompts"]]}, indent=1))


if __name__ == "__main__":
    main()
