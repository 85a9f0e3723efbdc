#!/usr/bin/python3
"""export_hf.py - writes one of the tiny reference GGUF models as a Hugging Face model folder.

The folder is the input of `aio convert`'s test: converting it back must give a GGUF whose
logits are identical to the model it came from. So everything here is the Hugging Face form,
written independently of the engine's C code:

  config.json              LlamaForCausalLM or Qwen2ForCausalLM hyper-parameters
  model.safetensors        the weights in HF names and HF layout (llama's q/k rows in the
  (or shards + index)      rotate-half order HF's RoPE expects), the format written by hand
  tokenizer.json           the SentencePiece vocabulary as a byte-fallback BPE, with merges
                           ranked by the pieces' scores (as transformers' LlamaConverter does)
  tokenizer_config.json    special tokens, add_bos, a chat template of the family

Before writing, a float64 forward pass in Hugging Face's conventions (rotate_half RoPE,
repeat_kv GQA) over the exported weights is checked against the reference logits in the
.ref file next to the GGUF, so the layout is proven right without trusting the converter.

    /usr/bin/python3 tools/export_hf.py                  # the committed fixtures in tests/hf/
    /usr/bin/python3 tools/export_hf.py MODEL.gguf OUT_DIR [--shards N] [--dtype f32|f16|bf16]

Deterministic: the same GGUF gives byte-identical files.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf  # noqa: E402

# name -> (source GGUF, safetensors shards, dtype of the matrices)
FIXTURES = {
    "llama-f32": ("llama-f32.gguf", 2, "f32"),
    "qwen2-f16": ("qwen2-f16.gguf", 1, "f16"),
}

ST_DTYPE = {"f32": ("F32", "<f4"), "f16": ("F16", "<f2"), "bf16": ("BF16", None)}

LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}"
    "{% endfor %}")
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")

HF_LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
HF_GLOBAL_NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                   "output.weight": "lm_head.weight"}


def hf_name(name):
    if name in HF_GLOBAL_NAMES:
        return HF_GLOBAL_NAMES[name]
    _, layer, rest = name.split(".", 2)
    return "model.layers.%s.%s" % (layer, HF_LAYER_NAMES[rest])


def f32_repr(x):
    """The shortest decimal that reads back as the same float32 (1e-05, not 9.99999974e-06)."""
    return float(str(np.float32(x)))


def unpermute_rope(w, n_head):
    """GGUF adjacent-pair rows (per head [i][half]) back to HF rotate-half rows ([half][i])."""
    rows, cols = w.shape
    hd = rows // n_head
    return w.reshape(n_head, hd // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)


class Model:
    def __init__(self, path):
        self.rd = gguf.Reader(path)
        kv = self.rd.kv
        self.arch = kv["general.architecture"]
        a = self.arch + "."
        self.n_embd = int(kv[a + "embedding_length"])
        self.n_layer = int(kv[a + "block_count"])
        self.n_ff = int(kv[a + "feed_forward_length"])
        self.n_head = int(kv[a + "attention.head_count"])
        self.n_head_kv = int(kv[a + "attention.head_count_kv"])
        self.n_ctx = int(kv[a + "context_length"])
        self.rope_base = f32_repr(kv[a + "rope.freq_base"])
        self.eps = f32_repr(kv[a + "attention.layer_norm_rms_epsilon"])
        self.tied = "output.weight" not in self.rd.infos
        self.n_vocab = self.rd.infos["token_embd.weight"][0][1]

    def hf_tensors(self):
        """HF name -> (float32 array in HF layout, source GGUF type), in GGUF order."""
        out = {}
        for name in self.rd.infos:
            w = self.rd.tensor(name)
            if self.arch == "llama" and name.endswith(("attn_q.weight", "attn_k.weight")):
                w = unpermute_rope(w, self.n_head if "attn_q" in name else self.n_head_kv)
            out[hf_name(name)] = (np.ascontiguousarray(w, dtype=np.float32), self.rd.tensor_type(name))
        return out

    def config(self, dtype):
        llama = self.arch == "llama"
        cfg = {
            "architectures": ["LlamaForCausalLM" if llama else "Qwen2ForCausalLM"],
            "model_type": self.arch,
            "hidden_size": self.n_embd,
            "intermediate_size": self.n_ff,
            "num_hidden_layers": self.n_layer,
            "num_attention_heads": self.n_head,
            "num_key_value_heads": self.n_head_kv,
            "max_position_embeddings": self.n_ctx,
            "rms_norm_eps": self.eps,
            "rope_theta": self.rope_base,
            "rope_scaling": None,
            "hidden_act": "silu",
            "vocab_size": self.n_vocab,
            "tie_word_embeddings": self.tied,
            "bos_token_id": 1,
            "eos_token_id": 2,
            "torch_dtype": {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}[dtype],
        }
        if llama:
            cfg["attention_bias"] = False
        else:
            cfg.update({"use_sliding_window": False, "sliding_window": self.n_ctx, "max_window_layers": self.n_layer})
        return cfg


# ---------------------------------------------------------------- HF-convention reference forward
def hf_forward(m, w, tokens):
    """float64 forward as transformers' Llama/Qwen2 modules compute it, over HF-layout weights."""
    T = lambda n: w[n][0].astype(np.float64)  # noqa: E731
    E, nh, nkv = m.n_embd, m.n_head, m.n_head_kv
    hd = E // nh
    x = T("model.embed_tokens.weight")[tokens]
    n = len(tokens)
    inv = m.rope_base ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    ang = np.arange(n, dtype=np.float64)[:, None] * inv[None, :]
    emb = np.concatenate([ang, ang], axis=-1)
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]

    def rms(v, g):
        return v / np.sqrt((v * v).mean(-1, keepdims=True) + m.eps) * g

    def rotate_half(v):
        return np.concatenate([-v[..., hd // 2:], v[..., :hd // 2]], axis=-1)

    mask = np.triu(np.full((n, n), -np.inf), 1)
    for i in range(m.n_layer):
        p = "model.layers.%d." % i
        h = rms(x, T(p + "input_layernorm.weight"))
        q, k, v = (h @ T(p + "self_attn.%s_proj.weight" % s).T for s in "qkv")
        if p + "self_attn.q_proj.bias" in w:
            q, k, v = (t + T(p + "self_attn.%s_proj.bias" % s) for t, s in zip((q, k, v), "qkv"))
        q, k, v = q.reshape(n, nh, hd), k.reshape(n, nkv, hd), v.reshape(n, nkv, hd)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        outs = []
        for hh in range(nh):
            kh = hh // (nh // nkv)  # repeat_kv
            s = q[:, hh] @ k[:, kh].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            outs.append((s / s.sum(-1, keepdims=True)) @ v[:, kh])
        x = x + np.concatenate(outs, -1) @ T(p + "self_attn.o_proj.weight").T
        h = rms(x, T(p + "post_attention_layernorm.weight"))
        g, u = h @ T(p + "mlp.gate_proj.weight").T, h @ T(p + "mlp.up_proj.weight").T
        x = x + (g / (1 + np.exp(-g)) * u) @ T(p + "mlp.down_proj.weight").T
    h = rms(x, T("model.norm.weight"))
    out = T("model.embed_tokens.weight") if m.tied else T("lm_head.weight")
    return h @ out.T


def read_ref(path):
    with open(path, "rb") as f:
        buf = f.read()
    assert buf[:8] == b"AIOREF01", path
    n_vocab, n_prompts = struct.unpack_from("<ii", buf, 8)
    pos, prompts = 16, []
    for _ in range(n_prompts):
        (n_tok,) = struct.unpack_from("<i", buf, pos)
        pos += 8
        toks = list(struct.unpack_from("<%di" % n_tok, buf, pos))
        pos += 4 * n_tok
        logits = np.frombuffer(buf, dtype="<f4", count=n_tok * n_vocab, offset=pos).reshape(n_tok, n_vocab)
        pos += 4 * n_tok * n_vocab
        prompts.append((toks, logits))
    return prompts


def self_check(m, w, ref_path):
    for toks, ref in read_ref(ref_path):
        got = hf_forward(m, w, toks)
        err = np.abs(got - ref).max() / np.abs(ref).max()
        if err > 1e-5:
            raise SystemExit("%s: HF-layout forward differs from the reference (rel. error %.3g)" % (ref_path, err))


# ---------------------------------------------------------------- safetensors
def stored(arr, dtype):
    """Matrices in the folder's dtype; 1D tensors (norms, biases) stay F32 as checkpoints keep them.
    Exact when dtype is the GGUF's own type (or wider)."""
    t = dtype if arr.ndim == 2 else "f32"
    if t == "bf16":
        return "BF16", gguf.quantize(arr, "bf16")
    return ST_DTYPE[t][0], np.ascontiguousarray(arr, dtype=ST_DTYPE[t][1]).tobytes()


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, (dt, shape, raw) in tensors.items():
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # the reference writer pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for raw in blobs:
            f.write(raw)


def write_weights(out_dir, w, dtype, n_shards):
    items = []
    for name, (arr, _) in w.items():
        dt, raw = stored(arr, dtype)
        items.append((name, (dt, arr.shape, raw)))
    if n_shards <= 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), dict(items))
        return
    per = -(-len(items) // n_shards)
    weight_map, total = {}, 0
    for s in range(n_shards):
        fname = "model-%05d-of-%05d.safetensors" % (s + 1, n_shards)
        part = dict(items[s * per:(s + 1) * per])
        write_safetensors(os.path.join(out_dir, fname), part)
        for name, (_, _, raw) in part.items():
            weight_map[name] = fname
            total += len(raw)
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------- tokenizer
def spm_merges(tokens, scores, types):
    """Every split of a normal piece into two pieces, best-scored result first (LlamaConverter's order)."""
    ids = {t: i for i, t in enumerate(tokens)}
    merges = []
    for i, (piece, ty) in enumerate(zip(tokens, types)):
        if ty != 1 or len(piece) < 2:
            continue
        for cut in range(1, len(piece)):
            a, b = piece[:cut], piece[cut:]
            if a in ids and b in ids and types[ids[a]] == 1 and types[ids[b]] == 1:
                merges.append((-scores[i], ids[a], ids[b], a, b))
    merges.sort()
    return [[a, b] for _, _, _, a, b in merges]


def tokenizer_json(rd):
    kv = rd.kv
    tokens, scores, types = kv["tokenizer.ggml.tokens"], list(kv["tokenizer.ggml.scores"]), list(kv["tokenizer.ggml.token_type"])
    unk = tokens[int(kv["tokenizer.ggml.unknown_token_id"])]
    bos = tokens[int(kv["tokenizer.ggml.bos_token_id"])]
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, (t, ty) in enumerate(zip(tokens, types)) if ty in (2, 3)]
    sp = "\u2581"
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": sp}, {"type": "Replace", "pattern": {"String": " "}, "content": sp}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {bos: {"id": bos, "ids": [int(kv["tokenizer.ggml.bos_token_id"])],
                                                    "tokens": [bos]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": sp}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": spm_merges(tokens, scores, types)},
    }


