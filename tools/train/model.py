"""model.py - the llama-architecture transformer A-IO trains and exports.

RMSNorm (eps 1e-5), rotary embeddings in GGUF's llama convention (ADJACENT pairs
(x[2i], x[2i+1]) rotated by pos * base^(-2i/head_dim)), grouped-query attention
(query head h uses kv head h // (n_head/n_kv)), SwiGLU FFN, no biases, tied
embeddings (logits = h @ token_embd^T)."""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab: int = 4096
    dim: int = 192
    n_layers: int = 4
    n_heads: int = 6
    n_kv: int = 2
    ffn: int = 512
    ctx: int = 512
    eps: float = 1e-5
    rope_base: float = 10000.0

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    def to_dict(self):
        return asdict(self)


PRESETS = {
    "small": Config(dim=192, n_layers=4, n_heads=3, n_kv=1, ffn=512),
    "large": Config(dim=384, n_layers=6, n_heads=6, n_kv=2, ffn=1024),
}


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rope_tables(cfg, n):
    hd = cfg.head_dim
    inv = cfg.rope_base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    # x: (B, T, H, hd); rotate adjacent pairs
    x0 = x[..., 0::2].float()
    x1 = x[..., 1::2].float()
    c = cos[None, :, None, :]
    s = sin[None, :, None, :]
    y0 = x0 * c - x1 * s
    y1 = x0 * s + x1 * c
    return torch.stack((y0, y1), dim=-1).flatten(-2).to(x.dtype)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        hd = cfg.head_dim
        self.attn_norm = RMSNorm(cfg.dim, cfg.eps)
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * hd, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv * hd, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv * hd, bias=False)
        self.wo = nn.Linear(cfg.n_heads * hd, cfg.dim, bias=False)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.eps)
        self.w_gate = nn.Linear(cfg.dim, cfg.ffn, bias=False)
        self.w_up = nn.Linear(cfg.dim, cfg.ffn, bias=False)
        self.w_down = nn.Linear(cfg.ffn, cfg.dim, bias=False)

    def forward(self, x, cos, sin, mask):
        cfg = self.cfg
        B, T, _ = x.shape
        hd = cfg.head_dim
        h = self.attn_norm(x)
        q = apply_rope(self.wq(h).view(B, T, cfg.n_heads, hd), cos, sin)
        k = apply_rope(self.wk(h).view(B, T, cfg.n_kv, hd), cos, sin)
        v = self.wv(h).view(B, T, cfg.n_kv, hd)
        rep = cfg.n_heads // cfg.n_kv
        if rep > 1:
            k = k.repeat_interleave(rep, dim=2)
            v = v.repeat_interleave(rep, dim=2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        att = (q * (1.0 / math.sqrt(hd))) @ k.transpose(-1, -2)
        att = torch.softmax(att + mask.to(att.dtype), dim=-1).to(v.dtype)
        o = (att @ v).transpose(1, 2).reshape(B, T, cfg.n_heads * hd)
        x = x + self.wo(o)
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class Transformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.eps)
        cos, sin = rope_tables(cfg, cfg.ctx)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)
        for l in self.layers:
            nn.init.normal_(l.wo.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))
            nn.init.normal_(l.w_down.weight, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def n_params(self):
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx):
        B, T = idx.shape
        x = self.tok_emb(idx)
        mask = torch.full((T, T), float("-inf")).triu(1)
        cos, sin = self.cos[:T], self.sin[:T]
        for l in self.layers:
            x = l(x, cos, sin, mask)
        x = self.norm(x)
        return x @ self.tok_emb.weight.t().to(x.dtype)
