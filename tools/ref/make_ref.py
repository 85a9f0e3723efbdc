#!/usr/bin/python3
"""make_ref.py - the outside reference for the engine's logits.

Builds tiny random-weight models (arch llama and qwen2, one GGUF per weight type f32, f16,
bf16, q8_0, q4_0) with tools/gguf.py's Writer, reads every file back with gguf.Reader and runs
a plain PyTorch float64 forward over the DEQUANTIZED weights, so the stored logits measure the
engine's forward pass and not the quantization of the weights (the engine's own rounding of
activations to Q8_0 blocks for the quantized types is still part of what is measured).

Deterministic: fixed seeds; the base float weights of an arch are the same for all five types.
Run from the repository root with Debian's python (torch + numpy):

    /usr/bin/python3 tools/ref/make_ref.py [out_dir]      # default tests/data/ref

Writes out_dir/<arch>-<type>.gguf and out_dir/<arch>-<type>.ref. Layout of a .ref file (all
little-endian):

    char    magic[8]   "AIOREF01"
    int32   n_vocab
    int32   n_prompts
    then n_prompts times:
      int32   n_tokens
      float32 max_abs                     max |logit| over the prompt's rows (for scale)
      int32   tokens[n_tokens]
      float32 logits[n_tokens][n_vocab]   row i: full causal forward of tokens[0..i], positions 0..i

The model conventions the reference implements (the GGUF/llama.cpp ones):
  RMSNorm   x / sqrt(mean(x^2) + eps) * w
  RoPE      llama: "normal", adjacent pairs (x[2i], x[2i+1]);
            qwen2: NEOX, pairs (x[i], x[i + head_dim/2]);
            angle pos * base^(-2i/head_dim); (a, b) -> (a cos - b sin, a sin + b cos)
  attention causal softmax(q.k / sqrt(head_dim)), GQA: query head h reads kv head h / (n_head/n_head_kv)
  FFN       down(silu(gate(x)) * up(x)), residual around attention and FFN
  logits    output(output_norm(x)); qwen2 ties output to token_embd (no output.weight)
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import gguf  # noqa: E402

TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0"]
FTYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q8_0": 7, "bf16": 32}  # llama.cpp's general.file_type

HP = {
    "n_vocab": 300,
    "n_ctx": 64,
    "n_embd": 64,
    "n_layer": 2,
    "n_head": 4,
    "n_head_kv": 2,
    "n_ff": 160,
}

ARCHS = {
    "llama": {"seed": 1234, "rope_base": 10000.0, "eps": 1e-5, "neox": False, "bias": False, "tied": False},
    "qwen2": {"seed": 5678, "rope_base": 1000000.0, "eps": 1e-6, "neox": True, "bias": True, "tied": True},
}

PROMPT_LENS = [20, 13]


# ---------------------------------------------------------------- tokenizer
def vocab(n_vocab):
    toks = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    pieces = ["\u2581", "e", "t", "a", "o", "i", "n", "s", "h", "r", "d", "l", "u",
              "\u2581t", "\u2581a", "th", "he", "\u2581th", "\u2581the", "in", "er", "an",
              "\u2581o", "\u2581of", "\u2581i", "\u2581in", "\u2581s", "on", "re", "at", "en",
              "\u2581w", "nd", "\u2581an", "\u2581and", "\u2581to", "\u2581is", "es", "or",
              "\u2581h", "\u2581he", "ed", "it", "\u2581it", "ou", "\u2581we"]
    extra = 0
    while len(toks) < n_vocab:
        if pieces:
            toks.append(pieces.pop(0))
        else:
            toks.append("\u2581w%d" % extra)
            extra += 1
        types.append(1)
    toks, types = toks[:n_vocab], types[:n_vocab]
    # SentencePiece scores: longer pieces merge first; byte/control tokens score 0.
    scores = [0.0 if t != 1 else -float(i) / 100.0 + len(s) for i, (s, t) in enumerate(zip(toks, types))]
    return toks, scores, types


# ---------------------------------------------------------------- weights
def make_weights(arch, cfg):
    rng = np.random.default_rng(cfg["seed"])
    E, L, V, F = HP["n_embd"], HP["n_layer"], HP["n_vocab"], HP["n_ff"]
    hd = E // HP["n_head"]
    kv = hd * HP["n_head_kv"]

    def mat(rows, cols, scale):
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    def norm_w(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    w = {"token_embd.weight": mat(V, E, 0.5)}
    for i in range(L):
        p = "blk.%d." % i
        w[p + "attn_norm.weight"] = norm_w(E)
        w[p + "attn_q.weight"] = mat(E, E, 1.5 / np.sqrt(E))
        w[p + "attn_k.weight"] = mat(kv, E, 1.5 / np.sqrt(E))
        w[p + "attn_v.weight"] = mat(kv, E, 1.0 / np.sqrt(E))
        if cfg["bias"]:
            w[p + "attn_q.bias"] = (0.3 * rng.standard_normal(E)).astype(np.float32)
            w[p + "attn_k.bias"] = (0.5 * rng.standard_normal(kv)).astype(np.float32)
            w[p + "attn_v.bias"] = (0.2 * rng.standard_normal(kv)).astype(np.float32)
        w[p + "attn_output.weight"] = mat(E, E, 1.0 / np.sqrt(E))
        w[p + "ffn_norm.weight"] = norm_w(E)
        w[p + "ffn_gate.weight"] = mat(F, E, 1.0 / np.sqrt(E))
        w[p + "ffn_up.weight"] = mat(F, E, 1.0 / np.sqrt(E))
        w[p + "ffn_down.weight"] = mat(E, F, 1.0 / np.sqrt(F))
    w["output_norm.weight"] = norm_w(E)
    if not cfg["tied"]:
        w["output.weight"] = mat(V, E, 3.0 / np.sqrt(E))
    return w


def write_model(path, arch, cfg, weights, tname):
    wr = gguf.Writer()
    wr.add("general.architecture", gguf.STRING, arch)
    wr.add("general.name", gguf.STRING, "ref-%s-%s" % (arch, tname))
    wr.add("general.file_type", gguf.UINT32, FTYPE[tname])
    hd = HP["n_embd"] // HP["n_head"]
    a = arch + "."
    wr.add(a + "context_length", gguf.UINT32, HP["n_ctx"])
    wr.add(a + "embedding_length", gguf.UINT32, HP["n_embd"])
    wr.add(a + "block_count", gguf.UINT32, HP["n_layer"])
    wr.add(a + "feed_forward_length", gguf.UINT32, HP["n_ff"])
    wr.add(a + "attention.head_count", gguf.UINT32, HP["n_head"])
    wr.add(a + "attention.head_count_kv", gguf.UINT32, HP["n_head_kv"])
    wr.add(a + "rope.freq_base", gguf.FLOAT32, cfg["rope_base"])
    wr.add(a + "rope.dimension_count", gguf.UINT32, hd)
    wr.add(a + "attention.layer_norm_rms_epsilon", gguf.FLOAT32, cfg["eps"])
    toks, scores, types = vocab(HP["n_vocab"])
    wr.add("tokenizer.ggml.model", gguf.STRING, "llama")
    wr.add_array("tokenizer.ggml.tokens", gguf.STRING, toks)
    wr.add_array("tokenizer.ggml.scores", gguf.FLOAT32, scores)
    wr.add_array("tokenizer.ggml.token_type", gguf.INT32, types)
    wr.add("tokenizer.ggml.bos_token_id", gguf.UINT32, 1)
    wr.add("tokenizer.ggml.eos_token_id", gguf.UINT32, 2)
    wr.add("tokenizer.ggml.unknown_token_id", gguf.UINT32, 0)
    wr.add("tokenizer.ggml.add_bos_token", gguf.BOOL, True)
    wr.add("tokenizer.ggml.add_eos_token", gguf.BOOL, False)
    for name, arr in weights.items():
        wr.add_tensor(name, arr, tname if arr.ndim == 2 else "f32")
    wr.write(path)


# ---------------------------------------------------------------- reference forward (float64)
def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * w


def rope(x, base, neox):
    """x: (n_tok, n_heads, hd), position of row t is t."""
    n, _, hd = x.shape
    half = hd // 2
    inv = base ** (-torch.arange(0, half, dtype=torch.float64) * 2.0 / hd)  # (half,)
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]    # (n, half)
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    if neox:
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * c - b * s, a * s + b * c], dim=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * c - b * s
    out[..., 1::2] = a * s + b * c
    return out


def act_q8(x):
    """The engine's activation rounding for q8_0/q4_0 weights (diagnostics only): each row cut
    in blocks of 32, d = absmax/127 (float32), q = roundf(x/d) clamped to [-127, 127], x = q*d."""
    xf = x.numpy().astype(np.float32)
    b = xf.reshape(-1, 32)
    d = (np.abs(b).max(axis=1) / np.float32(127)).astype(np.float32)
    inv = np.where(d != 0, np.float32(1) / np.where(d != 0, d, 1), 0).astype(np.float32)
    q = np.clip(gguf._round_away(b * inv[:, None]), -127, 127)
    return torch.from_numpy((q.astype(np.float64) * d.astype(np.float64)[:, None]).reshape(x.shape))


def forward(rd, arch, cfg, tokens, sim_act_q8=False):
    kvs = rd.kv
    a = arch + "."
    E = int(kvs[a + "embedding_length"])
    L = int(kvs[a + "block_count"])
    nh = int(kvs[a + "attention.head_count"])
    nkv = int(kvs[a + "attention.head_count_kv"])
    eps = float(kvs[a + "attention.layer_norm_rms_epsilon"])
    base = float(kvs[a + "rope.freq_base"])
    hd = E // nh
    T = lambda name: torch.from_numpy(rd.tensor(name).astype(np.float64))  # noqa: E731
    has = lambda name: name in rd.infos  # noqa: E731

    def mm(x, name):  # x @ W^T, W as stored
        if sim_act_q8 and rd.tensor_type(name) in ("q8_0", "q4_0"):
            x = act_q8(x)
        return x @ T(name).T

    emb = T("token_embd.weight")
    x = emb[torch.tensor(tokens, dtype=torch.long)]
    n = x.shape[0]
    mask = torch.triu(torch.full((n, n), float("-inf"), dtype=torch.float64), diagonal=1)
    for i in range(L):
        p = "blk.%d." % i
        h = rms_norm(x, T(p + "attn_norm.weight"), eps)
        q = mm(h, p + "attn_q.weight")
        k = mm(h, p + "attn_k.weight")
        v = mm(h, p + "attn_v.weight")
        if has(p + "attn_q.bias"):
            q = q + T(p + "attn_q.bias")
            k = k + T(p + "attn_k.bias")
            v = v + T(p + "attn_v.bias")
        q = rope(q.reshape(n, nh, hd), base, cfg["neox"])
        k = rope(k.reshape(n, nkv, hd), base, cfg["neox"])
        v = v.reshape(n, nkv, hd)
        grp = nh // nkv
        outs = []
        for hh in range(nh):
            kh = hh // grp
            s = (q[:, hh, :] @ k[:, kh, :].T) / np.sqrt(hd) + mask
            outs.append(torch.softmax(s, dim=-1) @ v[:, kh, :])
        att = torch.cat(outs, dim=-1)
        x = x + mm(att, p + "attn_output.weight")
        h = rms_norm(x, T(p + "ffn_norm.weight"), eps)
        g = mm(h, p + "ffn_gate.weight")
        u = mm(h, p + "ffn_up.weight")
        x = x + mm(torch.nn.functional.silu(g) * u, p + "ffn_down.weight")
    h = rms_norm(x, T("output_norm.weight"), eps)
    return mm(h, "output.weight" if has("output.weight") else "token_embd.weight").numpy()


def write_ref(path, n_vocab, prompts, logits):
    with open(path, "wb") as f:
        f.write(b"AIOREF01")
        f.write(np.array([n_vocab, len(prompts)], dtype="<i4").tobytes())
        for toks, lg in zip(prompts, logits):
            lg32 = lg.astype("<f4")
            f.write(np.array([len(toks)], dtype="<i4").tobytes())
            f.write(np.array([np.abs(lg32).max()], dtype="<f4").tobytes())
            f.write(np.array(toks, dtype="<i4").tobytes())
            f.write(lg32.tobytes())


def main():
    torch.set_num_threads(1)
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join("tests", "data", "ref")
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    for arch, cfg in ARCHS.items():
        weights = make_weights(arch, cfg)
        prng = np.random.default_rng(cfg["seed"] + 1)
        prompts = []
        for n in PROMPT_LENS:
            toks = [1] + [int(t) for t in prng.integers(3, HP["n_vocab"], size=n - 1)]
            prompts.append(toks)
        for tname in TYPES:
            stem = os.path.join(out_dir, "%s-%s" % (arch, tname))
            write_model(stem + ".gguf", arch, cfg, weights, tname)
            rd = gguf.Reader(stem + ".gguf")
            logits = [forward(rd, arch, cfg, toks) for toks in prompts]
            # Self-check: causal forward of a prefix gives the same rows.
            pre = forward(rd, arch, cfg, prompts[0][:7])
            assert np.abs(pre - logits[0][:7]).max() < 1e-9
            write_ref(stem + ".ref", HP["n_vocab"], prompts, logits)
            sz = os.path.getsize(stem + ".gguf") + os.path.getsize(stem + ".ref")
            total += sz
            print("%-12s max|logit| %7.3f  std %6.3f  files %7d bytes" %
                  ("%s-%s" % (arch, tname), max(np.abs(l).max() for l in logits),
                   np.std(logits[0]), sz))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