def tokenizer_config(rd, arch):
    kv = rd.kv
    tok = lambda key: kv["tokenizer.ggml.tokens"][int(kv[key])]  # noqa: E731
    return {
        "add_bos_token": bool(kv["tokenizer.ggml.add_bos_token"]),
        "add_eos_token": bool(kv["tokenizer.ggml.add_eos_token"]),
        "bos_token": tok("tokenizer.ggml.bos_token_id"),
        "eos_token": tok("tokenizer.ggml.eos_token_id"),
        "unk_token": tok("tokenizer.ggml.unknown_token_id"),
        "chat_template": LLAMA2_TEMPLATE if arch == "llama" else CHATML_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "legacy": True,
        "model_max_length": int(kv[arch + ".context_length"]),
        "tokenizer_class": "LlamaTokenizer",
    }


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")


def export(gguf_path, out_dir, n_shards, dtype):
    m = Model(gguf_path)
    w = m.hf_tensors()
    ref = os.path.splitext(gguf_path)[0] + ".ref"
    if os.path.exists(ref):
        self_check(m, w, ref)
    os.makedirs(out_dir, exist_ok=True)
    for f in os.listdir(out_dir):  # no stale shards from an earlier export
        if f.endswith(".safetensors") or f == "model.safetensors.index.json":
            os.remove(os.path.join(out_dir, f))
    write_json(os.path.join(out_dir, "config.json"), m.config(dtype))
    write_weights(out_dir, w, dtype, n_shards)
    write_json(os.path.join(out_dir, "tokenizer.json"), tokenizer_json(m.rd))
    write_json(os.path.join(out_dir, "tokenizer_config.json"), tokenizer_config(m.rd, m.arch))
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print("%s -> %s (%d bytes, %s)" % (gguf_path, out_dir, size, "checked against " + ref if os.path.exists(ref) else "no .ref"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf", nargs="?")
    ap.add_argument("out_dir", nargs="?")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32")
    args = ap.parse_args()
    if args.gguf:
        if not args.out_dir:
            ap.error("OUT_DIR is required with a GGUF")
        export(args.gguf, args.out_dir, args.shards, args.dtype)
        return
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    for name, (src, shards, dtype) in FIXTURES.items():
        export(os.path.join(root, "tests", "data", "ref", src), os.path.join(root, "tests", "hf", name), shards, dtype)


if __name__ == "__main__":
    main()
